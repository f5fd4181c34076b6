"""Agents: in-process functions, count, crash guards, shared grids across processes, the CLI agent."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import tracker
from tracker.cli import main
from tracker.errors import TrackerWarning

GRID_3x4x2 = {
    "method": "grid",
    "parameters": {
        "a": {"values": [1, 2, 3]},
        "b": {"values": [10, 20, 30, 40]},
        "c": {"values": ["x", "y"]},
    },
}


def _sweep_runs(project: str) -> list:
    return [r for r in tracker.Api().runs(project)]


def test_function_agent_runs_count_runs_with_locked_params() -> None:
    sid = tracker.sweep(
        {
            "method": "random",
            "seed": 5,
            "metric": {"name": "loss"},
            "parameters": {
                "lr": {"distribution": "log_uniform_values", "min": 1e-5, "max": 1e-1},
                "batch_size": {"values": [16, 32, 64]},
                "opt": {"parameters": {"name": {"values": ["adam", "sgd"]}, "beta": {"value": 0.9}}},
            },
        },
        project="demo",
    )
    seen = []

    def train() -> None:
        run = tracker.init(config={"lr": 1.0, "epochs": 2, "opt": {"mom": 0.5}})
        tracker.config.update({"lr": 5.0})  # locked by the sweep: ignored
        seen.append(dict(tracker.config))
        run.log({"loss": tracker.config["lr"]})

    assert tracker.agent(sid, function=train, count=3) == 3
    assert len(seen) == 3
    for cfg in seen:
        assert 1e-5 <= cfg["lr"] <= 1e-1
        assert cfg["batch_size"] in (16, 32, 64)
        assert cfg["epochs"] == 2
        assert cfg["opt"]["mom"] == 0.5
        assert cfg["opt"]["beta"] == 0.9
        assert cfg["opt"]["name"] in ("adam", "sgd")
    runs = _sweep_runs("demo")
    assert len(runs) == 3
    assert {r.sweep_id for r in runs} == {sid}
    assert {r.state for r in runs} == {"finished"}


def test_bayes_function_agent_seed_style() -> None:
    pytest.importorskip("optuna")
    sid = tracker.sweep(
        {
            "method": "bayes",
            "seed": 1,
            "metric": {"name": "val_loss", "goal": "minimize"},
            "parameters": {
                "lr": {"distribution": "log_uniform_values", "min": 1e-5, "max": 1e-1},
                "batch_size": {"values": [16, 32]},
                "optimizer": {"values": ["adam", "sgd"]},
                "dropout": {"min": 0.0, "max": 0.5},
            },
        },
        project="bayes",
    )

    def train() -> None:
        run = tracker.init()
        c = run.config
        run.log({"val_loss": abs(c.dropout - 0.2) + (c.optimizer == "sgd") + c.batch_size / 100})

    assert tracker.agent(sid, function=train, count=7) == 7
    assert len(_sweep_runs("bayes")) == 7


def test_grid_exhaustion_ends_the_sweep_and_crashes_are_failed_runs() -> None:
    sid = tracker.sweep({"method": "grid", "parameters": {"v": {"values": [1, 2, 3, 4]}}}, project="g")
    calls = []

    def train() -> None:
        run = tracker.init()
        calls.append(run.config.v)
        if run.config.v == 2:
            raise RuntimeError("boom")
        run.log({"loss": 1.0})

    assert tracker.agent(sid, function=train) == 4
    assert calls == [1, 2, 3, 4]
    states = {r.config["v"]: r.state for r in _sweep_runs("g")}
    assert states == {1: "finished", 2: "failed", 3: "finished", 4: "finished"}
    assert tracker.Api().sweep(sid).state == "finished"
    with pytest.warns(TrackerWarning, match="is finished"):
        assert tracker.agent(sid, function=train) == 0


def test_repeated_failures_at_start_stop_the_agent() -> None:
    sid = tracker.sweep({"method": "random", "parameters": {"v": {"min": 0.0, "max": 1.0}}}, project="f")

    def train() -> None:
        tracker.init()
        raise ValueError("bad")

    with pytest.warns(TrackerWarning, match="failed runs in the first 60 seconds"):
        assert tracker.agent(sid, function=train, count=10) == 3


def test_run_cap_is_shared_and_project_argument_is_ignored() -> None:
    sid = tracker.sweep(
        {"method": "random", "run_cap": 2, "parameters": {"v": {"values": [1]}}}, project="cap"
    )

    def train() -> None:
        tracker.init(project="elsewhere")

    with pytest.warns(TrackerWarning, match="ignoring project='elsewhere'"):
        assert tracker.agent(sid, function=train) == 2
    assert len(_sweep_runs("cap")) == 2


def test_api_sweep_runs_and_best_run() -> None:
    sid = tracker.sweep(
        {
            "method": "grid",
            "metric": {"name": "acc", "goal": "maximize"},
            "parameters": {"v": {"values": [1, 3, 2]}},
        },
        project="best",
    )

    def train() -> None:
        run = tracker.init()
        run.log({"acc": run.config.v / 10})

    tracker.agent(sid, function=train)
    sweep = tracker.Api().sweep(f"best/{sid}")
    assert len(sweep.runs) == 3
    assert sweep.best_run().config["v"] == 3
    assert sweep.config["method"] == "grid"


WORKER = textwrap.dedent(
    """
    import sys, tracker
    def train():
        run = tracker.init()
        run.log({"loss": run.config["a"] * run.config["b"]})
    tracker.agent(sys.argv[1], function=train)
    """
)


def test_four_agent_processes_run_each_grid_point_once(tmp_path: Path) -> None:
    sid = tracker.sweep(GRID_3x4x2, project="par")
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    procs = [subprocess.Popen([sys.executable, str(script), sid]) for _ in range(4)]
    assert [p.wait(timeout=240) for p in procs] == [0, 0, 0, 0]
    points = [(r.config["a"], r.config["b"], r.config["c"]) for r in _sweep_runs("par")]
    assert len(points) == 24
    assert set(points) == {(a, b, c) for a in (1, 2, 3) for b in (10, 20, 30, 40) for c in "xy"}


PROGRAM = textwrap.dedent(
    """
    import json, sys, tracker
    argv = sys.argv[1:]
    if argv and argv[0].endswith(".json"):
        params = json.load(open(argv[0]))
    else:
        params = dict(a[2:].split("=", 1) for a in argv)
    run = tracker.init()
    run.log({"loss": 1.0})
    run.summary["argv"] = json.dumps(params, sort_keys=True)
    run.finish()
    """
)


@pytest.mark.parametrize("macro", ["${args}", "${args_json_file}"])
def test_cli_agent_runs_the_program_with_macros(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, macro: str
) -> None:
    (tmp_path / "train.py").write_text(PROGRAM)
    (tmp_path / "sweep.yaml").write_text(
        textwrap.dedent(f"""
        program: train.py
        method: grid
        command: ["${{env}}", "${{interpreter}}", "${{program}}", "{macro}"]
        parameters:
          lr: {{values: [1e-3, 1e-2]}}
          name: {{value: "a b"}}
        """)
    )
    monkeypatch.chdir(tmp_path)
    assert main(["sweep", "--project", "cli", "sweep.yaml"]) == 0
    sid = tracker.Api().state.journal()[-1].data["id"]
    assert main(["agent", sid]) == 0
    runs = _sweep_runs("cli")
    assert sorted(r.config["lr"] for r in runs) == [1e-3, 1e-2]
    for r in runs:
        got = json.loads(r.summary["argv"])
        assert got["name"] == "a b"
        assert float(got["lr"]) == r.config["lr"]


def test_cli_sweep_state_commands(capsys: pytest.CaptureFixture[str]) -> None:
    sid = tracker.sweep({"method": "random", "parameters": {"v": {"value": 1}}}, project="st")
    assert main(["sweep", "--pause", sid]) == 0
    assert tracker.Api().sweep(sid).state == "paused"
    assert main(["sweep", "--resume", sid]) == 0
    assert tracker.Api().sweep(sid).state == "running"
    assert main(["sweep", "--stop", sid]) == 0
    assert tracker.Api().sweep(sid).state == "finished"
    with pytest.warns(TrackerWarning, match="is finished"):
        assert tracker.agent(sid, function=lambda: None) == 0


def test_cli_sweep_reports_config_problems(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "bad.yaml").write_text("method: grid\nparameters:\n  lr: {min: 0.0, max: 1.0}\n")
    assert main(["sweep", str(tmp_path / "bad.yaml")]) == 2
    assert "parameters.lr: grid search cannot enumerate 'uniform'" in capsys.readouterr().err
