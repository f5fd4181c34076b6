"""The blob store: dedup, bounded memory, corruption, path safety, concurrent writers, CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import tracker
from tracker.artifacts._names import check_entry, parse_ref
from tracker.artifacts._store import BlobStore
from tracker.cli import main
from tracker.errors import StorageError, UsageError


def _blobs(root: Path) -> list[Path]:
    base = root / "artifacts" / "blobs"
    return sorted(p for p in base.rglob("*") if p.is_file()) if base.exists() else []


def test_a_100mb_file_is_stored_once(tmp_path: Path, root: Path) -> None:
    big = tmp_path / "big.bin"
    with open(big, "wb") as fh:
        for i in range(100):
            fh.write(bytes([i]) * (1 << 20))
    small = tmp_path / "small.txt"
    with tracker.init(project="p1") as run:
        for n in range(2):  # two versions of one artifact, both holding the big file
            small.write_text(f"version {n}")
            art = tracker.Artifact("ds", "dataset")
            art.add_file(big)
            art.add_file(small, name=f"small-{n}.txt")
            run.log_artifact(art).wait()
    with tracker.init(project="p2") as run:  # another artifact in another project
        other = tracker.Artifact("copy", "dataset")
        other.add_file(big, name="renamed.bin")
        run.log_artifact(other).wait()
    blobs = _blobs(root)
    assert len(blobs) == 3  # big once, small twice
    assert sum(p.stat().st_size for p in blobs) == (100 << 20) + 2 * len("version 0")
    assert [tracker.Api().artifact(r).version for r in ("p1/ds:latest", "p2/copy:latest")] == ["v1", "v0"]


def test_add_file_of_a_large_file_runs_in_bounded_memory(tmp_path: Path, root: Path) -> None:
    # The benchmark (benchmarks/bench_artifacts.py) uses 1 GB; 256 MB keeps the suite fast.
    big = tmp_path / "sparse.bin"
    with open(big, "wb") as fh:
        fh.truncate(256 << 20)
    script = textwrap.dedent(
        f"""
        import resource, tracker
        run = tracker.init(project="rss")
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        art = tracker.Artifact("big", "dataset")
        art.add_file({str(big)!r})
        run.log_artifact(art).wait()
        run.finish()
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print((after - before) // 1024)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, env=os.environ
    )
    extra_mb = int(out.stdout.strip().splitlines()[-1])
    assert extra_mb < 100, out.stdout
    assert sum(p.stat().st_size for p in _blobs(root)) == 256 << 20


def test_a_corrupted_blob_is_caught_with_the_file_named(tmp_path: Path, root: Path) -> None:
    (tmp_path / "weights.bin").write_bytes(b"good weights")
    (tmp_path / "config.json").write_text("{}")
    with tracker.init(project="c") as run:
        art = tracker.Artifact("m", "model")
        art.add_file(tmp_path / "weights.bin")
        art.add_file(tmp_path / "config.json")
        run.log_artifact(art).wait()
    art = tracker.Api().artifact("c/m:latest")
    art.verify()
    blob = BlobStore(root).blob_path(art.get_path("weights.bin").digest or "")
    blob.write_bytes(b"bad weights!")
    with pytest.raises(StorageError, match=r"'weights\.bin' is corrupted") as exc:
        art.verify()
    assert exc.value.path == str(blob)
    with pytest.raises(StorageError, match=r"'weights\.bin'.*corrupted"):
        art.download(tmp_path / "out")
    assert not (tmp_path / "out" / "weights.bin").exists()


@pytest.mark.parametrize("bad", ["../x", "a/../../x", "/etc/passwd", "a\x00b", "a\\b", "C:/x", "..", "."])
def test_unsafe_entry_names_are_rejected(tmp_path: Path, bad: str) -> None:
    f = tmp_path / "f"
    f.write_text("x")
    art = tracker.Artifact("d", "dataset")
    with pytest.raises(UsageError, match="not a safe relative path"):
        art.add_file(f, name=bad)
    with pytest.raises(UsageError, match="not a safe relative path"), art.new_file(bad):
        pass
    with pytest.raises(UsageError):
        check_entry(bad)


@pytest.mark.parametrize("bad", ["../d", "a/b", "", "x" * 200, "a..b", "a:b", "-x"])
def test_unsafe_artifact_names_and_aliases_are_rejected(bad: str) -> None:
    with pytest.raises(UsageError, match="is not valid"):
        tracker.Artifact(bad, "dataset")
    if "/" not in bad:  # "a/b" is project "a", artifact "b"
        with pytest.raises(UsageError):
            parse_ref(f"{bad}:v0" if bad else ":v0")


def test_bad_aliases_and_refs(tmp_path: Path) -> None:
    with tracker.init(project="a") as run:
        art = tracker.Artifact("d", "dataset")
        with pytest.raises(UsageError, match="alias 'v3' is not valid"):
            run.log_artifact(art, aliases=["v3"])
        with pytest.raises(UsageError, match=r"alias '\.\./x' is not valid"):
            run.use_artifact("d:../x")
        with pytest.raises(UsageError, match="model-registry/<collection>"):
            run.link_artifact(art, "registry/x")
    assert parse_ref("ent/proj/name:best") == ("proj", "name", "best")
    assert parse_ref("name") == (None, "name", "latest")


def test_a_malicious_manifest_never_writes_outside_the_root(tmp_path: Path, root: Path) -> None:
    from tracker.storage._sqlite_state import SQLiteStateStore

    store = BlobStore(root)
    (tmp_path / "payload").write_text("evil")
    digest, size, _ = store.put_file(tmp_path / "payload")
    manifest = store.write_manifest({"../../escaped.txt": {"digest": digest, "size": size}})
    state = SQLiteStateStore.for_root(root)
    state.add_artifact_version("m", "evil", "dataset", manifest, aliases=["latest"])
    state.close()
    target = tmp_path / "deep" / "dl"
    with pytest.raises(UsageError, match="not a safe relative path"):
        tracker.Api().artifact("m/evil:latest").download(target)
    assert not (tmp_path / "escaped.txt").exists()
    assert not (tmp_path / "deep" / "escaped.txt").exists()


_CHILD = """
import sys, tracker
run = tracker.init(project="race")
path = sys.argv[1]
open(path, "w").write(path)
art = tracker.Artifact("shared", "dataset")
art.add_file(path, name="data.txt")
print("ready", flush=True)
sys.stdin.readline()  # both children are ready: go at the same moment
run.log_artifact(art).wait()
run.finish()
print(art.version, art.digest, flush=True)
"""


def test_two_processes_logging_at_once_get_distinct_versions(tmp_path: Path) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(tmp_path / f"child{i}.txt")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=os.environ,
        )
        for i in range(2)
    ]
    results = []
    try:
        for p in procs:
            assert p.stdout is not None
            assert p.stdout.readline().strip() == "ready"
        for p in procs:
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        for p in procs:
            out, _ = p.communicate(timeout=60)
            assert p.returncode == 0
            results.append(out.split())
    finally:
        # Never leave a child or its pipes behind for a later test's garbage collection.
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.communicate()
    assert sorted(r[0] for r in results) == ["v0", "v1"]
    api = tracker.Api()
    for version, digest in results:
        art = api.artifact(f"race/shared:{version}")
        assert art.digest == digest
        art.verify()
        out_dir = Path(art.download(tmp_path / version))
        # each version's manifest holds that process's own file
        assert (
            (out_dir / "data.txt").read_text().endswith(f"child{'01'[results.index([version, digest])]}.txt")
        )
    assert api.artifact("race/shared:latest").version == "v1"


def test_cli_put_get_ls(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("a")
    assert main(["artifact", "put", str(src), "--name", "ds", "--type", "dataset", "--project", "cli",
                 "--alias", "gold"]) == 0  # fmt: skip
    assert capsys.readouterr().out.startswith("cli/ds:v0 sha256:")
    assert main(["artifact", "put", str(src), "--name", "ds", "--type", "dataset", "--project", "cli"]) == 0
    assert capsys.readouterr().out.startswith("cli/ds:v0 ")  # unchanged: same version
    dest = tmp_path / "dest"
    assert main(["artifact", "get", "cli/ds:gold", "--dir", str(dest)]) == 0
    assert capsys.readouterr().out.strip() == str(dest)
    assert (dest / "a.txt").read_text() == "a"
    assert main(["artifact", "ls", "cli", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["name"], r["version"], r["aliases"], r["size"]) for r in rows] == [
        ("ds", "v0", ["gold", "latest"], 1)
    ]
    assert main(["artifact", "get", "cli/nope:latest"]) == 1
    assert "no artifact cli/nope:latest" in capsys.readouterr().err
    assert main(["artifact", "put", str(tmp_path / "missing"), "--name", "x", "--type", "t"]) == 2
