"""Issue 19 point 1: W&B's ``WANDB_*`` variables are fallbacks for tracker's settings.

``TRACKER_*`` wins; credentials and server addresses (``WANDB_API_KEY``,
``WANDB_BASE_URL``, ``WANDB_HOST``) are never read.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

import tracker
from tracker import _settings
from tracker.errors import TrackerWarning, UsageError

QUIET = {"disable_git": True, "stats_interval": 0, "capture_packages": False}


def test_run_fields_come_from_wandb_variables(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        "WANDB_PROJECT": "wb-project",
        "WANDB_ENTITY": "team",
        "WANDB_NAME": "wb-name",
        "WANDB_NOTES": "wb notes",
        "WANDB_TAGS": "a,b",
        "WANDB_RUN_GROUP": "g1",
        "WANDB_JOB_TYPE": "train",
        "WANDB_RUN_ID": "wbid01",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    run = tracker.init(settings=QUIET)
    run.finish()
    got = tracker.Api(root).run("wb-project/wbid01")
    assert (got.name, got.notes, got.tags, got.group, got.job_type, got.entity) == (
        "wb-name", "wb notes", ["a", "b"], "g1", "train", "team",
    )  # fmt: skip


def test_tracker_variables_win(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_PROJECT", "wb-project")
    monkeypatch.setenv("TRACKER_PROJECT", "tr-project")
    run = tracker.init(settings=QUIET)
    assert run.project == "tr-project"
    run.finish()


def test_wandb_dir_is_the_data_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRACKER_DIR")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "wb"))
    run = tracker.init(project="p", id="r1", settings=QUIET)
    run.finish()
    assert (tmp_path / "wb/projects/p/runs/r1/run.tlog").is_file()


@pytest.mark.parametrize(("var", "value"), [("WANDB_MODE", "disabled"), ("WANDB_DISABLED", "true")])
def test_disabled_means_disabled(root: Path, monkeypatch: pytest.MonkeyPatch, var: str, value: str) -> None:
    monkeypatch.setenv(var, value)
    run = tracker.init(project="p", settings=QUIET)
    run.log({"x": 1})
    run.finish()
    assert run.disabled
    assert not (root / "projects").exists()


def test_online_without_a_tracker_server_warns_and_runs_offline(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tracker._init, "_online_warned", False)
    monkeypatch.setenv("WANDB_MODE", "online")
    # W&B's server and key belong to another service: never read, never contacted.
    monkeypatch.setenv("WANDB_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("WANDB_HOST", "http://127.0.0.1:9")
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    with pytest.warns(TrackerWarning, match=r"WANDB_MODE='online' but no team server"):
        run = tracker.init(project="p", settings=QUIET)
    assert run.mode == "offline"
    assert run.server is None
    run.finish()


def test_credentials_are_never_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", "/nonexistent")
    monkeypatch.setenv("WANDB_BASE_URL", "http://wandb.example")
    monkeypatch.setenv("WANDB_HOST", "http://wandb.example")
    monkeypatch.setenv("WANDB_API_KEY", "secret")
    assert _settings.server_target() is None
    forbidden = {"WANDB_API_KEY", "WANDB_BASE_URL", "WANDB_HOST"}
    assert not forbidden & set(_settings.WANDB_FALLBACKS.values())


def test_resume_and_run_id_from_wandb(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tracker.init(project="p", id="again", settings=QUIET).finish()
    monkeypatch.setenv("WANDB_RUN_ID", "again")
    monkeypatch.setenv("WANDB_RESUME", "must")
    run = tracker.init(project="p", settings=QUIET)
    assert run.resumed
    assert run.id == "again"
    run.finish()


def test_adapter_settings_and_sweep_handoff_read_one_place(monkeypatch: pytest.MonkeyPatch) -> None:
    from tracker._optional import adapter_env

    monkeypatch.setenv("WANDB_LOG_MODEL", "checkpoint")
    monkeypatch.setenv("WANDB_WATCH", "all")
    monkeypatch.setenv("WANDB_SWEEP_ID", "sw1")
    monkeypatch.setenv("WANDB_SWEEP_PARAM_PATH", "/tmp/params.yaml")
    assert adapter_env(_settings.ENV_LOG_MODEL, ("end", "checkpoint", "false")) == "checkpoint"
    assert adapter_env(_settings.ENV_WATCH) == "all"
    assert _settings.env(_settings.ENV_SWEEP_ID) == "sw1"
    assert _settings.env(_settings.ENV_SWEEP_PARAM_PATH) == "/tmp/params.yaml"


def test_a_bad_value_names_the_wandb_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRACKER_SILENT")  # the suite's conftest sets it; TRACKER_* would win
    monkeypatch.setenv("WANDB_SILENT", "maybe")
    with pytest.raises(UsageError, match="WANDB_SILENT='maybe'"):
        _settings.env_bool(_settings.ENV_SILENT, False)
    monkeypatch.setenv("WANDB_MODE", "sideways")
    with pytest.raises(UsageError, match="WANDB_MODE='sideways'"):
        tracker.init(project="p", settings=QUIET)


def test_wandb_console_off_turns_capture_off(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.delenv("TRACKER_CONSOLE")
    monkeypatch.setenv("WANDB_CONSOLE", "off")
    before = sys.stdout
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run = tracker.init(project="p", settings=QUIET)
    assert sys.stdout is before
    run.finish()
