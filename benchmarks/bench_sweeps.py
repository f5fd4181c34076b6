"""Bayes (Optuna TPE) vs random search on Branin (2-d): median best after 30 runs, 5 seeds.

Usage: python benchmarks/bench_sweeps.py  (needs tracker[sweeps]). Exit code 1 if bayes is
not better than random, so CI can run it as a check.
"""

from __future__ import annotations

import math
import statistics
import sys

from tracker.sweeps import BayesSampler, Observation, RandomSampler, parse_config

RUNS = 30
SEEDS = range(5)


def branin(x: float, y: float) -> float:
    a, b, c, r, s, t = 1, 5.1 / (4 * math.pi**2), 5 / math.pi, 6, 10, 1 / (8 * math.pi)
    return a * (y - b * x**2 + c * x - r) ** 2 + s * (1 - t) * math.cos(x) + s


def best(method: str, seed: int) -> float:
    cfg = parse_config(
        {
            "method": method,
            "seed": seed,
            "metric": {"name": "loss"},
            "parameters": {"x": {"min": -5.0, "max": 10.0}, "y": {"min": 0.0, "max": 15.0}},
        }
    )
    sampler = BayesSampler(cfg) if method == "bayes" else RandomSampler(cfg)
    runs: list[Observation] = []
    for i in range(RUNS):
        s = sampler.suggest(runs, index=i)
        assert s is not None
        runs.append(Observation(f"r{i}", "finished", s.params, [branin(s.params[("x",)], s.params[("y",)])]))
    return min(r.history[0] for r in runs)


def main() -> int:
    medians = {m: statistics.median(best(m, seed) for seed in SEEDS) for m in ("random", "bayes")}
    for method, value in medians.items():
        print(f"{method:>6}: median best after {RUNS} runs, {len(SEEDS)} seeds = {value:.4f} (optimum 0.398)")
    return 0 if medians["bayes"] < medians["random"] else 1


if __name__ == "__main__":
    sys.exit(main())
