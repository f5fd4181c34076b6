"""Quickstart: train a tiny model, log it with tracker, and read the run back.

Needs only the base install (``pip install tracker``); data goes to ``$TRACKER_DIR``
(default ``~/.tracker``). Run: ``python examples/quickstart.py``.
"""

from __future__ import annotations

import math
import random

import tracker


def main() -> None:
    rng = random.Random(0)
    xs = [rng.uniform(-1, 1) for _ in range(256)]
    ys = [3.0 * x - 0.5 + rng.gauss(0, 0.1) for x in xs]
    config = {"lr": 0.1, "epochs": 40, "model": {"kind": "linear", "bias": True}}

    with tracker.init(project="quickstart", config=config, tags=["demo"]) as run:
        tracker.define_metric("loss", summary="min,last")
        w, b = 0.0, 0.0
        for _epoch in range(run.config.epochs):
            gw = gb = loss = 0.0
            for x, y in zip(xs, ys, strict=True):
                err = w * x + b - y
                loss += err * err / len(xs)
                gw += 2 * err * x / len(xs)
                gb += 2 * err / len(xs)
            w -= run.config.lr * gw
            b -= run.config.lr * gb
            tracker.log({"loss": loss, "params": {"w": w, "b": b}, "rmse": math.sqrt(loss)})
        run.summary["final_w"] = w
        run_path = f"{run.project}/{run.id}"
        print(f"logged {run.step} steps to {run.dir}")

    api_run = tracker.Api().run(run_path)
    print(f"run {api_run.id} ({api_run.name}) state={api_run.state}")
    print(f"config: {dict(api_run.config)}")
    loss = api_run.summary["loss"]
    final_w = api_run.summary["final_w"]
    print(f"summary: loss min={loss['min']:.4f} last={loss['last']:.4f} final_w={final_w:.3f}")
    for row in api_run.scan_history(keys=["_step", "loss", "params.w"]):
        if row["_step"] % 10 == 0:
            print(f"  step {row['_step']:>3}  loss {row['loss']:.4f}  w {row['params.w']:.3f}")


if __name__ == "__main__":
    main()
