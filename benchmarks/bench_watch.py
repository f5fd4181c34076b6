"""bench_watch: the training-step cost of ``run.watch(model, log="all", log_freq=100)``.

Issue 6's target: on a small CNN on CPU with one torch thread, 5 trials of 300 steps with
and without ``watch``, interleaved (off/on, then on/off, ...) so machine noise falls on both;
the median step-time ratio (watched / plain) must be at most 1.05. Both variants log the
loss every step to a real run, so the ratio isolates the histogram hooks.

Usage::

    python benchmarks/bench_watch.py            # 5 trials x 300 steps
    python benchmarks/bench_watch.py --smoke    # 3 trials x 150 steps, fails at 3x the overhead budget
    python benchmarks/bench_watch.py --device cuda   # the same model on a GPU (histograms binned there)
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time


def _trial(watched: bool, steps: int, seed: int, device: str = "cpu", warmup: int = 10) -> float:
    import torch
    from torch import nn

    import tracker

    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(4),
        nn.Flatten(), nn.Linear(32 * 16, 10),
    )  # fmt: skip
    model = model.to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x = torch.randn(32, 3, 32, 32, device=device)
    y = torch.randint(0, 10, (32,), device=device)
    loss_fn = nn.CrossEntropyLoss()
    run = tracker.init(project="bench-watch", settings={"console": "off", "stats_interval": 0})
    if watched:
        run.watch(model, log="all", log_freq=100)
    for _ in range(warmup):  # warm-up, untimed
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    sync()
    start = time.perf_counter()
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        run.log({"loss": loss.detach()})
    sync()
    elapsed = time.perf_counter() - start
    run.finish()
    return elapsed / steps


def main(argv: list[str] | None = None) -> int:
    """Run the interleaved trials and print the ratio; return 1 when over budget."""
    parser = argparse.ArgumentParser(prog="bench_watch.py")
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--trials", type=int, default=None)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--device", default="cpu", help="torch device (cpu, cuda)")
    parser.add_argument(
        "--warmup", type=int, default=10, help="untimed steps first (100+ includes a histogram round)"
    )
    args = parser.parse_args(argv)
    trials = args.trials or (3 if args.smoke else 5)
    steps = args.steps or (150 if args.smoke else 300)
    import torch

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="bench-watch-") as tmp:
        os.environ["TRACKER_DIR"] = tmp
        plain: list[float] = []
        watched: list[float] = []
        for trial in range(trials):
            # Alternate which variant goes first, so warm-up effects fall on both.
            order = (False, True) if trial % 2 == 0 else (True, False)
            for flag in order:
                (watched if flag else plain).append(_trial(flag, steps, trial, args.device, args.warmup))
    ratios = [w / p for w, p in zip(watched, plain, strict=True)]
    ratio = statistics.median(ratios)
    budget = 1.05
    limit = 1 + (budget - 1) * 3 if args.smoke else budget
    where = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else "CPU, 1 thread"
    print(f"torch {torch.__version__}, {where}, {trials} trials x {steps} steps, small CNN, batch 32")
    print(f"plain   step ms: {', '.join(f'{t * 1e3:.2f}' for t in plain)}")
    print(f"watched step ms: {', '.join(f'{t * 1e3:.2f}' for t in watched)} (log='all', log_freq=100)")
    note = f", smoke limit {limit}" if args.smoke else ""
    print(f"median ratio watched/plain: {ratio:.3f} (target <= {budget}{note})")
    return 0 if ratio <= limit else 1


if __name__ == "__main__":
    sys.exit(main())
