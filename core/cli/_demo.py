"""``tracker demo``: log a few realistic runs into a ``demo`` project, then open the dashboard.

The data is synthetic but shaped like a small language-model ablation: a learning-rate
sweep, a wider model, a run without warm-up that diverges for one step (a single loss
spike, which the charts' min/max band must keep), one failed run, images every few
hundred steps, a weight histogram over time, a predictions table, system metrics as the
sampler records them, and a versioned model artifact linked into the model registry.
Everything is seeded (numpy ``default_rng(0)``), needs no torch, and takes a few seconds.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    import numpy as np

    from tracker._run import Run

__all__: list[str] = []

PROJECT: Final = "demo"
STEPS: Final = 1500
#: (name, config overrides, tags) of the hand-made runs; the sweep adds ``lr-sweep-*`` runs.
_RUNS: Final[tuple[tuple[str, dict[str, Any], tuple[str, ...]], ...]] = (
    ("baseline", {}, ("baseline",)),
    ("lr-1e-3", {"lr": 1e-3}, ("lr",)),
    ("wide", {"layers": 24, "batch_size": 128}, ("width",)),
    ("no-warmup", {"warmup": 0, "optimizer": "sgd"}, ("warmup",)),
)
_BASE_CONFIG: Final[dict[str, Any]] = {
    "lr": 3e-4,
    "batch_size": 64,
    "optimizer": "adamw",
    "layers": 12,
    "warmup": 200,
    "dataset": "wikitext-103",
}
SWEEP_CONFIG: Final[dict[str, Any]] = {
    "name": "lr-sweep",
    "method": "grid",
    "metric": {"name": "val/loss", "goal": "minimize"},
    "parameters": {
        "lr": {"values": [1e-4, 3e-4, 1e-3, 3e-3]},
        "warmup": {"values": [0, 200]},
    },
}


def add(commands: Any, common: argparse.ArgumentParser) -> None:
    """Register ``demo``."""
    demo = commands.add_parser(
        "demo",
        help="log a few demo runs and open the dashboard",
        description="Log a few realistic demo runs (metrics with noise and a spike, images, a "
        "histogram, a table, system metrics, an artifact, a small sweep) into the project "
        f"{PROJECT!r} of the data root, then serve the dashboard like `tracker ui`.",
        parents=[common],
    )
    demo.add_argument(
        "--port", type=int, default=8765, help="dashboard port (default 8765; 0 picks a free one)"
    )
    demo.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    demo.add_argument("--no-ui", action="store_true", help="only log the runs; do not start the dashboard")
    demo.add_argument("--no-open", action="store_true", help="do not open a web browser")
    demo.add_argument("--no-token", action="store_true", help="do not require the per-launch token")
    demo.add_argument(
        "--again", action="store_true", help=f"log another set of runs when {PROJECT!r} already has some"
    )
    demo.set_defaults(_func=run_demo, _parser=demo)


def run_demo(args: argparse.Namespace) -> int:
    """``tracker demo``."""
    from tracker._settings import data_root
    from tracker.cli._ui import serve
    from tracker.errors import UsageError

    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port}: use 0-65535.")
    root = data_root(getattr(args, "root", None))
    existing = _run_count(root)
    if existing and not args.again:
        print(
            f"tracker demo: project {PROJECT!r} of {root} already has {existing} runs; "
            "opening it (--again logs another set)",
            file=sys.stderr,
        )
    else:
        started = time.perf_counter()
        names = log_demo(root)
        print(
            f"tracker demo: logged {len(names)} runs into project {PROJECT!r} of {root} "
            f"in {time.perf_counter() - started:.1f} s",
            file=sys.stderr,
        )
    if args.no_ui:
        return 0
    return serve(
        root,
        host=args.host,
        port=args.port,
        token_required=not args.no_token,
        path=f"/projects/{PROJECT}",
        open_browser=not args.no_open,
    )


def _run_count(root: Path) -> int:
    """Runs already in the demo project (0 when there is no data root yet)."""
    from tracker._naming import project_dir

    if not project_dir(root, PROJECT).is_dir():
        return 0
    from tracker.api import Api

    api = Api(root)
    try:
        return sum(p.run_count for p in api.projects() if p.name == PROJECT)
    finally:
        api.close()


def log_demo(root: Path) -> list[str]:
    """Log the demo runs into ``root``; return their names in logging order."""
    import numpy as np

    import tracker

    rng = np.random.default_rng(0)
    names: list[str] = []
    for i, (name, overrides, tags) in enumerate(_RUNS):
        config = {**_BASE_CONFIG, **overrides}
        run = tracker.init(
            project=PROJECT,
            dir=str(root),
            name=name,
            config=config,
            tags=["demo", *tags],
            settings={"x_disable_stats": True, "console": "off", "disable_git": True},
        )
        _train(run, config, rng, index=i, media=name == "baseline", spike=name == "no-warmup")
        if name == "baseline":
            _model_artifacts(run, rng)
        run.finish(exit_code=1 if name == "lr-1e-3" else 0)
        names.append(name)

    sweep_id = tracker.sweep(dict(SWEEP_CONFIG), project=PROJECT, root=root)
    count = [0]

    def trial() -> None:
        config = dict(_BASE_CONFIG)
        run = tracker.init(
            dir=str(root),
            name=f"lr-sweep-{count[0]}",
            tags=["demo", "sweep"],
            settings={"x_disable_stats": True, "console": "off", "disable_git": True},
        )
        config.update({k: run.config[k] for k in ("lr", "warmup")})
        run.config.update({k: v for k, v in config.items() if k not in run.config})
        _train(run, config, rng, index=count[0], steps=300)
        names.append(run.name or run.id)
        count[0] += 1
        run.finish()

    tracker.agent(sweep_id, function=trial, root=root)
    return names


def _curve(config: dict[str, Any], index: int, steps: int) -> np.ndarray:
    """The noiseless loss of a run: faster with a higher lr, a floor set by width and lr."""
    import numpy as np

    lr = float(config["lr"])
    speed = 250.0 * (3e-4 / lr) ** 0.5 * (1 + 0.15 * index)
    floor = 0.35 + 0.6 * abs(math.log10(lr / 5e-4)) ** 2 / 4 - (0.08 if config["layers"] > 12 else 0.0)
    t = np.arange(steps, dtype=np.float64)
    curve: np.ndarray = floor + 2.4 * np.exp(-t / speed)
    return curve


def _train(
    run: Run,
    config: dict[str, Any],
    rng: np.random.Generator,
    *,
    index: int,
    steps: int = STEPS,
    media: bool = False,
    spike: bool = False,
) -> None:
    import tracker

    smooth = _curve(config, index, steps)
    noise = rng.normal(0.0, 0.035, steps)
    warmup = max(int(config["warmup"]), 1)
    weights = rng.normal(0.0, 0.02, 4096)
    for step in range(steps):
        loss = float(smooth[step] + noise[step] * smooth[step])
        if spike and step == steps * 6 // 10:
            loss = 7.5  # one diverging step: a single spike the min/max band keeps
        row: dict[str, Any] = {
            "train/loss": loss,
            "train/acc": float(1.0 - smooth[step] / 3.2 + 0.01 * noise[step]),
            "lr": float(config["lr"])
            * min(1.0, (step + 1) / warmup)
            * (0.5 + 0.5 * math.cos(math.pi * step / steps)),
            "grad_norm": float(
                abs(rng.normal(1.0, 0.2)) * (3.0 if spike and step == steps * 6 // 10 else 1.0)
            ),
        }
        if step % 50 == 0 or step == steps - 1:
            row["val/loss"] = float(smooth[step] + 0.06 + 0.015 * rng.normal())
            row["val/acc"] = float(1.0 - (smooth[step] + 0.06) / 3.2)
        if step % 100 == 0:
            weights = weights * 0.97 + rng.normal(0.0, 0.004 + 0.02 * step / steps, weights.size)
            row["weights/layer0"] = tracker.Histogram(weights, num_bins=48)
        if media and step % 250 == 0:
            row["samples"] = tracker.Image(_sample_image(step / steps), caption=f"step {step}")
        run.log(row)
        if step % 25 == 0:
            _system_sample(run, step / steps, rng)
    preds = [[i, int(rng.integers(0, 10)), float(rng.uniform(0.5, 1.0))] for i in range(20)]
    run.log({"predictions": tracker.Table(columns=["id", "label", "score"], data=preds)})
    run.summary["best_val_loss"] = float(smooth.min() + 0.06)


def _sample_image(t: float) -> np.ndarray:
    import numpy as np

    yy, xx = np.mgrid[0:128, 0:128] / 128.0
    img = np.stack(
        [np.sin(8 * xx + 6 * t) * 0.5 + 0.5, np.cos(8 * yy - 4 * t) * 0.5 + 0.5, np.full_like(xx, t)],
        axis=-1,
    )
    return (img * 255).astype(np.uint8)


def _system_sample(run: Run, progress: float, rng: np.random.Generator) -> None:
    """One synthetic system sample, queued exactly as the sampler queues its samples.

    The demo turns the real sampler off so that its data is the same on every machine;
    it feeds the run's port (``system_sample``) as ``tracker._stats.attach`` does.
    """
    run.system_sample(
        time.time(),
        {
            "system.cpu": float(85.0 + 10.0 * rng.random()),
            "system.cpu_percent": float(60.0 + 20.0 * rng.random()),
            "system.memory_percent": float(30.0 + 25.0 * progress),
            "system.proc.memory.rssMB": float(1800.0 + 900.0 * progress),
            "system.gpu.0.gpu": float(92.0 + 6.0 * rng.random()),
            "system.gpu.0.memoryAllocated": float(40.0 + 35.0 * progress),
            "system.gpu.0.temp": float(55.0 + 20.0 * progress),
            "system.gpu.0.powerWatts": float(250.0 + 60.0 * rng.random()),
        },
    )


def _model_artifacts(run: Run, rng: np.random.Generator) -> None:
    import tracker

    for epoch in range(3):
        art = tracker.Artifact("demo-model", type="model", metadata={"epoch": epoch, "layers": 12})
        with art.new_file("model.safetensors", mode="xb") as f:
            f.write(rng.bytes(4096 * (epoch + 1)))
        with art.new_file("config.json") as f:
            f.write(f'{{"layers": 12, "epoch": {epoch}}}')
        run.log_artifact(art, aliases=["best"] if epoch == 2 else None).wait()
        if epoch:  # the registry holds the last two: one in production, the newest in staging
            run.link_artifact(
                art, "model-registry/demo-lm", aliases=["production" if epoch == 1 else "staging"]
            )
