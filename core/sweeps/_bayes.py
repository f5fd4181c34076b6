"""Bayesian search, powered by Optuna's TPE sampler (the ``sweeps`` extra).

Stateless like W&B's engine: each suggestion rebuilds an in-memory Optuna study from the
sweep's runs. What a run contributes follows W&B: a finished run its **best** logged
value; a failed, crashed, killed or hyperband-stopped run the ``metric.impute`` value (``worst`` by
default); a running or pending run is in flight (Optuna's constant liar accounts for it).

Parameter mapping: bounded forms search their value range (log scale for the log forms);
``q_`` forms search the continuous range and round as W&B does; normal and log-normal
forms search their quantile in ``[0, 1]``; categorical values are searched as unordered
choices of their index (W&B encodes them as ordered numbers), so lists and dicts work.
Results are model-based, not bit-identical to W&B's Gaussian process.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from typing import Any, Final

from tracker.sweeps._base import Observation, Suggestion, SweepSampler, point_key
from tracker.sweeps._config import Param
from tracker.sweeps._distributions import _quantize, cdf, inverse_cdf

__all__ = ["BayesSampler"]

#: Random suggestions before TPE models the results (W&B starts modelling after 2).
N_STARTUP: Final = 5
_U_FORMS: Final = frozenset({"normal", "q_normal", "log_normal", "q_log_normal"})
_TERMINAL_BAD: Final = frozenset({"failed", "crashed", "killed", "stopped"})
_FINISHED: Final = frozenset({"finished"})


class BayesSampler(SweepSampler):
    """Model-based search (``method: bayes``) with Optuna's ``TPESampler``.

    Example:
        >>> from tracker.sweeps import BayesSampler, parse_config  # doctest: +SKIP
        >>> cfg = parse_config({"method": "bayes", "metric": {"name": "loss"},
        ...                     "parameters": {"x": {"min": 0.0, "max": 1.0}}})  # doctest: +SKIP
        >>> BayesSampler(cfg).suggest([], index=0)  # doctest: +SKIP
    """

    def suggest(
        self, runs: Sequence[Observation], *, index: int, taken: Collection[str] = ()
    ) -> Suggestion | None:
        from tracker._optional import require_extra

        require_extra("optuna", feature="bayes sweeps", extra="sweeps")
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        metric = self.config.metric
        assert metric is not None  # parse_config requires it for bayes
        searched = [p for p in self.config.params if p.distribution != "constant"]
        dists = {p.name: _distribution(optuna, p) for p in searched}
        seed = self.config.seed
        sampler = optuna.samplers.TPESampler(
            seed=None if seed is None else (seed * 1_000_003 + index) % 2**32, n_startup_trials=N_STARTUP
        )
        direction = (
            optuna.study.StudyDirection.MAXIMIZE
            if metric.goal == "maximize"
            else optuna.study.StudyDirection.MINIMIZE
        )
        study = optuna.create_study(direction=direction, sampler=sampler)
        worst = _worst(runs, metric.goal)
        for run in runs:
            params = _encode(searched, run)
            if params is None:
                continue
            if run.state in _FINISHED or run.state in _TERMINAL_BAD:
                value = _value(run, metric.goal, metric.impute, worst)
                state = optuna.trial.TrialState.COMPLETE
            else:
                value, state = None, optuna.trial.TrialState.RUNNING
            study.add_trial(
                optuna.trial.create_trial(params=params, distributions=dists, value=value, state=state)
            )
        trial = study.ask(dists)
        values = {p.path: _decode(p, trial.params[p.name]) for p in searched}
        values.update(self.constants())
        return Suggestion(values, point_key(values, [p.path for p in searched]))


def _distribution(optuna: Any, p: Param) -> Any:
    d, s = p.distribution, p.spec
    float_dist = optuna.distributions.FloatDistribution
    if d in ("categorical", "categorical_w_probabilities"):
        # Optuna's choices must be simple scalars; W&B values may be lists or dicts.
        return optuna.distributions.CategoricalDistribution(list(range(len(s["values"]))))
    if d == "int_uniform":
        return optuna.distributions.IntDistribution(s["min"], s["max"])
    if d in ("uniform", "q_uniform"):
        return float_dist(float(s["min"]), float(s["max"]))
    if d in ("log_uniform", "q_log_uniform"):
        return float_dist(math.exp(s["min"]), math.exp(s["max"]), log=True)
    if d == "inv_log_uniform":
        return float_dist(math.exp(-s["max"]), math.exp(-s["min"]), log=True)
    if d in ("log_uniform_values", "q_log_uniform_values", "inv_log_uniform_values"):
        return float_dist(float(s["min"]), float(s["max"]), log=True)
    if d in _U_FORMS:
        return float_dist(0.0, 1.0)
    raise ValueError(f"bayes search does not support {d!r}")


def _encode(searched: list[Param], run: Observation) -> dict[str, Any] | None:
    out: dict[str, Any] = {}
    for p in searched:
        if p.path not in run.params:
            return None
        value = run.params[p.path]
        d, s = p.distribution, p.spec
        if d.startswith("categorical"):
            want = point_key({p.path: value}, [p.path])
            idx = [i for i, v in enumerate(s["values"]) if point_key({p.path: v}, [p.path]) == want]
            if not idx:
                return None  # not one of the values (the config changed): not an observation
            out[p.name] = idx[0]
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None
        if d in _U_FORMS:
            out[p.name] = min(max(cdf(d, s, float(value)), 0.0), 1.0)
            continue
        dist = _bounds(p)
        x = min(max(float(value), dist[0]), dist[1])
        out[p.name] = round(x) if d == "int_uniform" else x
    return out


def _bounds(p: Param) -> tuple[float, float]:
    d, s = p.distribution, p.spec
    if d in ("log_uniform", "q_log_uniform"):
        return math.exp(s["min"]), math.exp(s["max"])
    if d == "inv_log_uniform":
        return math.exp(-s["max"]), math.exp(-s["min"])
    return float(s["min"]), float(s["max"])


def _decode(p: Param, x: Any) -> Any:
    d, s = p.distribution, p.spec
    if d.startswith("categorical"):
        return s["values"][int(x)]
    if d in _U_FORMS:
        return inverse_cdf(d, s, float(x))
    if d.startswith("q_"):
        return _quantize(float(x), s["q"])
    return x


def _best(history: Sequence[float], goal: str) -> float | None:
    finite = [v for v in history if math.isfinite(v)]
    if not finite:
        return None
    return min(finite) if goal == "minimize" else max(finite)


def _worst(runs: Sequence[Observation], goal: str) -> float:
    # W&B: the worst per-run extreme among terminal runs, or 0.0 when none has a value.
    extremes = []
    for run in runs:
        finite = [v for v in run.history if math.isfinite(v)]
        if finite and (run.state in _FINISHED or run.state in _TERMINAL_BAD):
            extremes.append(max(finite) if goal == "minimize" else min(finite))
    if not extremes:
        return 0.0
    return max(extremes) if goal == "minimize" else min(extremes)


def _value(run: Observation, goal: str, impute: str, worst: float) -> float:
    best = _best(run.history, goal)
    if run.state in _FINISHED and best is not None:
        return best
    if impute == "best":
        return best if best is not None else 0.0
    if impute == "latest":
        finite = [v for v in run.history if math.isfinite(v)]
        return finite[-1] if finite else 0.0
    return worst
