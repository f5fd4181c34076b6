"""The W&B parameter distributions: defaults, value ranges and inverse CDFs.

Every non-constant parameter maps a number ``u`` in ``[0, 1)`` to a value through its
inverse CDF, exactly as W&B's random search does; the grid expands the discrete forms.
Only the standard library is used.
"""

from __future__ import annotations

import math
import random
from statistics import NormalDist
from typing import Any, Final

__all__: list[str] = []

#: Defaults W&B fills in for each distribution.
DEFAULTS: Final[dict[str, dict[str, Any]]] = {
    "q_uniform": {"q": 1.0},
    "q_log_uniform": {"q": 1.0},
    "q_log_uniform_values": {"q": 1.0},
    "normal": {"mu": 0.0, "sigma": 1.0},
    "q_normal": {"mu": 0.0, "sigma": 1.0, "q": 1.0},
    "log_normal": {"mu": 0.0, "sigma": 1.0},
    "q_log_normal": {"mu": 0.0, "sigma": 1.0, "q": 1.0},
    "beta": {"a": 1.0, "b": 1.0},
    "q_beta": {"a": 1.0, "b": 1.0, "q": 1.0},
}

#: Keys each distribution accepts (besides ``distribution``); required ones first.
BOUNDED: Final = frozenset(
    {
        "uniform",
        "int_uniform",
        "q_uniform",
        "log_uniform",
        "log_uniform_values",
        "q_log_uniform",
        "q_log_uniform_values",
        "inv_log_uniform",
        "inv_log_uniform_values",
    }
)
KEYS: Final[dict[str, frozenset[str]]] = {
    "constant": frozenset({"value"}),
    "categorical": frozenset({"values"}),
    "categorical_w_probabilities": frozenset({"values", "probabilities"}),
    **{name: frozenset({"min", "max"} | ({"q"} if name.startswith("q_") else set())) for name in BOUNDED},
    "normal": frozenset({"mu", "sigma"}),
    "q_normal": frozenset({"mu", "sigma", "q"}),
    "log_normal": frozenset({"mu", "sigma"}),
    "q_log_normal": frozenset({"mu", "sigma", "q"}),
    "beta": frozenset({"a", "b"}),
    "q_beta": frozenset({"a", "b", "q"}),
}
#: Distributions whose bounds are natural-log exponents (W&B's deprecated forms).
EXPONENT_FORMS: Final = frozenset({"log_uniform", "q_log_uniform", "inv_log_uniform"})
#: Distributions whose bounds are values and must be positive.
VALUE_LOG_FORMS: Final = frozenset({"log_uniform_values", "q_log_uniform_values", "inv_log_uniform_values"})
#: What grid search can enumerate.
GRID_FORMS: Final = frozenset({"constant", "categorical", "int_uniform", "q_uniform"})
#: Largest and smallest exponents that float64 ``exp`` can represent.
EXP_MAX: Final = 709.78
EXP_MIN: Final = -745.0

_STD: Final = NormalDist()


def _quantize(x: float, q: float) -> float | int:
    value = round(x / q) * q
    return round(value) if isinstance(q, int) else value


def inverse_cdf(dist: str, spec: dict[str, Any], u: float) -> Any:
    """The value of ``dist`` at quantile ``u`` in ``[0, 1)``; W&B's random-search formulas."""
    u = min(max(u, 1e-12), 1 - 1e-12)  # the normal quantile is infinite at 0 and 1
    lo: Any = spec.get("min")
    hi: Any = spec.get("max")
    q = spec.get("q", 1.0)
    if dist == "uniform":
        return lo + u * (hi - lo)
    if dist == "int_uniform":
        return min(int(lo + math.floor(u * (hi - lo + 1))), hi)
    if dist == "q_uniform":
        return _quantize(lo + u * (hi - lo), q)
    if dist in ("log_uniform", "q_log_uniform"):
        x = math.exp(lo + u * (hi - lo))
        return x if dist == "log_uniform" else _quantize(x, q)
    if dist in ("log_uniform_values", "q_log_uniform_values"):
        x = math.exp(math.log(lo) + u * (math.log(hi) - math.log(lo)))
        return x if dist == "log_uniform_values" else _quantize(x, q)
    if dist == "inv_log_uniform":
        return math.exp(-(lo + u * (hi - lo)))
    if dist == "inv_log_uniform_values":
        return math.exp(-(-math.log(hi) + u * (math.log(hi) - math.log(lo))))
    if dist in ("normal", "q_normal", "log_normal", "q_log_normal"):
        x = spec["mu"] + spec["sigma"] * _STD.inv_cdf(u)
        if "log" in dist:
            x = math.exp(x)
        return _quantize(x, q) if dist.startswith("q_") else x
    raise ValueError(f"no inverse CDF for {dist!r}")


def sample(dist: str, spec: dict[str, Any], rng: random.Random) -> Any:
    """Draw one value of a parameter (W&B's random search)."""
    if dist == "constant":
        return spec["value"]
    if dist == "categorical":
        return spec["values"][rng.randrange(len(spec["values"]))]
    if dist == "categorical_w_probabilities":
        return rng.choices(spec["values"], weights=spec["probabilities"])[0]
    if dist in ("beta", "q_beta"):
        x = rng.betavariate(spec["a"], spec["b"])
        return _quantize(x, spec["q"]) if dist == "q_beta" else x
    return inverse_cdf(dist, spec, rng.random())


def cdf(dist: str, spec: dict[str, Any], x: float) -> float:
    """The quantile of value ``x`` (the inverse of :func:`inverse_cdf`, for bayes)."""
    if dist in ("normal", "q_normal"):
        return _STD.cdf((x - spec["mu"]) / spec["sigma"])
    if dist in ("log_normal", "q_log_normal"):
        return _STD.cdf((math.log(max(x, 1e-300)) - spec["mu"]) / spec["sigma"])
    raise ValueError(f"no CDF for {dist!r}")


def value_range(dist: str, spec: dict[str, Any]) -> tuple[float, float] | None:
    """The interval a bounded distribution samples, in value space; None when unbounded."""
    lo: Any = spec.get("min")
    hi: Any = spec.get("max")
    if dist in ("uniform", "int_uniform", "q_uniform"):
        return (lo, hi)
    if dist in ("log_uniform", "q_log_uniform"):
        return (_exp(lo), _exp(hi))
    if dist == "inv_log_uniform":
        return (_exp(-hi), _exp(-lo))
    if dist in VALUE_LOG_FORMS:
        return (lo, hi)
    if dist in ("beta", "q_beta"):
        return (0.0, 1.0)
    return None


def _exp(x: float) -> float:
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


def grid_values(dist: str, spec: dict[str, Any]) -> list[Any]:
    """The values grid search enumerates (W&B: int_uniform inclusive, q_uniform below max)."""
    if dist == "constant":
        return [spec["value"]]
    if dist == "categorical":
        return list(spec["values"])
    if dist == "int_uniform":
        return list(range(spec["min"], spec["max"] + 1))
    if dist == "q_uniform":
        lo, hi, q = spec["min"], spec["max"], spec["q"]
        out: list[Any] = []
        k = 0
        while lo + k * q < hi:
            value = lo + k * q
            out.append(int(value) if isinstance(q, int) and isinstance(lo, int) else round(value, 12))
            k += 1
        return out
    raise ValueError(f"grid search cannot enumerate {dist!r}")
