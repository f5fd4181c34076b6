"""Keras 3 TrackerCallback on the torch backend (and TensorFlow when installed), in subprocesses."""

from __future__ import annotations

import json
import textwrap

import pytest

pytest.importorskip("keras")

import tracker

SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    if os.environ["KERAS_BACKEND"] != "tensorflow":
        sys.modules["tensorflow"] = None  # prove the torch backend needs no TensorFlow at all
    import numpy as np
    import keras
    import tracker
    from tracker.integrations.keras import TrackerCallback

    x = np.random.default_rng(0).random((64, 4)).astype("float32")
    y = (x.sum(1) > 2).astype("float32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(1, activation="sigmoid")])
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=2, decay_rate=0.5)
    model.compile(optimizer=keras.optimizers.SGD(schedule), loss="binary_crossentropy", metrics=["accuracy"])
    cb = TrackerCallback(log_freq=LOG_FREQ)
    model.fit(x, y, epochs=3, batch_size=16, validation_split=0.25, verbose=0, callbacks=[cb])
    model.evaluate(x, y, verbose=0, callbacks=[cb])
    print(json.dumps({"run": cb.run.id, "tf": sys.modules.get("tensorflow") is not None}))
    """
)


@pytest.mark.parametrize(
    ("backend", "log_freq"), [("torch", "'epoch'"), ("torch", "3"), ("tensorflow", "'epoch'")]
)
def test_fit_logs_epoch_metrics_and_learning_rate(backend, log_freq, run_script) -> None:
    if backend == "tensorflow":
        pytest.importorskip("tensorflow")
    else:
        pytest.importorskip(backend)
    proc = run_script(SCRIPT.replace("LOG_FREQ", log_freq), env={"KERAS_BACKEND": backend})
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    if backend == "torch":
        assert out["tf"] is False  # no TensorFlow needed on the torch backend
    run = tracker.Api().run(f"uncategorized/{out['run']}")
    rows = run.history(pandas=False)
    assert run.state == "finished"
    epochs = [r for r in rows if "epoch/epoch" in r and "epoch/loss" in r]
    assert [r["epoch/epoch"] for r in epochs] == [0, 1, 2]
    assert all("epoch/val_loss" in r for r in epochs)
    lrs = [r["epoch/learning_rate"] for r in epochs]
    assert lrs[0] == pytest.approx(0.1 * 0.5 ** (3 / 2), rel=1e-4)
    assert lrs == sorted(lrs, reverse=True)
    assert any("eval/loss" in r for r in rows)
    assert run.config["keras"]["num_parameters"] == 4 * 8 + 8 + 8 + 1
    assert "Dense" in run.summary["model/summary"] or "dense" in run.summary["model/summary"]
    batches = [r["batch/batch_step"] for r in rows if "batch/loss" in r]
    assert batches == ([] if log_freq == "'epoch'" else [3, 6, 9])


def test_epoch_mode_keeps_keras_batch_hooks_default() -> None:
    import keras

    from tracker.integrations.keras import TrackerCallback

    assert keras.src.utils.python_utils.is_default(TrackerCallback().on_train_batch_end)
    batch = TrackerCallback(log_freq="batch")
    assert not keras.src.utils.python_utils.is_default(batch.on_train_batch_end)
    assert batch.async_safe
    with pytest.raises(tracker.errors.UsageError, match="log_freq"):
        TrackerCallback(log_freq=0)
    with pytest.raises(tracker.errors.UsageError, match="log_model"):
        TrackerCallback(log_model="some")
