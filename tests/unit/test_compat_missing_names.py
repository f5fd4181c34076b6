"""Issue 19 point 9 (the names area 4 owns): ``join``, ``setup``/``teardown``, ``restore``,
``termlog``/``termwarn``/``termerror``, ``AlertLevel``; on a run ``mark_preempting``,
``sweep_url``, ``project_url``; ``Api`` run ``.sweep``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import tracker
from tracker.errors import UsageError

QUIET = {"disable_git": True, "stats_interval": 0, "capture_packages": False}


def test_join_is_finish(root: Path) -> None:
    run = tracker.init(project="p", id="j1", settings=QUIET)
    tracker.join()
    assert tracker.run is None
    assert tracker.Api(root).run("p/j1").state == "finished"
    assert run.finished


def test_setup_settings_are_the_defaults_of_every_init(root: Path) -> None:
    made = tracker.setup(tracker.Settings(stats_interval=0, disable_git=True))
    try:
        assert made.settings.disable_git is True
        run = tracker.init(project="p", settings={"capture_packages": False})
        assert tracker._stats.sampler_of(run) is None  # stats_interval=0 came from setup()
        tracker.teardown()
        assert run.finished
    finally:
        tracker.teardown()
    assert tracker._session._defaults is None


def test_restore_copies_a_saved_file_into_the_current_run(root: Path, tmp_path: Path) -> None:
    src = tmp_path / "work"
    src.mkdir()
    (src / "model.txt").write_text("weights v1")
    first = tracker.init(project="p", id="saver", settings=QUIET)
    first.save(str(src / "model.txt"), base_path=str(src), policy="now")
    first.finish()

    second = tracker.init(project="p", id="reader", settings=QUIET)
    with tracker.restore("model.txt", run_path="p/saver") as f:
        assert f.read() == "weights v1"
        assert Path(f.name) == Path(second.dir) / "model.txt"
    (Path(second.dir) / "model.txt").write_text("local edit")
    with tracker.restore("model.txt", run_path="p/saver") as f:
        assert f.read() == "local edit"  # an existing copy is opened, not replaced
    with tracker.restore("model.txt", run_path="p/saver", replace=True, root=str(tmp_path / "out")) as f:
        assert f.read() == "weights v1"
    with pytest.raises(UsageError, match=r"no file named 'missing\.txt'"):
        tracker.restore("missing.txt", run_path="p/saver")
    second.finish()
    with pytest.raises(UsageError, match="needs run_path"):
        tracker.restore("model.txt")


def test_alert_level_enum(root: Path) -> None:
    run = tracker.init(project="p", id="al", settings=QUIET)
    run.alert("slow", "epoch took long", level=tracker.AlertLevel.WARN)
    tracker.alert("done", "ok", level=tracker.AlertLevel.INFO)
    run.finish()
    alerts = tracker.Api(root).run("p/al").alerts()
    assert [(a["title"], a["level"]) for a in alerts] == [("slow", "WARN"), ("done", "INFO")]
    assert tracker.AlertLevel.ERROR == "ERROR"


def test_mark_preempting_records_a_preempted_run(root: Path) -> None:
    run = tracker.init(project="p", id="pre", settings=QUIET)
    run.mark_preempting()
    run.finish()
    assert tracker.Api(root).run("p/pre").state == "preempted"


def test_project_and_sweep_urls(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACKER_UI_URL", "http://dash.example")
    run = tracker.init(project="p", settings=QUIET)
    assert run.project_url == "http://dash.example/projects/p"
    assert run.sweep_url is None
    run.finish()

    seen: dict[str, object] = {}

    def train() -> None:
        trial = tracker.init(settings=QUIET)
        seen["sweep_url"] = trial.sweep_url
        seen["path"] = f"{trial.project}/{trial.id}"
        trial.log({"loss": float(trial.config["lr"])})
        trial.finish()

    sweep_id = tracker.sweep(
        {"method": "grid", "metric": {"name": "loss", "goal": "minimize"},
         "parameters": {"lr": {"values": [0.5]}}},
        project="sw",
    )  # fmt: skip
    tracker.agent(sweep_id, function=train, project="sw", count=1)
    assert seen["sweep_url"] == f"http://dash.example/projects/sw/sweeps/{sweep_id}"
    api_run = tracker.Api(root).run(str(seen["path"]))
    assert api_run.sweep is not None
    assert api_run.sweep.id == sweep_id
    assert tracker.Api(root).run("p/" + os.listdir(root / "projects/p/runs")[0]).sweep is None


def test_module_mark_preempting_errors_and_starting_step(root: Path) -> None:
    assert tracker.UsageError is UsageError
    assert issubclass(tracker.CommError, tracker.Error)
    tracker.mark_preempting()  # no run: nothing to mark
    run = tracker.init(project="p", id="mp", settings=QUIET)
    run.log({"x": 1})
    run.log({"x": 2})
    tracker.mark_preempting()
    run.finish()
    assert tracker.Api(root).run("p/mp").state == "preempted"
    again = tracker.init(project="p", id="mp", resume="must", settings=QUIET)
    assert again.starting_step == 2
    again.finish()


def test_run_restore(root: Path, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    first = tracker.init(project="p", id="src", settings=QUIET)
    first.save(str(tmp_path / "notes.txt"), base_path=str(tmp_path), policy="now")
    first.finish()
    other = tracker.init(project="p", id="dst", settings=QUIET)
    with other.restore("notes.txt", run_path="p/src") as f:
        assert f.read() == "hello"
        assert Path(f.name).parent == Path(other.dir)
    other.finish()
