"""The run's port (``tracker._port.RunPort``) is the only door between a run and its services."""

from __future__ import annotations

import ast
import gc
import weakref
from pathlib import Path

import pytest

import tracker
from tracker import _distributed, _stats
from tracker._disabled import DisabledRun
from tracker._port import RunPort
from tracker._run import Run
from tracker._run_base import RunBase
from tracker.errors import Error
from tracker.storage._format import R, read_frames

REPO = Path(__file__).resolve().parents[2]
SOURCE_DIRS = ("core", "integrations", "system_metrics")
#: The run's own modules and the composition root that builds it and wires its services.
RUN_MODULES = {"core/_run.py", "core/_run_base.py", "core/_init.py"}


def _private_run_names() -> set[str]:
    """Every private (single-underscore) attribute a live ``Run`` has."""
    run = tracker.init(project="port")
    try:
        names = {*vars(run), *vars(Run), *vars(RunBase)}
    finally:
        run.finish()
    return {n for n in names if n.startswith("_") and not n.startswith("__")}


def test_every_kind_of_run_implements_the_port() -> None:
    run = tracker.init(project="port")
    disabled = tracker.init(project="port", mode="disabled", reinit="create_new")
    node = _distributed.NodeRun(
        project="port", name=None, run_id="n", config=None, run_dir=None, role="worker"
    )
    try:
        assert isinstance(run, RunPort)
        assert isinstance(disabled, RunPort)
        assert isinstance(disabled, DisabledRun)
        assert isinstance(node, RunPort)
        assert not isinstance(object(), RunPort)
    finally:
        node.finish()
        disabled.finish()
        run.finish()


def test_no_module_outside_the_run_reaches_into_a_runs_private_attributes() -> None:
    private = _private_run_names()
    assert {"_writer", "_append", "_on_finish", "_after_close", "_problems", "_exit_state"} <= private
    found = []
    for top in SOURCE_DIRS:
        for path in sorted((REPO / top).rglob("*.py")):
            rel = path.relative_to(REPO).as_posix()
            if rel in RUN_MODULES:
                continue
            for node in ast.walk(ast.parse(path.read_text(), rel)):
                if (
                    isinstance(node, ast.Attribute)
                    and node.attr in private
                    and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
                ):
                    found.append(f"{rel}:{node.lineno}: .{node.attr}")
    assert found == [], "use tracker._port.RunPort instead:\n" + "\n".join(found)


def test_the_port_records_problems_and_hooks_in_order(root: Path) -> None:
    run = tracker.init(project="port")
    calls: list[str] = []
    run.on_finish(lambda: calls.append("finish"))
    run.after_close(lambda: calls.append("closed"))
    run.after_close(lambda: calls.append("closed-first"), first=True)
    run.record(R.ALERT, {"title": "t", "text": "x", "level": "INFO", "ts": 0.0, "step": 0})
    run.problem("port-test", "a service failed")
    assert run.root == root
    assert run.server is None
    assert not run.finished
    with pytest.raises(Error, match="a service failed"):  # strict mode (conftest); else a warning
        run.finish()
    assert run.finished
    assert calls[0] == "finish"
    assert calls.index("closed-first") < calls.index("closed")
    alerts = [rec for _off, rec in read_frames(Path(run.dir) / "run.tlog").records if rec[0] == R.ALERT]
    assert [a[1]["title"] for a in alerts] == ["t"]


def test_a_disabled_run_takes_the_port_calls_and_runs_its_hooks() -> None:
    run = tracker.init(mode="disabled")
    calls: list[str] = []
    run.on_finish(lambda: calls.append("finish"))
    run.record(R.ALERT, {"title": "t"})
    run.system_sample(0.0, {"system.cpu": 1.0})
    assert run.root is None
    assert run.flush(0.1) is False
    run.finish()
    assert calls == ["finish"]
    assert run.finished


def test_the_sampler_holds_its_run_weakly() -> None:
    run = tracker.init(project="port", settings={"stats_interval": 0.1})
    assert _stats.sampler_of(run) is not None
    ref = weakref.ref(run)
    run.finish()
    del run
    gc.collect()
    assert ref() is None  # _stats._samplers is keyed by the run: a strong reference would pin it
