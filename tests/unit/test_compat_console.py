"""Issue 19 point 12: ``init`` and ``finish`` print where the run went and a few summary
values (W&B's ``wandb:`` lines), off with ``silent``/``quiet``; and every run records at
least one system-metrics sample, however short it is.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import tracker
from tracker.storage._format import R, read_frames

QUIET = {"disable_git": True, "stats_interval": 0, "capture_packages": False}


@pytest.fixture
def loud(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRACKER_SILENT")


@pytest.mark.usefixtures("loud")
def test_init_and_finish_lines(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tracker.init(project="p", id="r1", name="nice", settings=QUIET)
    for step in range(3):
        run.log({"loss": 1.0 / (step + 1), "acc": 0.5})
    run.finish()
    out, err = capsys.readouterr()
    assert out == ""
    run_dir = root / "projects/p/runs/r1"
    assert err.splitlines() == [
        f"tracker: run nice (r1) is saved locally in {run_dir}",
        f"tracker: view it with: tracker ui --root {root}",
        f"tracker: offline run; upload it to a team server with: tracker sync {run_dir}",
        "tracker: run nice (r1) finished after 3 steps; summary: acc=0.5, loss=0.3333",
    ]


@pytest.mark.usefixtures("loud")
def test_a_live_dashboard_is_named_without_its_token(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tracker._ui_link import write_ui_file

    write_ui_file(root, "http://127.0.0.1:9999", "secret-token")
    tracker.init(project="my proj", id="r1", settings=QUIET).finish(quiet=True)
    err = capsys.readouterr().err
    assert "tracker: view it at http://127.0.0.1:9999/projects/my%20proj/runs/r1\n" in err
    assert "secret-token" not in err
    assert "finished" not in err  # finish(quiet=True)


@pytest.mark.parametrize(
    ("env", "settings"),
    [
        ({"TRACKER_SILENT": "1"}, {}),
        ({"WANDB_SILENT": "true"}, {}),
        ({}, {"silent": True}),
        ({}, {"quiet": True}),
    ],
)
def test_silent_and_quiet_turn_the_lines_off(
    root: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    settings: dict[str, bool],
) -> None:
    monkeypatch.delenv("TRACKER_SILENT")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    run = tracker.init(project="p", settings={**QUIET, **settings})
    run.log({"x": 1})
    tracker.termlog("hello")
    run.finish()
    assert capsys.readouterr().err == ""


@pytest.mark.usefixtures("loud")
def test_termlog_termwarn_termerror(capsys: pytest.CaptureFixture[str]) -> None:
    tracker.termlog("one\ntwo")
    tracker.termwarn("careful")
    tracker.termerror("broken")
    tracker.termlog("once", repeat=False)
    tracker.termlog("once", repeat=False)
    tracker.termlog("bare", prefix=False)
    assert capsys.readouterr().err.splitlines() == [
        "tracker: one",
        "tracker: two",
        "tracker: WARNING careful",
        "tracker: ERROR broken",
        "tracker: once",
        "bare",
    ]


def test_a_short_run_records_one_system_sample(root: Path) -> None:
    pytest.importorskip("psutil")
    run = tracker.init(project="p", id="short", settings={"disable_git": True, "capture_packages": False})
    run.log({"x": 1})
    run.finish()
    records = [rec for _off, rec in read_frames(root / "projects/p/runs/short/run.tlog").records]
    samples = [s for rec in records if rec[0] == R.SYSTEM for s in rec[1]]
    assert len(samples) == 1
    assert samples[0][1]["system.memory_percent"] > 0


def test_lines_in_a_real_process_go_to_stderr(root: Path, tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text(
        "import tracker\n"
        "run = tracker.init(project='p', id='sub1', name='first',\n"
        "                   settings={'disable_git': True, 'stats_interval': 0})\n"
        "run.log({'loss': 0.125})\n"
        "print('training output')\n"
        "run.finish()\n"
    )
    env = {k: v for k, v in __import__("os").environ.items() if k != "TRACKER_SILENT"}
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, env=env, check=True
    )
    assert out.stdout == "training output\n"
    assert out.stderr.splitlines()[0].startswith("tracker: run first (sub1) is saved locally in ")
    assert (
        out.stderr.splitlines()[-1] == "tracker: run first (sub1) finished after 1 step; summary: loss=0.125"
    )
