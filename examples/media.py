"""Media: log images, a predictions table and a confusion matrix, then read them back.

Needs the ``[media]`` extra (``pip install 'tracker[media]'``: Pillow and PyAV;
images are written without them, Pillow reads them back here). Trains a tiny softmax
classifier on synthetic 8x8 "glyphs" with numpy, in a second or two on a CPU. Data goes
to ``$TRACKER_DIR`` (default ``~/.tracker``). Run: ``python examples/media.py``.
"""

from __future__ import annotations

import numpy as np

import tracker
from tracker import media

CLASSES = ["bar", "cross", "square"]


def make_glyphs(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` noisy 8x8 grey images of three shapes, and their labels."""
    shapes = np.zeros((3, 8, 8), np.float32)
    shapes[0, :, 3:5] = 1  # a vertical bar
    shapes[1, 3:5, :] = 1
    shapes[1, :, 3:5] = 1  # a cross
    shapes[2, 1:7, 1] = shapes[2, 1:7, 6] = shapes[2, 1, 1:7] = shapes[2, 6, 1:7] = 1  # a square
    labels = rng.integers(0, 3, n)
    images = np.clip(shapes[labels] + rng.normal(0, 0.35, (n, 8, 8)), 0, 1).astype(np.float32)
    return images, labels


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)  # type: ignore[no-any-return]


def main() -> None:
    rng = np.random.default_rng(0)
    x_train, y_train = make_glyphs(600, rng)
    x_val, y_val = make_glyphs(150, rng)
    w = np.zeros((64, 3))

    with tracker.init(project="media-demo", config={"lr": 0.5, "epochs": 30}) as run:
        # A few training samples: float pixels in [0, 1]; a mask marks the bright pixels.
        samples = [
            tracker.Image(
                x_train[i],
                caption=CLASSES[y_train[i]],
                masks={
                    "ink": {
                        "mask_data": (x_train[i] > 0.5).astype(np.uint8),
                        "class_labels": {0: "bg", 1: "ink"},
                    }
                },
            )
            for i in range(4)
        ]
        run.log({"samples": samples}, commit=False)

        for epoch in range(run.config.epochs):
            probs = softmax(x_train.reshape(-1, 64) @ w)
            grad = x_train.reshape(-1, 64).T @ (probs - np.eye(3)[y_train]) / len(y_train)
            w -= run.config.lr * grad
            val_probs = softmax(x_val.reshape(-1, 64) @ w)
            acc = float((val_probs.argmax(axis=1) == y_val).mean())
            run.log({"epoch": epoch, "val/acc": acc, "weights": tracker.Histogram(w, num_bins=32)})

        preds = val_probs.argmax(axis=1)
        table = tracker.Table(columns=["image", "truth", "prediction", "confidence"])
        for i in range(12):
            table.add_data(
                tracker.Image(x_val[i]), CLASSES[y_val[i]], CLASSES[preds[i]], float(val_probs[i].max())
            )
        run.log(
            {
                "predictions": table,
                "confusion": tracker.plot.confusion_matrix(
                    probs=val_probs, y_true=y_val, class_names=CLASSES
                ),
                "roc": tracker.plot.roc_curve(y_val, val_probs, labels=CLASSES),
            }
        )
        run_dir = run.dir
        print(f"logged {run.step} steps to {run_dir}")

    # Read it back: the step index of each media key, the pixels, the tables.
    entries = media.media_entries(run_dir)
    for key, logged in entries.items():
        print(f"  {key}: {len(logged)} value(s) at steps {media.media_steps(logged)[:5]}")
    first = entries["samples"][0].refs[0]
    pixels = media.read_image(run_dir, first)
    print(f"first sample: {first['caption']!r}, {pixels.shape} pixels, stored as {first['path']}")
    _chart, confusion = media.read_chart(run_dir, entries["confusion"][-1].value, pandas=False)
    for actual, predicted, count in confusion["data"]:
        if count:
            print(f"  {actual:>6} -> {predicted:<6} {count}")


if __name__ == "__main__":
    main()
