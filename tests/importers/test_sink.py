"""The importers' sink: ImportedRun objects become tracker runs, once, even across crashes.

No source tool is needed: the runs are built here, as a reader would yield them, and read
back with ``tracker.Api`` and the run log itself.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tracker
from tracker._init import read_log
from tracker.importers._model import ImportedFile, ImportedRun
from tracker.importers._sink import MARKER, derived_id, import_runs
from tracker.storage._format import R, read_frames

CREATED = 1_700_000_000.0

# A synthetic source, exec'd here and in the importer subprocess that gets killed.
SOURCE = """
from tracker.importers._model import ImportedRun

CREATED = 1_700_000_000.0

def make_run(n, pause_at=None):
    def rows():
        for i in range(n):
            if i == pause_at:
                print("paused", flush=True)
                sys.stdin.readline()  # blocks until the test kills this process
            yield {"_step": 2 * i, "_timestamp": CREATED + i / 10, "loss": 1.0 / (i + 1), "i": i}
    return ImportedRun(source="synthetic", source_key="run-a", project="imp", id="run-a",
                       created=CREATED, ended=CREATED + n / 10, rows=rows, row_count=n)
"""


def _source() -> Any:
    scope: dict[str, Any] = {"sys": sys}
    exec(SOURCE, scope)
    return scope["make_run"]


def _records(path: Path, kind: int) -> list[Any]:
    return [rec for _off, rec in read_frames(path).records if rec[0] == kind]


def _run_dir(root: Path, project: str, rid: str) -> Path:
    return root / "projects" / project / "runs" / rid


def test_every_field_of_an_imported_run_is_kept(root: Path, tmp_path: Path) -> None:
    saved = tmp_path / "model.txt"
    saved.write_text("weights\n")
    pixels = (np.arange(48, dtype=np.uint8) * 5).reshape(4, 4, 3)
    rows = [
        {"_step": 0, "_timestamp": CREATED + 1, "loss": 0.5, "name": "a", "ok": True},
        {"_step": 5, "_timestamp": CREATED + 2, "loss": 0.25, "nested": {"lr": 0.1}},
        {"_step": 6, "_timestamp": CREATED + 3, "img": tracker.Image(pixels), "bad": object()},
    ]
    run = ImportedRun(
        source="synthetic", source_key="k1", project="imp", id="r1", name="first", group="g",
        job_type="train", tags=["x", "y"], notes="n", config={"lr": 0.1, "opt": {"name": "sgd"}},
        summary={"best": 0.2}, created=CREATED, ended=CREATED + 10, state="failed", exit_code=2,
        rows=lambda: iter(rows),
        system=lambda: iter([{"_timestamp": CREATED + 1.5, "system.cpu": 12.5}]),
        console_timed=lambda: iter([(CREATED + 1.2, 0, "hello"), (CREATED + 1.3, 1, "warn")]),
        files=[ImportedFile("sub/model.txt", saved)], meta={"program": "train.py"},
    )  # fmt: skip
    report = import_runs([run], root)
    assert report.imported == ["imp/r1"]
    assert report.rows == 3
    assert report.files == 1
    assert any("bad" in p and "repr" in p for p in report.problems), report.problems

    api_run = tracker.Api(root).run("imp/r1")
    assert (api_run.name, api_run.group, api_run.job_type, api_run.notes) == ("first", "g", "train", "n")
    assert api_run.tags == ["x", "y"]
    assert api_run.config == {"lr": 0.1, "opt": {"name": "sgd"}}
    assert (api_run.state, api_run.exit_code) == ("failed", 2)
    history = api_run.history(pandas=False)
    assert [h["_step"] for h in history] == [0, 5, 6]
    assert [h["_timestamp"] for h in history] == [CREATED + 1, CREATED + 2, CREATED + 3]
    assert [h["_runtime"] for h in history] == [1.0, 2.0, 3.0]  # from the source's start
    assert (history[0]["loss"], history[0]["name"], history[0]["ok"]) == (0.5, "a", True)
    assert history[1]["nested.lr"] == 0.1
    image = history[2]["img"]
    assert (image["_type"], image["width"], image["height"]) == ("image-file", 4, 4)
    assert (_run_dir(root, "imp", "r1") / image["path"]).is_file()
    assert history[2]["bad"].startswith("<object object")
    assert (api_run.summary["best"], api_run.summary["loss"]) == (0.2, 0.25)

    state = read_log(_run_dir(root, "imp", "r1") / "run.tlog")
    assert state.meta["created"] == CREATED
    assert state.exit == {"state": "failed", "exit_code": 2, "ts": CREATED + 10, "runtime": 10.0}
    assert state.console == [[CREATED + 1.2, 0, "hello"], [CREATED + 1.3, 1, "warn"]]
    assert state.system == [[CREATED + 1.5, {"system.cpu": 12.5}]]
    assert state.capture["program"] == "train.py"
    assert (state.capture["import"]["source"], state.capture["import"]["key"]) == ("synthetic", "k1")
    assert [f["path"] for f in state.files] == ["sub/model.txt"]
    assert (_run_dir(root, "imp", "r1") / "files" / "sub" / "model.txt").read_text() == "weights\n"


def test_reimport_adds_nothing(root: Path) -> None:
    make_run = _source()
    first = import_runs([make_run(300)], root)
    log = _run_dir(root, "imp", "run-a") / "run.tlog"
    before = log.read_bytes()
    again = import_runs([make_run(300)], root)
    assert (again.imported, again.skipped, again.rows) == ([], ["imp/run-a"], 0)
    assert first.rows == 300
    assert log.read_bytes() == before
    assert [p.name for p in (root / "projects" / "imp" / "runs").iterdir()] == ["run-a"]


def _assert_whole(root: Path, n: int) -> None:
    run_dir = _run_dir(root, "imp", "run-a")
    assert len(_records(run_dir / "run.tlog", R.RUN)) == 1
    assert len(_records(run_dir / "run.tlog", R.EXIT)) == 1
    history = tracker.Api(root).run("imp/run-a").history(pandas=False)
    assert [h["i"] for h in history] == list(range(n))
    assert [h["_step"] for h in history] == [2 * i for i in range(n)]
    assert '"complete": true' in (run_dir / MARKER).read_text()


def test_a_crash_in_the_middle_is_redone(root: Path) -> None:
    make_run = _source()
    broken = make_run(6000)
    rows = broken.rows

    def crashing() -> Any:
        for row in rows():
            if row["i"] == 5000:
                raise RuntimeError("reader died")
            yield row

    broken.rows = crashing
    with pytest.raises(RuntimeError, match="reader died"):
        import_runs([broken], root)
    run_dir = _run_dir(root, "imp", "run-a")
    assert '"complete": false' in (run_dir / MARKER).read_text()
    assert len(_records(run_dir / "run.tlog", R.EXIT)) == 0  # half written: rows, no EXIT
    report = import_runs([make_run(6000)], root)
    assert report.imported == ["imp/run-a"]
    _assert_whole(root, 6000)


def test_a_killed_import_resumes(root: Path) -> None:
    script = SOURCE + (
        "\nfrom pathlib import Path\nfrom tracker.importers._sink import import_runs\n"
        f"import_runs([make_run(20000, pause_at=12000)], Path({str(root)!r}))\n"
    )
    with subprocess.Popen(
        [sys.executable, "-c", "import sys\n" + script],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env={**os.environ, "TRACKER_STRICT": "1"},
    ) as proc:  # fmt: skip
        assert proc.stdout is not None
        assert proc.stdout.readline() == "paused\n"  # 12000 rows handed to the writer, 8000 to go
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    log = _run_dir(root, "imp", "run-a") / "run.tlog"
    written = sum(len(rec[2]) for rec in _records(log, R.HISTORY))
    assert 0 < written < 20000
    report = import_runs([_source()(20000)], root)
    assert report.imported == ["imp/run-a"]
    _assert_whole(root, 20000)


def test_an_id_taken_by_another_run_gets_the_derived_id(root: Path) -> None:
    with tracker.init(project="imp", id="run-a") as own:
        own.log({"mine": 1})
    run = _source()(10)
    report = import_runs([run], root)
    rid = derived_id(run)
    assert report.imported == [f"imp/{rid}"]
    assert any("'run-a' is taken" in p for p in report.problems)
    api = tracker.Api(root)
    assert [h["mine"] for h in api.run("imp/run-a").history(pandas=False)] == [1]
    assert len(api.run(f"imp/{rid}").history(pandas=False)) == 10
    assert import_runs([_source()(10)], root).skipped == [f"imp/{rid}"]


def test_project_override_and_running_source(root: Path) -> None:
    run = _source()(3)
    run.state = "running"
    run.ended = None
    report = import_runs([run], root, project="elsewhere")
    assert report.imported == ["elsewhere/run-a"]
    assert any("imported as crashed" in p for p in report.problems)
    api_run = tracker.Api(root).run("elsewhere/run-a")
    assert api_run.state == "crashed"


def test_cli_without_the_extra_says_what_to_install(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from unittest.mock import patch

    from tracker.cli import main

    with patch.dict(sys.modules, {"wandb": None}):
        code = main(["import", "wandb", str(tmp_path), "--root", str(root)])
    err = capsys.readouterr().err
    assert code == 1
    assert "pip install 'tracker[import]'" in err
    assert "Traceback" not in err
