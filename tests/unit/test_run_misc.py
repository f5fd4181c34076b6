"""init() arguments, Settings, login, alerts, finishing, threads, disabled mode, reinit,
fork, and the full-disk degradation path."""

from __future__ import annotations

import enum
import errno
import os
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import pytest

import tracker
from tracker import _writer_file
from tracker._init import LOG_NAME, read_log
from tracker.errors import RunNotFoundError, TrackerWarning, UsageError
from tracker.storage._format import R, read_frames
from tracker.storage._replay import RunState


def _state(run: Any) -> RunState:
    return read_log(Path(run.dir) / LOG_NAME)


def _rows(run: Any) -> list[tuple[int, dict[str, Any]]]:
    return [(r[0], r[2]) for r in _state(run).rows]


def _tracker_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("tracker")]


def _run_python(code: str) -> subprocess.CompletedProcess[str]:
    """Run a script in a fresh interpreter (it inherits the isolated TRACKER_* environment)."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


# ---------------------------------------------------------------------- init arguments


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"project": "my/project"}, r"project 'my/project' is not valid: the character '/' cannot be stored"),
        ({"project": "a/b"}, r"project 'a/b' is not valid"),
        ({"project": "-lead"}, r"project '-lead' is not valid"),
        ({"project": "x" * 129}, r"project 'x+' is not valid"),
        ({"id": "bad id"}, r"run id 'bad id' is not valid: use 1-64 letters"),
        ({"id": "../escape"}, r"run id '\.\./escape' is not valid"),
        ({"id": "x" * 65}, r"run id 'x+' is not valid"),
        ({"mode": "fast"}, r"init\(mode='fast'\): use 'offline', 'online' or 'disabled'"),
        ({"reinit": "sometimes"}, r"init\(reinit='sometimes'\): use one of"),
        ({"resume": "maybe"}, r"init\(resume='maybe'\): use 'allow', 'must', 'never', 'auto' or a bool"),
        ({"resume_from": "abc"}, r"resume_from='abc': use '<run_id>\?_step=<N>'"),
        ({"resume_from": "abc?_step=x"}, r"the step 'x' is not an integer"),
        ({"tags": "one-tag"}, r"init\(tags=\.\.\.\) must be a list of strings"),
        ({"tags": ["ok", 3]}, r"init\(tags=\.\.\.\) must be a list of strings"),
        ({"settings": 5}, r"settings must be tracker\.Settings or a dict, not int"),
        ({"settings": {"bogus": 1}}, r"Unknown setting 'bogus'"),
    ],
)
def test_init_misuse_raises_before_creating_anything(
    kwargs: dict[str, Any], message: str, root: Path
) -> None:
    kwargs.setdefault("project", "p")
    with pytest.raises(UsageError, match=message):
        tracker.init(**kwargs)
    assert tracker.run is None
    assert not (root / "projects").exists()
    assert _tracker_threads() == []


def test_resume_must_without_the_run_raises_run_not_found() -> None:
    with pytest.raises(
        RunNotFoundError, match=r"init\(resume='must'\): no run 'nope' in project 'p'"
    ) as info:
        tracker.init(project="p", id="nope", resume="must")
    assert info.value.run_id == "nope"
    assert isinstance(info.value, tracker.Error)
    assert tracker.run is None


def test_existing_id_without_resume_raises() -> None:
    tracker.init(project="p", id="same").finish()
    with pytest.raises(UsageError, match=r"run p/same already exists; pass resume='allow'"):
        tracker.init(project="p", id="same")
    assert tracker.run is None


def test_init_records_identity() -> None:
    run = tracker.init(
        project="proj",
        name="nice",
        id="abc123",
        entity="team",
        group="g",
        job_type="train",
        tags=["a", "b"],
        notes="n",
    )
    assert (run.id, run.name, run.project, run.entity) == ("abc123", "nice", "proj", "team")
    assert run.path == "team/proj/abc123"
    assert run.dir.endswith(os.path.join("projects", "proj", "runs", "abc123"))
    run.finish()
    meta = _state(run).meta
    assert {
        k: meta[k] for k in ("id", "project", "name", "entity", "group", "job_type", "tags", "notes")
    } == {
        "id": "abc123",
        "project": "proj",
        "name": "nice",
        "entity": "team",
        "group": "g",
        "job_type": "train",
        "tags": ["a", "b"],
        "notes": "n",
    }


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"force": True}, "force"),
        ({"anonymous": "allow"}, "anonymous"),
        ({"monitor_gym": True}, "monitor_gym"),
        ({"fork_from": "abc?_step=1"}, "fork_from"),
        ({"magic_option": 1}, "magic_option"),
    ],
)
def test_ignored_and_unknown_init_keywords_warn_once(kwargs: dict[str, Any], name: str) -> None:
    with pytest.warns(
        TrackerWarning, match=rf"'{name}' is not supported by tracker and is ignored"
    ) as record:
        run = tracker.init(project="p", **kwargs)
    assert len(record) == 1
    assert isinstance(run, tracker.Run)
    run.log({"a": 1})
    run.finish()
    assert _rows(run) == [(0, {"a": 1})]


def test_login_with_nothing_configured_returns_true() -> None:
    assert tracker.login() is True
    assert tracker.login(relogin=False, timeout=1) is True


# ---------------------------------------------------------------------- Settings


@pytest.mark.parametrize(
    ("key", "value"),
    [
        # W&B's documented keys
        ("console", "off"),
        ("silent", True),
        ("quiet", True),
        ("mode", "offline"),
        ("project", "p"),
        ("run_name", "n"),
        ("disable_git", True),
        ("save_code", False),
        ("symlink", False),
        ("show_errors", True),
        ("init_timeout", 90),
        ("heartbeat_seconds", 10),
        ("resume", "allow"),
        # W&B's experimental namespace
        ("x_stats_sampling_interval", 5.0),
        ("x_disable_stats", True),
        ("x_not_yet_invented", 1),
        # tracker's own
        ("fsync", False),
        ("flush_interval", 0.05),
        ("finish_timeout", 5.0),
        ("queue_max_rows", 1000),
        ("queue_max_bytes", 1 << 20),
        ("stats_interval", 0),
        ("capture_packages", False),
        ("handle_sigterm", False),
    ],
)
def test_settings_accept_documented_experimental_and_own_keys(key: str, value: Any) -> None:
    settings = tracker.Settings(**{key: value})
    assert getattr(settings, key) == value
    assert settings.get(key) == value
    assert settings.to_dict() == {key: value}


def test_settings_defaults_and_attribute_set() -> None:
    settings = tracker.Settings()
    assert settings.fsync is True
    assert settings.flush_interval == 0.1
    assert settings.console == "auto"
    assert settings.entity is None
    settings.console = "off"
    assert settings.to_dict() == {"console": "off"}


def test_settings_reject_unknown_keys() -> None:
    with pytest.raises(UsageError, match=r"Unknown setting 'bogus': tracker\.Settings accepts W&B's") as info:
        tracker.Settings(bogus=1)
    assert info.value.key == "bogus"
    settings = tracker.Settings()
    with pytest.raises(UsageError, match="Unknown setting 'colour'"):
        settings.colour = "red"
    with pytest.raises(UsageError, match="Unknown setting 'other'"):
        settings.update({"other": 1})
    with pytest.raises(AttributeError, match="Settings has no attribute 'nope'"):
        _ = settings.nope


def test_settings_are_applied_by_init() -> None:
    run = tracker.init(settings=tracker.Settings(project="sp", run_name="from-settings", run_tags=("t",)))
    assert (run.project, run.name, run.tags) == ("sp", "from-settings", ("t",))
    run.finish()
    run = tracker.init(settings={"run_id": "fromdict"})
    assert run.id == "fromdict"


def test_settings_tracker_does_not_act_on_warn_at_init() -> None:
    with pytest.warns(TrackerWarning, match="'symlink' is not supported by tracker and is ignored"):
        run = tracker.init(project="p", settings=tracker.Settings(symlink=True))
    run.finish()


# ---------------------------------------------------------------------- alerts


class _AlertLevel(enum.Enum):
    INFO = "INFO"
    WARN = "WARN"
    ERROR = "ERROR"


def test_alerts_are_recorded() -> None:
    run = tracker.init(project="p")
    run.alert(title="Low accuracy", text="acc < 0.1")
    run.log({"acc": 0.05})
    run.alert("Warned", "w", level="warn")
    run.alert("Warning spelled out", "w2", level="WARNING")
    run.alert("Enum", "e", level=_AlertLevel.ERROR, wait_duration=300)
    tracker.alert(title="Module", text="m", level="INFO")
    run.finish()
    alerts = _state(run).alerts
    assert [(a["title"], a["text"], a["level"], a["step"]) for a in alerts] == [
        ("Low accuracy", "acc < 0.1", "INFO", 0),
        ("Warned", "w", "WARN", 1),
        ("Warning spelled out", "w2", "WARN", 1),
        ("Enum", "e", "ERROR", 1),
        ("Module", "m", "INFO", 1),
    ]
    assert all(isinstance(a["ts"], float) for a in alerts)


def test_alert_misuse_raises() -> None:
    run = tracker.init(project="p")
    with pytest.raises(UsageError, match=r"alert\(level='CRITICAL'\): use INFO, WARN or ERROR"):
        run.alert("t", "x", level="CRITICAL")
    with pytest.raises(UsageError, match="title and text must be strings"):
        run.alert(3, "x")  # type: ignore[arg-type]
    run.finish()
    with pytest.raises(UsageError, match=rf"alert\(\) after run {run.id} finished"):
        run.alert("t", "x")
    assert _state(run).alerts == []


# ---------------------------------------------------------------------- finishing


def test_second_finish_is_a_no_op() -> None:
    run = tracker.init(project="p")
    run.log({"a": 1})
    run.finish()
    run.finish(exit_code=3)
    tracker.finish()
    records = read_frames(Path(run.dir) / LOG_NAME).records
    exits = [rec[1] for _off, rec in records if rec[0] == R.EXIT]
    assert len(exits) == 1
    assert (exits[0]["state"], exits[0]["exit_code"]) == ("finished", 0)


@pytest.mark.parametrize(
    ("exit_code", "state"), [(None, "finished"), (0, "finished"), (1, "failed"), (2, "failed")]
)
def test_exit_code_sets_the_state(exit_code: int | None, state: str) -> None:
    run = tracker.init(project="p")
    run.finish(exit_code=exit_code)
    exit_rec = _state(run).exit
    assert exit_rec is not None
    assert (exit_rec["state"], exit_rec["exit_code"]) == (state, exit_code or 0)
    assert _state(run).state == state


def test_context_manager_finishes_the_run() -> None:
    with tracker.init(project="p") as run:
        run.log({"a": 1})
    assert tracker.run is None
    assert _state(run).state == "finished"


def _train_in_with(exc: BaseException) -> list[Any]:
    """Raise ``exc`` inside ``with tracker.init()``; the run is left in the returned list."""
    runs: list[Any] = []

    def train() -> None:
        with tracker.init(project="p") as run:
            runs.append(run)
            run.log({"a": 1})
            raise exc

    with pytest.raises(type(exc)):
        train()
    return runs


def test_context_manager_marks_failed_and_reraises() -> None:
    (run,) = _train_in_with(ValueError("boom"))
    assert tracker.run is None
    state = _state(run)
    assert state.exit is not None
    assert (state.exit["state"], state.exit["exit_code"]) == ("failed", 1)
    assert [(r[0], r[2]) for r in state.rows] == [(0, {"a": 1})]


def test_keyboard_interrupt_in_with_marks_killed() -> None:
    (run,) = _train_in_with(KeyboardInterrupt())
    assert tracker.run is None
    assert _state(run).state == "killed"


def test_no_tracker_thread_remains_after_finish() -> None:
    run = tracker.init(project="p")
    run.log({"a": 1})
    assert _tracker_threads() != []
    run.finish()
    assert _tracker_threads() == []


def test_log_from_a_second_thread() -> None:
    run = tracker.init(project="p")
    errors: list[BaseException] = []

    def work(start: int) -> None:
        try:
            for i in range(start, start + 50):
                run.log({"i": i})
            tracker.log({"module": start})
        except BaseException as exc:
            errors.append(exc)

    run.log({"i": -1})
    worker = threading.Thread(target=work, args=(0,), name="user-thread")
    worker.start()
    worker.join()
    run.log({"i": -2})
    run.finish()
    assert errors == []
    rows = _rows(run)
    assert [s for s, _ in rows] == list(range(53))
    assert [d for _, d in rows] == [{"i": -1}, *({"i": i} for i in range(50)), {"module": 0}, {"i": -2}]


def test_finish_via_atexit_in_a_subprocess(root: Path) -> None:
    proc = _run_python(
        """
        import tracker
        run = tracker.init(project="p", id="atexit1", config={"lr": 0.1})
        tracker.log({"a": 1})
        tracker.log({"a": 2}, commit=False)
        """
    )
    assert proc.returncode == 0, proc.stderr
    state = read_log(root / "projects" / "p" / "runs" / "atexit1" / LOG_NAME)
    assert state.exit is not None
    assert (state.exit["state"], state.exit["exit_code"]) == ("finished", 0)
    assert [(r[0], r[2]) for r in state.rows] == [(0, {"a": 1}), (1, {"a": 2})]
    assert state.config == {"lr": 0.1}


def test_uncaught_exception_marks_failed_in_a_subprocess(root: Path) -> None:
    proc = _run_python(
        """
        import tracker
        run = tracker.init(project="p", id="crash1")
        tracker.log({"a": 1})
        raise RuntimeError("boom")
        """
    )
    assert proc.returncode == 1
    assert "RuntimeError: boom" in proc.stderr  # the previous excepthook still ran
    state = read_log(root / "projects" / "p" / "runs" / "crash1" / LOG_NAME)
    assert state.exit is not None
    assert (state.exit["state"], state.exit["exit_code"]) == ("failed", 1)
    assert [(r[0], r[2]) for r in state.rows] == [(0, {"a": 1})]


# ---------------------------------------------------------------------- disabled mode


def test_disabled_mode_is_a_no_op_that_keeps_config(root: Path) -> None:
    run = tracker.init(project="p", mode="disabled", config={"lr": 0.1, "opt": {"name": "adam"}})
    assert run.disabled is True
    assert tracker.run is run
    assert run.config.lr == 0.1
    assert tracker.config.opt == {"name": "adam"}
    run.config.update({"bs": 4})
    tracker.config.epochs = 2
    assert run.config.as_dict() == {"lr": 0.1, "opt": {"name": "adam"}, "bs": 4, "epochs": 2}
    run.log({"a": 1})
    run.log({"a": 1}, step=5, commit=False)
    tracker.log({"b": 2})
    run.define_metric("a", summary="max")
    tracker.define_metric("b", step_metric="a")
    run.alert("t", "x")
    tracker.alert("t", "x", level="ERROR")
    run.summary["x"] = 1
    assert run.summary["x"] == 1
    assert _tracker_threads() == []
    start = time.perf_counter()
    for i in range(100_000):
        run.log({"loss": i})
    assert time.perf_counter() - start < 2.0  # ~100 ns a call; a real run would be far slower
    run.finish()
    run.finish()
    assert tracker.run is None
    assert not root.exists()


def test_disabled_mode_from_environment_and_settings(monkeypatch: pytest.MonkeyPatch, root: Path) -> None:
    monkeypatch.setenv("TRACKER_MODE", "disabled")
    run = tracker.init(project="p")
    assert run.disabled is True
    run.finish()
    monkeypatch.delenv("TRACKER_MODE")
    run = tracker.init(project="p", settings=tracker.Settings(mode="disabled"))
    assert run.disabled is True
    run.finish()
    assert not root.exists()


def test_disabled_mode_reads_a_yaml_config(tmp_path: Path, root: Path) -> None:
    path = tmp_path / "config-defaults.yaml"
    path.write_text("lr:\n  value: 0.1\nepochs: 3\n")
    run = tracker.init(project="p", mode="disabled", config=str(path))
    assert run.config.as_dict() == {"lr": 0.1, "epochs": 3}
    run.finish()
    assert not root.exists()


# ---------------------------------------------------------------------- reinit


def test_default_reinit_in_a_script_returns_the_previous_run() -> None:
    first = tracker.init(project="p")
    with pytest.warns(TrackerWarning, match=rf"run {first.id} is still active; returning it"):
        second = tracker.init(project="p")
    assert second is first
    assert tracker.run is first
    with pytest.warns(TrackerWarning, match="still active"):
        assert tracker.init(project="p", reinit=False) is first


@pytest.mark.parametrize("reinit", ["finish_previous", True])
def test_reinit_finish_previous(reinit: Any) -> None:
    first = tracker.init(project="p")
    first.log({"a": 1})
    second = tracker.init(project="p", reinit=reinit)
    assert second is not first
    assert tracker.run is second
    assert _state(first).state == "finished"
    assert _rows(first) == [(0, {"a": 1})]
    second.log({"b": 1})
    second.finish()
    assert _rows(second) == [(0, {"b": 1})]


def test_reinit_create_new_keeps_both_runs() -> None:
    first = tracker.init(project="p")
    second = tracker.init(project="p", reinit="create_new")
    assert second is not first
    assert tracker.run is second
    first.log({"a": 1})
    second.log({"b": 2})
    tracker.log({"c": 3})  # the current run is the newest
    second.finish()
    assert tracker.run is first  # the remaining active run becomes current again
    first.finish()
    assert tracker.run is None
    assert _rows(first) == [(0, {"a": 1})]
    assert _rows(second) == [(0, {"b": 2}), (1, {"c": 3})]
    assert _state(first).state == _state(second).state == "finished"


# ---------------------------------------------------------------------- fork


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded, use of fork:DeprecationWarning")
def test_forked_child_run_is_inert_and_parent_keeps_logging() -> None:
    run = tracker.init(project="p")
    run.log({"a": 1})
    run._writer.flush()
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: report through the pipe, never return into pytest
        code = 1
        try:
            os.close(read_fd)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                run.log({"child": 1})
                run.log({"child": 2}, step=100)
                tracker.log({"child": 3})  # module level too: the same inert run, no error
                run.finish()
            messages = [str(w.message) for w in caught if issubclass(w.category, TrackerWarning)]
            report = f"{len(messages)}|{tracker.run is None}|{messages[0] if messages else ''}"
            os.write(write_fd, report.encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write_fd)
    run.log({"a": 2})
    _pid, status = os.waitpid(pid, 0)
    with os.fdopen(read_fd, "rb") as pipe:
        count, run_is_none, message = pipe.read().decode().split("|", 2)
    assert os.waitstatus_to_exitcode(status) == 0
    assert count == "1"
    assert run_is_none == "True"
    assert "forked child" in message
    run.log({"a": 3})
    run.finish()
    assert _rows(run) == [(0, {"a": 1}), (1, {"a": 2}), (2, {"a": 3})]
    assert _state(run).state == "finished"


# ---------------------------------------------------------------------- full disk


def test_full_disk_warns_once_and_keeps_every_row(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRACKER_STRICT")
    run = tracker.init(project="p")
    disk = {"full": True}
    real_write = _writer_file.write

    def write(fd: int, data: memoryview) -> int:
        if disk["full"]:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, data)

    monkeypatch.setattr(_writer_file, "write", write)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for i in range(50):
            run.log({"i": i})
        assert run._writer.flush(30)  # the writer tried and failed; training went on
        for i in range(50, 100):
            run.log({"i": i})
        assert run._writer.flush(30)
        disk["full"] = False
        for i in range(100, 150):
            run.log({"i": i})
        run.finish()
    messages = [str(w.message) for w in caught if issubclass(w.category, TrackerWarning)]
    assert len(messages) == 1, messages
    assert "training continues" in messages[0]
    assert [w for w in caught if not issubclass(w.category, TrackerWarning)] == []
    rows = _rows(run)
    assert rows == [(i, {"i": i}) for i in range(150)]
    assert _state(run).state == "finished"
