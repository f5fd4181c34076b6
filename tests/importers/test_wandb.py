"""``tracker import wandb`` against run folders written by the real wandb package.

``fixtures/wandb/`` was made by ``make_wandb.py`` (its docstring has the command): a numpy
regression run written offline (image, table, histogram, two artifacts, a saved file,
console output, system metrics) and a second run in a synced-style ``run-*`` folder that
exits with code 3. ``expected.json`` is what the script logged; every imported value,
step and file is compared with it.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any
from unittest.mock import patch

import numpy as np
import pytest

if os.environ.get("TRACKER_IMPORT_TESTS") == "1":
    import wandb  # noqa: F401 - the import venv of CI: a missing extra is a failure there
else:
    pytest.importorskip("wandb", reason="the [import] extra is not installed")

import tracker
from tracker._init import read_log
from tracker.cli import main
from tracker.errors import MissingExtraError
from tracker.importers import _wandb
from tracker.storage._format import R, read_frames

FIXTURES = Path(__file__).parent / "fixtures" / "wandb"
EXPECTED: dict[str, Any] = json.loads((FIXTURES / "expected.json").read_text())
REGRESSION = EXPECTED["runs"]["regression"]
EVAL = EXPECTED["runs"]["eval"]


def _import(root: Path, *paths: Path, extra: tuple[str, ...] = ()) -> tuple[int, str]:
    out = io.StringIO()
    with patch.object(sys, "stdout", out):
        code = main(["import", "wandb", *map(str, paths), "--root", str(root), *extra])
    return code, out.getvalue()


@pytest.fixture
def source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the fixture's wandb/ folder; artifact files in its W&B data folder."""
    monkeypatch.setenv("WANDB_DATA_DIR", str(FIXTURES / "data"))
    dest = tmp_path / "project"
    shutil.copytree(FIXTURES / "wandb", dest / "wandb")
    return dest


def _run_dir(root: Path, run_id: str, project: str = "wb-import") -> Path:
    return root / "projects" / project / "runs" / run_id


def _stream(folder: Path) -> tuple[dict[int, float], list[list[Any]]]:
    """What the run's .wandb file holds, read independently with wandb's reader, item by item:
    each row's ``_timestamp`` by ``_step``, and the system samples as tracker stores them."""
    from wandb.proto.wandb_internal_pb2 import Record
    from wandb.sdk.internal.datastore import DataStore

    (log,) = folder.glob("run-*.wandb")
    ds = DataStore()
    ds.open_for_scan(str(log))
    stamps: dict[int, float] = {}
    samples: list[list[Any]] = []
    while (data := ds.scan_data()) is not None:
        rec = Record()
        rec.ParseFromString(data)
        if rec.WhichOneof("record_type") == "history":
            row = {"/".join(i.nested_key) or i.key: json.loads(i.value_json) for i in rec.history.item}
            stamps[row["_step"]] = row["_timestamp"]
        elif rec.WhichOneof("record_type") == "stats":
            ts = rec.stats.timestamp.seconds + rec.stats.timestamp.nanos / 1e9
            samples.append([ts, {f"system.{i.key}": json.loads(i.value_json) for i in rec.stats.item}])
    ds.close()
    return stamps, samples


def test_offline_run_every_value_step_and_file(root: Path, source: Path) -> None:
    code, out = _import(root, source)
    assert code == 0, out
    assert out.startswith("imported 2 run(s), 41 row(s), 3 file(s), 2 artifact version(s)"), out
    run = tracker.Api(root).run(f"wb-import/{REGRESSION['id']}")
    assert (run.name, run.group, run.job_type, run.notes) == (
        "regression",
        "sweep-a",
        "train",
        "tiny linear regression",
    )
    assert run.tags == ["baseline", "numpy"]
    assert run.config == REGRESSION["config"]
    assert (run.state, run.exit_code) == ("finished", 0)

    history = run.history(pandas=False)
    assert [h["_step"] for h in history] == [r["_step"] for r in REGRESSION["rows"]]
    state = read_log(_run_dir(root, REGRESSION["id"]) / "run.tlog")
    created = state.meta["created"]
    stamps = [h["_timestamp"] for h in history]
    assert stamps == sorted(stamps)
    assert created < stamps[0] <= stamps[-1] <= state.exit["ts"]
    folder = next((source / "wandb").glob(f"offline-run-*-{REGRESSION['id']}"))
    recorded, samples = _stream(folder)
    assert {h["_step"]: h["_timestamp"] for h in history} == recorded
    assert state.system == samples  # every system sample, its time and values
    assert all(h["_runtime"] == pytest.approx(h["_timestamp"] - created) for h in history)
    for got, want in zip(history[:-1], REGRESSION["rows"][:-1], strict=True):
        assert {k: got[k] for k in want} == want  # exact floats: W&B's JSON round-trips them
    media, want = history[-1], REGRESSION["rows"][-1]
    from PIL import Image

    image = media["sample"]
    assert (image["_type"], image["caption"]) == ("image-file", "noise")
    with Image.open(_run_dir(root, REGRESSION["id"]) / image["path"]) as png:
        assert np.asarray(png).tolist() == want["sample"]["pixels"]
    table = media["preds"]
    stored = json.loads((_run_dir(root, REGRESSION["id"]) / table["path"]).read_text())
    assert stored["columns"] == want["preds"]["columns"]
    assert stored["data"] == want["preds"]["data"]
    assert media["weights"]["values"] == want["weights"]["values"]
    assert media["weights"]["bins"] == want["weights"]["bins"]

    assert run.summary["best_loss"] == REGRESSION["summary"]["best_loss"]
    assert run.summary["train/loss"] == REGRESSION["rows"][-2]["train/loss"]
    assert run.summary["_step"] == 30

    stdout = [text for _ts, stream, text in state.console if stream == 0]
    assert stdout == REGRESSION["console"]
    assert any("system.cpu" in sample for _ts, sample in state.system)
    assert state.capture["import"]["key"].startswith("offline-run-")
    assert state.capture["python"].startswith("CPython")

    files = _run_dir(root, REGRESSION["id"]) / "files"
    for name, content in REGRESSION["files"].items():
        assert (files / name).read_text() == content
    assert (files / "requirements.txt").is_file()

    logged = {a.name.split(":")[0]: a for a in run.logged_artifacts()}
    assert sorted(logged) == sorted(REGRESSION["artifacts"])
    for name, spec in REGRESSION["artifacts"].items():
        art = logged[name]
        assert art.type == spec["type"]
        assert sorted(e.path for e in art.files()) == spec["files"]
        assert set(spec["aliases"]) <= set(art.aliases)
        where = Path(art.download(root=str(root.parent / "dl" / name)))
        for file, content in spec.get("content", {}).items():
            assert (where / file).read_text() == content


def test_synced_run_folder(root: Path, source: Path) -> None:
    synced = next((source / "wandb").glob("run-*"))
    code, out = _import(root, synced)
    assert code == 0, out
    run = tracker.Api(root).run(f"wb-import/{EVAL['id']}")
    assert (run.name, run.job_type, run.config) == ("eval", "eval", EVAL["config"])
    assert (run.state, run.exit_code) == ("failed", EVAL["exit_code"])
    history = run.history(pandas=False)
    assert [{k: h[k] for k in ("_step", "eval/acc")} for h in history] == EVAL["rows"]


def test_reimport_adds_nothing(root: Path, source: Path) -> None:
    assert _import(root, source)[0] == 0
    logs = sorted(root.glob("projects/*/runs/*/run.tlog"))
    before = [p.read_bytes() for p in logs]
    code, out = _import(root, source / "wandb")
    assert code == 0
    assert out.startswith(
        "imported 0 run(s), 0 row(s), 0 file(s), 0 artifact version(s); 2 already imported"
    ), out
    assert sorted(root.glob("projects/*/runs/*/run.tlog")) == logs
    assert [p.read_bytes() for p in logs] == before


def test_project_option_and_missing_artifact_files(
    root: Path, source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WANDB_DATA_DIR", str(tmp_path / "empty"))
    code, out = _import(root, source, extra=("--project", "moved"))
    assert code == 0, out
    assert "0 artifact version(s)" in out
    assert f"moved/{REGRESSION['id']}: artifact points: file points.npy: its staged copy" in out
    assert "set WANDB_DATA_DIR" in out
    assert {r.id for r in tracker.Api(root).runs("moved")} == {REGRESSION["id"], EVAL["id"]}
    log = _run_dir(root, REGRESSION["id"], "moved") / "run.tlog"
    assert not [rec for _off, rec in read_frames(log).records if rec[0] == R.ARTIFACT]


def test_not_a_run_folder(root: Path, tmp_path: Path) -> None:
    code = main(["import", "wandb", str(tmp_path), "--root", str(root)])
    assert code == 1


@pytest.mark.parametrize(
    ("hidden", "said"),
    [("wandb", "wandb is not installed"), ("wandb.sdk.internal.datastore", "no longer ships")],
)
def test_missing_extra_says_what_to_install(source: Path, hidden: str, said: str) -> None:
    with patch.dict(sys.modules, {hidden: None}), pytest.raises(MissingExtraError) as err:
        next(_wandb.read([source]))
    assert said in str(err.value)
    assert "pip install 'tracker[import]'" in str(err.value)


def test_an_interrupted_import_is_completed_by_running_it_again(root: Path, source: Path) -> None:
    from tracker.importers import _sink

    def interrupted(*args: Any) -> None:
        raise KeyboardInterrupt  # Ctrl-C after the rows, before the artifacts and the EXIT

    with patch.object(_sink, "_artifacts", interrupted):
        assert _import(root, source)[0] == 130
    log = _run_dir(root, REGRESSION["id"]) / "run.tlog"
    assert not [rec for _off, rec in read_frames(log).records if rec[0] == R.EXIT]
    code, out = _import(root, source)
    assert code == 0, out
    assert out.startswith("imported 2 run(s), 41 row(s), 3 file(s), 2 artifact version(s); 0 already"), out
    records = [rec[0] for _off, rec in read_frames(log).records]
    assert (records.count(R.RUN), records.count(R.EXIT), records.count(R.ARTIFACT)) == (1, 1, 2)
    history = tracker.Api(root).run(f"wb-import/{REGRESSION['id']}").history(pandas=False)
    assert [h["_step"] for h in history] == [r["_step"] for r in REGRESSION["rows"]]


def test_an_unreadable_run_folder_does_not_stop_the_others(root: Path, source: Path) -> None:
    broken = source / "wandb" / "offline-run-20260101_000000-broken1"
    broken.mkdir()
    (broken / "run-broken1.wandb").write_bytes(b"not a W&B log at all")
    code, out = _import(root, source)
    assert code == 1
    assert out.startswith("imported 2 run(s), 41 row(s)"), out
    assert "1 failed" in out
    assert "run-broken1.wandb: not a W&B run log" in out


def test_a_torn_log_imports_what_was_written(root: Path, source: Path) -> None:
    """An offline run killed mid-write: the rows before the tear, and the run is crashed."""
    folder = next((source / "wandb").glob(f"offline-run-*-{REGRESSION['id']}"))
    (log,) = folder.glob("run-*.wandb")
    data = log.read_bytes()
    log.write_bytes(data[: len(data) // 2])
    code, out = _import(root, folder)
    assert code == 0, out
    assert "read stopped after" in out
    assert "imported as crashed" in out
    run = tracker.Api(root).run(f"wb-import/{REGRESSION['id']}")
    history = run.history(pandas=False)
    assert 0 < len(history) < len(REGRESSION["rows"])
    for got, want in zip(history, REGRESSION["rows"], strict=False):
        assert {k: got[k] for k in want} == want
    assert run.state == "crashed"
