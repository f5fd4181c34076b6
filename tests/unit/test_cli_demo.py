"""``tracker demo --no-ui``: the demo project read back through ``tracker.Api``."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

import tracker
from tracker.cli import main


def test_demo_logs_runs_media_system_metrics_and_artifacts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "demo-root"
    started = time.perf_counter()
    assert main(["demo", "--no-ui", "--root", str(root)]) == 0
    took = time.perf_counter() - started
    err = capsys.readouterr().err
    assert "logged 12 runs into project 'demo'" in err
    assert took < 60  # "a few seconds" on an idle machine; a guard against a runaway demo here

    api = tracker.Api(root)
    runs = {r.name: r for r in api.runs("demo")}
    assert set(runs) == {"baseline", "lr-1e-3", "wide", "no-warmup"} | {f"lr-sweep-{i}" for i in range(8)}
    assert runs["lr-1e-3"].state == "failed"
    assert runs["baseline"].state == "finished"
    assert runs["wide"].config["layers"] == 24

    base = runs["baseline"]
    hist = base.history(keys=["train/loss", "train/acc", "lr", "grad_norm"], samples=100_000, pandas=False)
    assert len(hist) == 1500
    assert {"train/loss", "val/loss", "val/acc", "weights/layer0", "samples", "predictions"} <= set(
        base.summary
    )
    # Noise: not a smooth curve; decreasing on the whole.
    loss = np.array([row["train/loss"] for row in hist])
    assert np.any(np.diff(loss) > 0)
    assert loss[-100:].mean() < loss[:100].mean() / 2

    # Exactly one spike, in the no-warmup run.
    spiky = np.array(
        [
            r["train/loss"]
            for r in runs["no-warmup"].history(keys=["train/loss"], samples=100_000, pandas=False)
        ]
    )
    assert int((spiky > 5).sum()) == 1
    assert int((loss > 5).sum()) == 0

    # An image every 250 steps, a histogram every 100.
    images = base.media(["samples"])["samples"]
    assert len(images) == 6
    assert len(base.media(["weights/layer0"])["weights/layer0"]) == 15
    system = base.history(stream="events", pandas=False)
    assert len(system) >= 50
    assert {"system.cpu", "system.gpu.0.gpu", "system.memory_percent"} <= set(system[0])

    # The model artifact (three versions, "best" on the last) and its registry link.
    versions = api.artifact_versions("model", "demo/demo-model")
    assert sorted(v.version for v in versions) == ["v0", "v1", "v2"]
    assert "best" in api.artifact("demo/demo-model:v2").aliases
    assert api.artifact("model-registry/demo-lm:staging").digest == api.artifact("demo/demo-model:v2").digest
    assert (
        api.artifact("model-registry/demo-lm:production").digest == api.artifact("demo/demo-model:v1").digest
    )

    # The small sweep: 8 grid points over lr x warmup, all in the demo project.
    sweep_runs = [r for n, r in runs.items() if n.startswith("lr-sweep-")]
    assert {(r.config["lr"], r.config["warmup"]) for r in sweep_runs} == {
        (lr, w) for lr in (1e-4, 3e-4, 1e-3, 3e-3) for w in (0, 200)
    }
    assert len({r.sweep_id for r in sweep_runs}) == 1

    # A second `tracker demo` opens what is there; --again logs another set.
    assert main(["demo", "--no-ui", "--root", str(root)]) == 0
    assert "already has 12 runs" in capsys.readouterr().err
    assert len(tracker.Api(root).runs("demo")) == 12
    assert main(["demo", "--no-ui", "--again", "--root", str(root)]) == 0
    assert len(tracker.Api(root).runs("demo")) == 24


def test_demo_rejects_a_bad_port(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "r"
    assert main(["demo", "--root", str(root), "--port", "70000", "--no-open"]) == 2
    assert "--port 70000" in capsys.readouterr().err
    assert not (root / "projects").exists()  # checked before logging anything
