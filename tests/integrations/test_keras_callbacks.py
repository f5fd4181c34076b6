"""Keras TrackerModelCheckpoint and TrackerEvalCallback against Keras' own saves and predictions."""

from __future__ import annotations

import importlib.util
import json
import textwrap

import pytest

# Not imported here: keras in this process would load TensorFlow; the script runs on torch.
if importlib.util.find_spec("keras") is None or importlib.util.find_spec("torch") is None:
    pytest.skip("needs keras and torch", allow_module_level=True)

import tracker

SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    sys.modules["tensorflow"] = None  # the torch backend needs none; importing it costs seconds
    import numpy as np
    import keras
    import tracker
    from tracker.integrations.keras import TrackerEvalCallback, TrackerModelCheckpoint

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.random((48, 4)).astype("float32")
    y = (x.sum(1) > 2).astype("int64")
    xv, yv = x[:8], y[:8]
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="sparse_categorical_crossentropy")

    class Preds(TrackerEvalCallback):
        def add_ground_truth(self, logs=None):
            for i, label in enumerate(yv):
                self.data_table.add_data(i, int(label))

        def add_model_predictions(self, epoch, logs=None):
            preds = self.model.predict(xv, verbose=0).argmax(-1)
            for i, row in zip(self.data_table_ref.get_index(), self.data_table_ref.data):
                self.pred_table.add_data(epoch, row[0], row[1], int(preds[i]))

    run = tracker.init(project="kc")
    opts = dict(monitor="val_loss", save_best_only=True)
    callbacks = [
        TrackerModelCheckpoint("best/m-{epoch:02d}.keras", **opts),
        keras.callbacks.ModelCheckpoint("twin/m-{epoch:02d}.keras", **opts),  # Keras' own decisions
        TrackerModelCheckpoint("never/m.keras", initial_value_threshold=0.0, **opts),
        TrackerModelCheckpoint("batch/w-{epoch}-{batch}.weights.h5", save_weights_only=True, save_freq=2),
        Preds(["idx", "label"], ["epoch", "idx", "label", "pred"]),
    ]
    import time; t0 = time.perf_counter()
    model.fit(x[8:], y[8:], epochs=3, batch_size=10, validation_data=(xv, yv), verbose=0, callbacks=callbacks)
    fit_s = time.perf_counter() - t0
    final = [int(p) for p in model.predict(xv, verbose=0).argmax(-1)]
    tracker.finish()
    saved = {d: sorted(os.listdir(d)) if os.path.isdir(d) else [] for d in ("best", "twin", "never", "batch")}
    labels = [int(v) for v in yv]
    print(json.dumps({"run": run.id, "fit_s": fit_s, "final": final, "labels": labels, **saved}))
    """
)


def test_checkpoints_follow_keras_and_prediction_tables(run_script) -> None:
    proc = run_script(SCRIPT, env={"KERAS_BACKEND": "torch"})
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    api = tracker.Api()
    versions = api.artifact_versions("model", f"kc/run_{out['run']}_model")
    logged = sorted(entry.path for v in versions for entry in v.files())
    # save_best_only: exactly the files Keras' own ModelCheckpoint wrote; the threshold of 0
    # is never beaten (nothing logged); every 2 batches: 4 batches an epoch -> 2 saves x 3 epochs.
    assert out["best"] == out["twin"]
    assert out["never"] == []
    assert out["batch"] == [f"w-{e}-{b}.weights.h5" for e in (1, 2, 3) for b in (2, 4)]
    assert logged == sorted(out["best"] + out["batch"])
    by_file = {v.files()[0].path: v.aliases for v in versions}
    assert all(f"epoch_{int(name[2:4]) - 1}" in by_file[name] for name in out["best"])
    assert "best" in by_file[out["best"][-1]]  # aliases move: the last improvement holds it
    assert "epoch_0_batch_1" in by_file["w-1-2.weights.h5"]
    # Prediction tables: the ground truth once, one prediction table per epoch.
    run = api.run(f"kc/{out['run']}")
    assert [a.name.split(":")[0] for a in run.used_artifacts()] == ["val"]
    preds = api.artifact_versions("evaluation", f"kc/run_{out['run']}_pred")
    assert len(preds) == 3
    table = api.artifact(f"kc/run_{out['run']}_pred:latest").get("eval_data")
    assert table.columns == ["epoch", "idx", "label", "pred"]
    assert [row[3] for row in table.data] == out["final"]
    assert [row[2] for row in table.data] == out["labels"]
    assert {row[0] for row in table.data} == {2}
