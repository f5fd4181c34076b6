"""sync_tensorboard=True: real TensorBoard writers mirror into the run (issue 19, point 5).

torch's SummaryWriter, tensorboardX's SummaryWriter and tf.summary write real event files
while the run records the same values: one row per TensorBoard step, the step as
``global_step`` (each key's step metric), histograms with TensorBoard's buckets, images
pixel for pixel, text as a string.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tracker
from tracker.media._read import _state

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # protobuf / TF internals


def _rows(root: Path, run: tracker.Run) -> list[dict[str, Any]]:
    return tracker.Api(root).run(f"{run.project}/{run.id}").history(pandas=False)


def _step_metrics(run: tracker.Run) -> dict[str, str]:
    return {name: spec.get("step_metric") for name, spec in _state(run.dir).metrics.items()}


def _pixels(run: tracker.Run, ref: dict[str, Any]) -> Any:
    return tracker.media.read_image(run.dir, ref)


def test_torch_summary_writer_mirrors_scalars_histograms_images_text(root: Path, tmp_path: Path) -> None:
    import torch
    from torch.utils.tensorboard import SummaryWriter

    rng = np.random.default_rng(0)
    weights = rng.normal(size=1000)
    image = rng.integers(0, 256, size=(3, 8, 6), dtype=np.uint8)
    run = tracker.init(project="tb", sync_tensorboard=True)
    writer = SummaryWriter(str(tmp_path / "runs" / "exp1"))
    writer.add_text("hyperparameters", "|param|value|\n|-|-|\n|lr|0.1|")  # cleanrl's first call: no row
    returns = [1.5, 2.25, 3.125]
    for i, value in enumerate(returns):
        step = 100 * (i + 1)
        writer.add_scalar("charts/episodic_return", value, step)
        writer.add_scalar("losses/td_loss", 0.1 / (i + 1), step)
    writer.add_histogram("weights", torch.from_numpy(weights), 300, bins=10)
    writer.add_image("obs", torch.from_numpy(image), 300)
    writer.add_text("note", "hello tb", 300)
    writer.close()
    run.finish()

    rows = _rows(root, run)
    assert [r["global_step"] for r in rows] == [100, 200, 300]
    assert [r["charts/episodic_return"] for r in rows] == returns
    np.testing.assert_array_equal(
        [r["losses/td_loss"] for r in rows], np.float32([0.1 / 1, 0.1 / 2, 0.1 / 3])
    )  # TensorBoard stores float32
    last = tracker.Api(root).run(f"tb/{run.id}").summary
    counts, edges = np.histogram(weights, bins=10)
    assert last["weights"]["values"] == counts.tolist()
    np.testing.assert_allclose(last["weights"]["bins"], edges)
    np.testing.assert_array_equal(_pixels(run, last["obs"]), image.transpose(1, 2, 0))
    assert last["note"] == "hello tb"
    assert last["hyperparameters"].startswith("|param|value|")
    metrics = _step_metrics(run)
    assert metrics["charts/episodic_return"] == "global_step"
    assert metrics["weights"] == "global_step"
    # TensorBoard's own files are written as before.
    assert list((tmp_path / "runs" / "exp1").glob("events.out.tfevents.*"))


def test_unpatched_at_finish(root: Path, tmp_path: Path) -> None:
    from tensorboard.summary.writer.event_file_writer import EventFileWriter
    from torch.utils.tensorboard import SummaryWriter

    original = EventFileWriter.add_event
    run = tracker.init(project="tb", sync_tensorboard=True)
    assert EventFileWriter.add_event is not original
    run.finish()
    assert EventFileWriter.add_event is original
    other = tracker.init(project="tb")
    writer = SummaryWriter(str(tmp_path / "later"))
    writer.add_scalar("x", 1.0, 0)
    writer.close()
    other.finish()
    assert _rows(root, other) == []


def test_two_log_directories_are_prefixed(root: Path, tmp_path: Path) -> None:
    from torch.utils.tensorboard import SummaryWriter

    run = tracker.init(project="tb", sync_tensorboard=True)
    train = SummaryWriter(str(tmp_path / "logs" / "train"))
    val = SummaryWriter(str(tmp_path / "logs" / "validation"))
    for epoch in range(2):
        train.add_scalar("epoch_loss", 1.0 - epoch / 4, epoch)
        val.add_scalar("epoch_loss", 2.0 - epoch / 4, epoch)
    train.close()
    val.close()
    run.finish()
    rows = _rows(root, run)
    assert [(r["global_step"], r["train/epoch_loss"], r["validation/epoch_loss"]) for r in rows] == [
        (0, 1.0, 2.0),
        (1, 0.75, 1.75),
    ]


def test_tensorboardx_writer(root: Path, tmp_path: Path) -> None:
    from tensorboardX import SummaryWriter

    values = np.linspace(-1.0, 1.0, 101)
    run = tracker.init(project="tbx", sync_tensorboard=True)
    writer = SummaryWriter(str(tmp_path / "tbx"))
    for step in range(3):
        writer.add_scalar("reward", step * 0.5, step)
    writer.add_histogram("acts", values, 2, bins=5)
    writer.add_text("cfg", "lr=0.1", 2)
    writer.close()
    run.finish()
    rows = _rows(root, run)
    assert [(r["global_step"], r["reward"]) for r in rows] == [(0, 0.0), (1, 0.5), (2, 1.0)]
    last = rows[-1]
    counts, edges = np.histogram(values, bins=5)
    assert last["acts"]["values"] == counts.tolist()
    np.testing.assert_allclose(last["acts"]["bins"], edges)
    assert "cfg" not in last  # text is no row value (W&B mirrors none)
    assert tracker.Api(root).run(f"tbx/{run.id}").summary["cfg"] == "lr=0.1"


def test_tf_summary(root: Path, tmp_path: Path) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    tf = pytest.importorskip("tensorflow")

    image = np.arange(2 * 4 * 5 * 3, dtype=np.uint8).reshape(2, 4, 5, 3)
    data = np.arange(20, dtype=np.float64)
    run = tracker.init(project="tf", sync_tensorboard=True)
    writer = tf.summary.create_file_writer(str(tmp_path / "tf"))
    with writer.as_default():
        for step in range(3):
            tf.summary.scalar("loss", 1.0 / (step + 1), step=step)
        tf.summary.histogram("h", data, step=2, buckets=4)
        tf.summary.image("img", image[:1], step=2)
        tf.summary.text("msg", "from tf", step=2)
    writer.close()
    run.finish()
    rows = _rows(root, run)
    assert [r["global_step"] for r in rows] == [0, 1, 2]
    np.testing.assert_array_equal([r["loss"] for r in rows], np.float32([1.0, 0.5, 1.0 / 3]))
    last = rows[-1]
    assert sum(last["h"]["values"]) == 20
    assert last["h"]["bins"][0] == 0.0
    assert last["h"]["bins"][-1] == 19.0
    np.testing.assert_array_equal(_pixels(run, last["img"]), image[0])
    assert tracker.Api(root).run(f"tf/{run.id}").summary["msg"] == "from tf"
    assert _step_metrics(run)["loss"] == "global_step"


def test_patching_imports_nothing_and_catches_a_later_import(root: Path, tmp_path: Path) -> None:
    script = f"""
import json, sys
sys.modules["tensorflow"] = None  # tensorboard imports TensorFlow when it can: seconds, not needed here
import tracker
run = tracker.init(project="lazy", sync_tensorboard=True)
names = ("torch", "tensorflow", "tensorboardX", "tensorboard")
heavy = sorted(m for m in names if sys.modules.get(m) is not None)
from torch.utils.tensorboard import SummaryWriter
w = SummaryWriter({str(tmp_path / "lazy")!r})
w.add_scalar("a", 2.0, 7)
w.close()
run.finish()
rows = tracker.Api().run("lazy/" + run.id).history(pandas=False)
print(json.dumps({{"heavy": heavy, "rows": [[r["global_step"], r["a"]] for r in rows]}}))
"""
    env = {**os.environ, "TRACKER_DIR": str(root)}
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120, check=True
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == {"heavy": [], "rows": [[7, 2.0]]}


def test_patch_and_unpatch_by_hand(root: Path, tmp_path: Path) -> None:
    from tensorboardX import SummaryWriter

    tracker.tensorboard.patch(root_logdir=str(tmp_path / "logs"))
    try:
        run = tracker.init(project="manual")
        writer = SummaryWriter(str(tmp_path / "logs" / "a"))
        writer.add_scalar("r", 1.0, 5)
        writer.close()
        run.finish()
    finally:
        tracker.tensorboard.unpatch()
    assert [(r["global_step"], r["a/r"]) for r in _rows(root, run)] == [(5, 1.0)]
    later = tracker.init(project="manual")
    writer = SummaryWriter(str(tmp_path / "logs" / "b"))
    writer.add_scalar("r", 2.0, 6)
    writer.close()
    later.finish()
    assert _rows(root, later) == []


def test_a_summary_that_cannot_be_mirrored_is_the_runs_problem(root: Path, tmp_path: Path) -> None:
    from torch.utils.tensorboard import SummaryWriter

    from tracker.tensorboard import _hooks

    run = tracker.init(project="tb", sync_tensorboard=True)
    writer = SummaryWriter(str(tmp_path / "bad"))
    _hooks._mirror_safely(lambda m: m.emit(None, 0, {"": 1.0}))  # an empty key: log() refuses it
    writer.add_scalar("fine", 1.0, 0)  # TensorBoard keeps writing
    writer.close()
    with pytest.raises(tracker.Error, match="could not be mirrored"):
        run.finish()  # strict mode (the suite's): the problem surfaces as an error
    assert list((tmp_path / "bad").glob("events.out.tfevents.*"))


def test_the_scripts_own_log_shares_the_open_row(root: Path, tmp_path: Path) -> None:
    from torch.utils.tensorboard import SummaryWriter

    run = tracker.init(project="mix", sync_tensorboard=True)
    writer = SummaryWriter(str(tmp_path / "mix"))
    writer.add_scalar("a", 1.0, 0)
    run.log({"b": 2.0})  # commits the open row, TensorBoard's value with it
    writer.add_scalar("a", 3.0, 1)
    writer.close()
    run.finish()
    rows = [{k: v for k, v in r.items() if not k.startswith("_")} for r in _rows(root, run)]
    assert rows == [{"a": 1.0, "b": 2.0, "global_step": 0}, {"a": 3.0, "global_step": 1}]
