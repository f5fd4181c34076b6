"""Artifacts end to end (SPEC §2): log, version, use, link, fetch, download, verify, lineage."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

import tracker
from tracker.artifacts import _store
from tracker.errors import StorageError, UsageError


def _write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        path.write_text(data)
    else:
        path.write_bytes(data)
    return path


@pytest.fixture
def dataset_dir(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    _write(d / "train.csv", "x,y\n1,2\n")
    _write(d / "nested" / "test.csv", "x,y\n3,4\n")
    return d


def test_the_spec_flow_end_to_end(tmp_path: Path, dataset_dir: Path) -> None:
    # 1. a dataset is logged by a preprocessing run
    with tracker.init(project="flow", job_type="preprocess") as prep:
        ds = tracker.Artifact("mnist", type="dataset", description="raw digits", metadata={"rows": 2})
        ds.add_dir(dataset_dir)
        with ds.new_file("labels.json") as fh:
            fh.write('{"cat": 0}')
        logged = prep.log_artifact(ds, aliases=["raw"])
        assert logged is ds
        assert ds.wait() is ds
        assert ds.version == "v0"
        assert ds.name == "mnist:v0"
        assert ds.aliases == ["latest", "raw"]
        assert [e.path for e in ds.files()] == ["labels.json", "nested/test.csv", "train.csv"]
    # 2. a training run uses it, logs a model with aliases and links it to the registry
    with tracker.init(project="flow", job_type="train") as train:
        used = train.use_artifact("mnist:raw")
        assert (used.qualified_name, used.type, used.metadata, used.description) == (
            "flow/mnist:v0", "dataset", {"rows": 2}, "raw digits",
        )  # fmt: skip
        data_root = Path(used.download(tmp_path / "dl"))
        assert (data_root / "nested" / "test.csv").read_text() == "x,y\n3,4\n"
        model = tracker.Artifact("classifier", type="model")
        with model.new_file("weights.bin", mode="wb") as fh:
            fh.write(b"\x01\x02\x03")
        train.log_artifact(model, aliases=["best"])
        train.link_artifact(model, "model-registry/digits", aliases=["production"])
        assert model.wait().version == "v0"
    # 3. the registry version is fetched by alias, downloaded and verified
    api = tracker.Api()
    prod = api.artifact("model-registry/digits:production")
    assert (prod.version, prod.type, prod.aliases) == ("v0", "model", ["latest", "production"])
    assert prod.digest == model.digest
    out = Path(prod.download(tmp_path / "prod"))
    assert (out / "weights.bin").read_bytes() == b"\x01\x02\x03"
    prod.verify(out)
    prod.verify()
    # 4. lineage both ways
    fetched = api.artifact("flow/mnist:latest")
    logged_by = fetched.logged_by()
    assert logged_by is not None
    assert logged_by.id == prep.id
    assert [r.id for r in fetched.used_by()] == [train.id]
    api_train = api.run(f"flow/{train.id}")
    assert [a.qualified_name for a in api_train.used_artifacts()] == ["flow/mnist:v0"]
    assert [a.qualified_name for a in api_train.logged_artifacts()] == ["flow/classifier:v0"]
    assert [a.qualified_name for a in api.run(f"flow/{prep.id}").logged_artifacts()] == ["flow/mnist:v0"]
    registry_by = prod.logged_by()
    assert registry_by is not None
    assert registry_by.id == train.id


def test_versions_latest_aliases_and_dedup_of_unchanged(tmp_path: Path) -> None:
    f = _write(tmp_path / "w.bin", b"one")
    with tracker.init(project="v") as run:
        a0 = tracker.Artifact("m", "model")
        a0.add_file(f)
        run.log_artifact(a0, aliases=["best"]).wait()
        _write(f, b"two")  # after wait(): the file may change
        a1 = tracker.Artifact("m", "model")
        a1.add_file(f)
        run.log_artifact(a1).wait()
        same = tracker.Artifact("m", "model")
        same.add_file(f)
        run.log_artifact(same, aliases=["best"]).wait()  # unchanged: no new version, alias moves
    assert (a0.version, a1.version, same.version) == ("v0", "v1", "v1")
    api = tracker.Api()
    versions = api.artifact_versions("model", "v/m")
    assert [(v.version, v.aliases) for v in versions] == [("v0", []), ("v1", ["best", "latest"])]
    assert api.artifact("v/m:v0").get_path("w.bin").download(tmp_path / "old") == str(
        tmp_path / "old" / "w.bin"
    )
    assert (tmp_path / "old" / "w.bin").read_bytes() == b"one"
    assert api.artifact_versions("dataset", "v/m") == []
    with tracker.init(project="v") as run:
        assert run.use_artifact("m:v0").digest == a0.digest
        assert run.use_artifact("m:latest").version == "v1"
        assert run.use_artifact("v/m:best").version == "v1"
        with pytest.raises(StorageError, match="no artifact v/m:v7"):
            run.use_artifact("m:v7")
        with pytest.raises(UsageError, match="type 'model', not 'dataset'"):
            run.use_artifact("m:latest", type="dataset")


def test_use_latest_sees_the_runs_own_pending_version(tmp_path: Path) -> None:
    with tracker.init(project="own") as run:
        art = tracker.Artifact("d", "dataset")
        art.add_file(_write(tmp_path / "a", "a"))
        run.log_artifact(art)
        assert run.use_artifact("d:latest").version == "v0"


def test_log_artifact_returns_before_hashing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()
    entered = threading.Event()
    seen_threads: list[str] = []
    real = _store.BlobStore.put_file

    def gated(self: _store.BlobStore, src: Path) -> tuple[str, int, bool]:
        seen_threads.append(threading.current_thread().name)
        entered.set()
        release.wait()
        return real(self, src)

    monkeypatch.setattr(_store.BlobStore, "put_file", gated)
    run = tracker.init(project="async")
    art = tracker.Artifact("big", "dataset")
    art.add_file(_write(tmp_path / "big.bin", b"z" * 1000))
    run.log_artifact(art)
    assert art.state == "PENDING"
    assert art.version is None
    assert entered.wait(10)
    assert seen_threads == [f"tracker-artifacts-{run.id}"]
    release.set()
    assert art.wait(10).version == "v0"
    run.finish()
    assert not [t for t in threading.enumerate() if t.name.startswith("tracker-artifacts")]


def test_finish_waits_for_pending_artifacts(tmp_path: Path) -> None:
    run = tracker.init(project="fin")
    art = tracker.Artifact("d", "dataset")
    art.add_file(_write(tmp_path / "a.txt", "abc"))
    run.log_artifact(art)
    run.finish()
    assert art.state == "COMMITTED"
    assert tracker.Api().artifact("fin/d:latest").version == "v0"


def test_module_level_functions(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"before tracker\.init"):
        tracker.log_artifact(tracker.Artifact("x", "dataset"))
    tracker.init(project="facade")
    f = _write(tmp_path / "ckpt.pt", b"w")
    art = tracker.log_artifact(f, type="model", aliases=["best"])  # a path makes an artifact
    assert art.wait().qualified_name == "facade/ckpt.pt:v0"
    assert tracker.use_artifact("ckpt.pt:best").version == "v0"
    tracker.link_artifact(art, "model-registry/ckpts")
    tracker.finish()
    assert tracker.Api().artifact("model-registry/ckpts:latest").digest == art.digest


def test_disabled_mode_is_a_no_op(tmp_path: Path, root: Path) -> None:
    run = tracker.init(project="off", mode="disabled")
    art = tracker.Artifact("d", "dataset")
    art.add_file(_write(tmp_path / "a", "a"))
    assert run.log_artifact(art, aliases=["x"]) is art
    assert art.state == "DRAFT"
    assert run.link_artifact(art, "model-registry/c") is art
    assert run.use_artifact(art) is art
    assert run.use_artifact("other:latest").source_name == "other"
    run.finish()
    assert not (root / "artifacts").exists()


def test_registry_has_its_own_numbers_and_movable_aliases(tmp_path: Path) -> None:
    with tracker.init(project="reg") as run:
        for content in (b"1", b"2", b"3"):
            f = _write(tmp_path / content.decode() / "m.bin", content)
            art = tracker.Artifact("net", "model")
            art.add_file(f)
            run.log_artifact(art)
            if content != b"2":  # only v0 and v2 are promoted
                run.link_artifact(art, "model-registry/prod-net", aliases=["production"])
        other = tracker.Artifact("other", "model")
        other.add_file(_write(tmp_path / "o.bin", b"o"))
        run.link_artifact(other, "model-registry/prod-net", aliases=["staging"])
    api = tracker.Api()
    coll = api.artifact_versions("model", "model-registry/prod-net")
    assert [(a.version, a.aliases) for a in coll] == [
        ("v0", []),
        ("v1", ["production"]),
        ("v2", ["latest", "staging"]),
    ]
    assert api.artifact("model-registry/prod-net:production").digest == api.artifact("reg/net:v2").digest
    assert api.artifact("reg/net:latest").version == "v2"


def test_references_file_http_and_s3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import http.server

    from tracker.artifacts import _refs

    served = _write(tmp_path / "www" / "blob.txt", "served content")
    ref_file = _write(tmp_path / "ref.txt", "by reference")

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):  # type: ignore[no-untyped-def]
            super().__init__(*a, directory=str(served.parent), **kw)

        def end_headers(self) -> None:
            self.send_header("ETag", '"v1-etag"')
            super().end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    class FakeS3:
        def info(self, uri: str) -> dict[str, object]:
            if "missing" in uri:
                raise FileNotFoundError(uri)
            return {"size": 42, "ETag": '"s3-etag"'}

    monkeypatch.setattr(_refs, "s3_filesystem", FakeS3)
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/blob.txt"
        with tracker.init(project="refs") as run:
            art = tracker.Artifact("remote", "dataset")
            art.add_reference(ref_file.as_uri())
            art.add_reference(url, name="web.txt")
            art.add_reference("s3://bucket/key/data.parquet")
            art.add_reference("s3://bucket/missing.bin")
            run.log_artifact(art).wait()
        entries = {e.path: e for e in tracker.Api().artifact("refs/remote:v0").files()}
        assert entries["ref.txt"].ref == ref_file.as_uri()
        assert entries["ref.txt"].size == len("by reference")
        assert entries["ref.txt"].digest == _store.hash_file(ref_file)[0]
        assert (entries["web.txt"].size, entries["web.txt"].etag) == (len("served content"), "v1-etag")
        assert (entries["data.parquet"].size, entries["data.parquet"].etag) == (42, "s3-etag")
        assert (entries["missing.bin"].size, entries["missing.bin"].etag) == (None, None)
        # references are never copied into the blob store
        assert not (tracker.Api().root / "artifacts" / "blobs").exists()
        art = tracker.Api().artifact("refs/remote:v0")
        out = Path(art.download(tmp_path / "dl", path_prefix="ref"))
        assert (out / "ref.txt").read_text() == "by reference"
        web = Path(art.get_path("web.txt").download(tmp_path / "dl"))
        assert web.read_text() == "served content"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_download_skips_files_already_present(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with tracker.init(project="dl") as run:
        art = tracker.Artifact("d", "dataset")
        art.add_file(_write(tmp_path / "a.txt", "aaa"))
        art.add_file(_write(tmp_path / "b.txt", "bbb"))
        run.log_artifact(art).wait()
    art = tracker.Api().artifact("dl/d:latest")
    target = tmp_path / "out"
    art.download(target)
    _write(target / "b.txt", "locally changed")
    copied: list[str] = []
    real = _store.BlobStore.copy_out

    def spy(self: _store.BlobStore, digest: str, dest: Path, name: str) -> None:
        copied.append(name)
        real(self, digest, dest, name)

    monkeypatch.setattr(_store.BlobStore, "copy_out", spy)
    art.download(target)
    assert copied == ["b.txt"]  # a.txt had the same digest: skipped
    assert (target / "b.txt").read_text() == "bbb"
    art.verify(target)
    _write(target / "a.txt", "tampered")
    with pytest.raises(StorageError, match=r"'a\.txt' is corrupted"):
        art.verify(target)


def test_draft_api_and_immutability(tmp_path: Path) -> None:
    art = tracker.Artifact("d", "dataset")
    entry = art.add_file(_write(tmp_path / "a.txt", "abc"), name="x/a.txt")
    assert (entry.path, entry.size, entry.digest) == ("x/a.txt", 3, None)
    assert art.get_path("x/a.txt").local_path == str(tmp_path / "a.txt")
    assert art.is_draft()
    with pytest.raises(UsageError, match="already has an entry"):
        art.add_file(tmp_path / "a.txt", name="x/a.txt")
    with pytest.raises(UsageError, match="not a file"):
        art.add_file(tmp_path / "nope")
    with pytest.raises(UsageError, match="file://, s3://"):
        art.add_reference("ftp://host/x")
    with pytest.raises(UsageError, match="was not logged"):
        art.wait()
    with tracker.init(project="imm") as run:
        run.log_artifact(art).wait()
    with pytest.raises(UsageError, match="immutable"):
        art.add_file(tmp_path / "a.txt", name="other")
    with pytest.raises(KeyError):
        art.get_path("missing")


def test_a_file_changed_before_it_was_stored_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACKER_STRICT", "0")
    release = threading.Event()
    real = _store.BlobStore.put_file

    def gated(self: _store.BlobStore, src: Path) -> tuple[str, int, bool]:
        release.wait()
        return real(self, src)

    monkeypatch.setattr(_store.BlobStore, "put_file", gated)
    f = _write(tmp_path / "ckpt.bin", b"first")
    run = tracker.init(project="chg")
    art = tracker.Artifact("m", "model")
    art.add_file(f)
    run.log_artifact(art)
    _write(f, b"second, longer")
    release.set()
    with pytest.raises(StorageError, match="changed after add_file"):
        art.wait()
    with pytest.warns(tracker.TrackerWarning, match="changed after add_file"):
        run.finish()
