"""Sweep: a tiny random search over a learning rate and an epoch count, run in-process.

Needs only the base install (``pip install tracker``), runs in a few seconds on CPU; data
goes to ``$TRACKER_DIR`` (default ``~/.tracker``). Run: ``python examples/sweep.py``.

``tracker.sweep`` takes a W&B sweep config as it is; ``tracker.agent(..., function=train)``
calls ``train`` once per run, and inside it ``tracker.init()`` finds the suggested values
in ``tracker.config``. The same sweep can be run from a shell with ``tracker agent ID``
when the config names a ``program``.
"""

from __future__ import annotations

import random

import tracker

SWEEP = {
    "method": "random",
    "seed": 0,
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {
        "lr": {"distribution": "log_uniform_values", "min": 1e-3, "max": 0.5},
        "epochs": {"values": [10, 20, 40]},
    },
}


def train() -> None:
    """Fit y = 3x - 0.5 by gradient descent with the sweep's lr and epochs."""
    rng = random.Random(0)
    xs = [rng.uniform(-1, 1) for _ in range(128)]
    ys = [3.0 * x - 0.5 + rng.gauss(0, 0.1) for x in xs]
    with tracker.init(config={"model": "linear"}) as run:
        w = b = 0.0
        for _ in range(run.config.epochs):
            gw = gb = loss = 0.0
            for x, y in zip(xs, ys, strict=True):
                err = w * x + b - y
                loss += err * err / len(xs)
                gw += 2 * err * x / len(xs)
                gb += 2 * err / len(xs)
            w -= run.config.lr * gw
            b -= run.config.lr * gb
            run.log({"loss": loss})


def main() -> None:
    sweep_id = tracker.sweep(SWEEP, project="sweep-demo")
    taken = tracker.agent(sweep_id, function=train, count=5)
    sweep = tracker.Api().sweep(f"sweep-demo/{sweep_id}")
    print(f"sweep {sweep_id}: {taken} runs, state={sweep.state}")
    for run in sweep.runs:
        lr, epochs, loss = run.config["lr"], run.config["epochs"], run.summary["loss"]
        print(f"  {run.id} lr={lr:.4g} epochs={epochs} loss={loss:.4f}")
    best = sweep.best_run()
    assert best is not None
    print(f"best run {best.id}: lr={best.config['lr']:.4g} loss={best.summary['loss']:.4f}")


if __name__ == "__main__":
    main()
