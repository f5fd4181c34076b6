"""The W&B sweep configuration: validation with a path for every problem, and inference.

:func:`parse_config` accepts a W&B sweep config as written (a dict, or YAML through
:func:`load_yaml`) and returns a :class:`SweepConfig`, or raises one
:class:`~tracker.errors.SweepConfigError` listing **every** problem with its path
(``parameters.optimizer.parameters.lr.min``). Where W&B's cloud only warns and then
silently fixes things (a misspelled ``goal`` becomes ``minimize``), tracker refuses.

Parameter forms are picked as W&B picks them: ``value`` is a constant, ``values`` a
categorical (with ``probabilities``, a weighted one), ``min``/``max`` with two integers
``int_uniform`` and with a float ``uniform``, ``parameters`` a nested group, and an
explicit ``distribution`` wins. ``log_uniform`` keeps W&B's meaning (the bounds are
natural-log exponents); bounds that look like values are refused with an explanation
unless the parameter sets ``allow_exponent_bounds: true``.

tracker extensions (ignored by W&B): a top-level ``seed`` (random and bayes become
reproducible) and a parameter-level ``allow_exponent_bounds``.
"""

from __future__ import annotations

import difflib
import json
import math
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from tracker.errors import SweepConfigError, TrackerWarning
from tracker.sweeps._distributions import (
    DEFAULTS,
    EXP_MAX,
    EXP_MIN,
    EXPONENT_FORMS,
    GRID_FORMS,
    KEYS,
    VALUE_LOG_FORMS,
    value_range,
)

__all__ = ["Hyperband", "Metric", "Param", "SweepConfig", "bands", "load_yaml", "parse_config"]

METHODS: Final = ("grid", "random", "bayes")
GOALS: Final = ("minimize", "maximize")
IMPUTES: Final = ("worst", "best", "latest")
_TOP_KEYS: Final = (
    "method",
    "parameters",
    "metric",
    "early_terminate",
    "program",
    "command",
    "name",
    "description",
    "project",
    "entity",
    "run_cap",
    "controller",
    "apiVersion",
    "kind",
    "seed",
)
_UNSUPPORTED_TOP: Final = ("metrics", "scheduler", "job", "image_uri")
_HYPERBAND_KEYS: Final = ("type", "min_iter", "max_iter", "s", "eta", "strict")
_METRIC_KEYS: Final = ("name", "goal", "target", "impute", "impute_while_running")
_PARAM_KEYS: Final = frozenset({"distribution", "allow_exponent_bounds"}).union(*KEYS.values())
_PARAM_NAME_RE: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
_NUMBER_LIKE: Final = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


@dataclass(frozen=True)
class Param:
    """One leaf parameter after inference.

    Attributes:
        path: Its names from the top (``("optimizer", "lr")`` for a nested one).
        distribution: The resolved distribution name.
        spec: Its keys with W&B's defaults filled in (``min``, ``max``, ``q``, ``values``, ...).
    """

    path: tuple[str, ...]
    distribution: str
    spec: dict[str, Any]

    @property
    def name(self) -> str:
        """Dotted name, for messages (``optimizer.lr``)."""
        return ".".join(self.path)

    def describe(self) -> str:
        """A one-line summary with the value range it samples (what a dry run shows)."""
        rng = value_range(self.distribution, self.spec)
        if self.distribution == "constant":
            return f"{self.name}: constant {self.spec['value']!r}"
        if self.distribution.startswith("categorical"):
            return f"{self.name}: {self.distribution} over {self.spec['values']!r}"
        shown = f" -> values in [{rng[0]:.6g}, {rng[1]:.6g}]" if rng is not None else ""
        keys = ", ".join(f"{k}={v!r}" for k, v in sorted(self.spec.items()) if k != "allow_exponent_bounds")
        return f"{self.name}: {self.distribution}({keys}){shown}"


@dataclass(frozen=True)
class Metric:
    """``metric``: what the sweep optimises.

    Attributes:
        name: The logged key.
        goal: ``minimize`` or ``maximize``.
        target: Stop creating runs once a run reaches it (None: never).
        impute: Value bayes gives failed runs: ``worst``, ``best`` or ``latest``.
    """

    name: str
    goal: str = "minimize"
    target: float | None = None
    impute: str = "worst"

    def better(self, a: float, b: float) -> bool:
        """True when ``a`` is strictly better than ``b``."""
        return a < b if self.goal == "minimize" else a > b

    def reached(self, value: float) -> bool:
        """True when ``value`` reaches :attr:`target`."""
        if self.target is None:
            return False
        return value <= self.target if self.goal == "minimize" else value >= self.target


@dataclass(frozen=True)
class Hyperband:
    """``early_terminate`` (``type: hyperband``) with W&B's defaults."""

    min_iter: int | None = None
    max_iter: int | None = None
    s: float | None = None
    eta: float = 3.0
    strict: bool = True


def bands(hb: Hyperband) -> list[int]:
    """The band iteration counts, ascending (W&B: ``max_iter`` itself is never a band)."""
    if hb.max_iter is not None and hb.s is not None:
        out: list[int] = []
        b = float(hb.max_iter)
        for _ in range(int(hb.s)):
            b /= hb.eta
            if b < 1:
                break
            out.append(int(b))
        return sorted(out)
    if hb.min_iter is None:
        return []
    values = []
    b = float(hb.min_iter)
    for _ in range(100):
        values.append(int(b))
        b *= hb.eta
    return values


@dataclass(frozen=True)
class SweepConfig:
    """A validated sweep configuration.

    Attributes:
        method: ``grid``, ``random`` or ``bayes``.
        params: Leaf parameters sorted by path (W&B's order: alphabetical at each level).
        metric: The metric, or None.
        early_terminate: Hyperband settings, or None.
        run_cap: Total runs allowed across agents, or None.
        program: The training script (CLI agent).
        command: The command template (CLI agent), or None for W&B's default.
        seed: tracker extension: seed for random and bayes, or None.
        raw: The config as given (stored with the sweep).
    """

    method: str
    params: tuple[Param, ...]
    metric: Metric | None = None
    early_terminate: Hyperband | None = None
    run_cap: int | None = None
    program: str | None = None
    command: tuple[Any, ...] | None = None
    seed: int | None = None
    name: str | None = None
    project: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> list[str]:
        """One line per parameter with the range it samples."""
        return [p.describe() for p in self.params]


class _Problems:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, path: str, message: str) -> None:
        self.items.append(f"{path}: {message}" if path else message)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _hint_unknown(key: str, allowed: Any) -> str:
    close = difflib.get_close_matches(key, list(allowed), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _number_problem(value: Any) -> str:
    if isinstance(value, str) and _NUMBER_LIKE.match(value.strip()):
        return (
            f"{value!r} is a string, not a number. YAML 1.1 reads `1e-5` as a string (a float "
            "needs a dot): write `1.0e-5` or `!!float 1e-5`, or load the file with "
            "tracker.sweeps.load_yaml / `tracker sweep`, which read it as a number."
        )
    return f"must be a number, not {type(value).__name__} {value!r}"


def parse_config(config: Mapping[str, Any], *, allow_exponent_bounds: bool = False) -> SweepConfig:
    """Validate a W&B sweep config and resolve every parameter's distribution.

    Args:
        config: The sweep config as a dict (W&B's keys).
        allow_exponent_bounds: Accept ``log_uniform`` bounds that look like values for
            every parameter (the per-parameter key ``allow_exponent_bounds`` does the same
            for one parameter).

    Returns:
        The validated :class:`SweepConfig`.

    Raises:
        SweepConfigError: Lists every problem with its path.
    """
    problems = _Problems()
    if not isinstance(config, Mapping):
        raise SweepConfigError(
            f"a sweep config must be a mapping, not {type(config).__name__}",
            problems=["config: must be a mapping"],
        )
    for key in config:
        if key in _UNSUPPORTED_TOP:
            problems.add(str(key), "is not supported by tracker yet")
        elif key not in _TOP_KEYS:
            problems.add(str(key), f"unknown top-level key{_hint_unknown(str(key), _TOP_KEYS)}")
    method = config.get("method")
    if method is None:
        problems.add("method", "is required: grid, random or bayes")
    elif method not in METHODS:
        problems.add(
            "method", f"{method!r} is not one of grid, random, bayes{_hint_unknown(str(method), METHODS)}"
        )
    params: list[Param] = []
    raw_params = config.get("parameters")
    if raw_params is None:
        problems.add("parameters", "is required")
    elif not isinstance(raw_params, Mapping) or not raw_params:
        problems.add("parameters", "must be a non-empty mapping of parameter names")
    else:
        _walk(raw_params, (), "parameters", params, problems, allow_exponent_bounds)
    params.sort(key=lambda p: p.path)
    metric = _metric(config.get("metric"), problems)
    hyperband = _hyperband(config.get("early_terminate"), problems)
    if config.get("metric") is None and (method == "bayes" or hyperband is not None):
        what = "bayes search" if method == "bayes" else "early_terminate"
        problems.add("metric", f"is required by {what}: add metric: {{name: ..., goal: minimize}}")
    run_cap = config.get("run_cap")
    if run_cap is not None and (not isinstance(run_cap, int) or isinstance(run_cap, bool) or run_cap <= 0):
        problems.add("run_cap", f"must be a positive integer, not {run_cap!r}")
    seed = config.get("seed")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        problems.add("seed", f"must be an integer, not {seed!r}")
    program = config.get("program")
    if program is not None and not isinstance(program, str):
        problems.add("program", "must be a string (the script to run)")
    command = config.get("command")
    if command is not None and (
        not isinstance(command, list) or not all(isinstance(t, (str, int, float, bool)) for t in command)
    ):
        problems.add("command", "must be a list of strings (W&B macros such as ${args} allowed)")
    for key in ("name", "description", "project", "entity"):
        if config.get(key) is not None and not isinstance(config[key], str):
            problems.add(key, "must be a string")
    controller = config.get("controller")
    if controller is not None and (
        not isinstance(controller, Mapping) or controller.get("type") not in ("local", "cloud")
    ):
        problems.add("controller", "must be {type: local} or {type: cloud}")
    if method == "grid":
        for p in params:
            if p.distribution not in GRID_FORMS:
                problems.add(
                    f"parameters.{_dotted(p.path)}",
                    f"grid search cannot enumerate {p.distribution!r}: use values: [...], int_uniform "
                    "or q_uniform (or method: random)",
                )
    if method == "bayes":
        for p in params:
            if p.distribution in ("beta", "q_beta"):
                problems.add(
                    f"parameters.{_dotted(p.path)}", f"{p.distribution!r} is not supported by bayes search"
                )
    if problems.items:
        lines = "\n".join(f"  - {item}" for item in problems.items)
        raise SweepConfigError(
            f"invalid sweep config ({len(problems.items)} problem(s)):\n{lines}", problems=problems.items
        )
    _warn_exponent_forms(params)
    return SweepConfig(
        method=str(method),
        params=tuple(params),
        metric=metric,
        early_terminate=hyperband,
        run_cap=run_cap,
        program=program,
        command=tuple(command) if command is not None else None,
        seed=seed,
        name=config.get("name"),
        project=config.get("project"),
        raw=json.loads(json.dumps(dict(config))),
    )


def _dotted(path: tuple[str, ...]) -> str:
    return ".parameters.".join(path)


def _walk(
    raw: Mapping[str, Any],
    prefix: tuple[str, ...],
    where: str,
    out: list[Param],
    problems: _Problems,
    allow_exp: bool,
) -> None:
    for name, body in raw.items():
        path = f"{where}.{name}"
        if not isinstance(name, str) or not _PARAM_NAME_RE.match(name):
            problems.add(
                path, "parameter names start with a letter or '_' and use letters, digits, '_', '.', '-'"
            )
            continue
        if not isinstance(body, Mapping):
            problems.add(
                path,
                "must be a mapping such as {value: ...}, {values: [...]} or {min: .., max: ..}; "
                f"got {body!r}",
            )
            continue
        if "parameters" in body:
            extra = sorted(set(body) - {"parameters"})
            if extra:
                problems.add(path, f"a nested group has only `parameters`; remove {extra}")
            nested = body["parameters"]
            if not isinstance(nested, Mapping) or not nested:
                problems.add(f"{path}.parameters", "must be a non-empty mapping")
            else:
                _walk(nested, (*prefix, name), f"{path}.parameters", out, problems, allow_exp)
            continue
        param = _param((*prefix, name), body, path, problems, allow_exp)
        if param is not None:
            out.append(param)


def _infer(body: Mapping[str, Any], path: str, problems: _Problems) -> str | None:
    dist = body.get("distribution")
    if dist is not None:
        if dist not in KEYS:
            problems.add(
                f"{path}.distribution", f"unknown distribution {dist!r}{_hint_unknown(str(dist), KEYS)}"
            )
            return None
        if dist == "categorical" and "probabilities" in body:
            return "categorical_w_probabilities"
        return str(dist)
    if "value" in body:
        return "constant"
    if "values" in body:
        return "categorical_w_probabilities" if "probabilities" in body else "categorical"
    if "min" in body and "max" in body:
        lo, hi = body["min"], body["max"]
        if isinstance(lo, bool) or isinstance(hi, bool):
            problems.add(path, "min and max must be numbers, not booleans")
            return None
        if isinstance(lo, int) and isinstance(hi, int):
            return "int_uniform"
        return "uniform"
    if "min" in body or "max" in body:
        problems.add(path, "give both min and max")
        return None
    problems.add(path, "needs value, values, min/max, distribution or parameters")
    return None


def _param(
    key: tuple[str, ...], body: Mapping[str, Any], path: str, problems: _Problems, allow_exp: bool
) -> Param | None:
    before = len(problems.items)
    for k in body:
        if k not in _PARAM_KEYS:
            problems.add(f"{path}.{k}", f"unknown key{_hint_unknown(str(k), _PARAM_KEYS)}")
    dist = _infer(body, path, problems)
    if dist is None:
        return None
    allowed = KEYS[dist] | {"distribution"} | ({"allow_exponent_bounds"} if dist in EXPONENT_FORMS else set())
    for k in body:
        if k not in allowed and k in _PARAM_KEYS:
            problems.add(f"{path}.{k}", f"is not a key of {dist!r}")
    spec: dict[str, Any] = {**DEFAULTS.get(dist, {}), **{k: v for k, v in body.items() if k in KEYS[dist]}}
    for k in ("min", "max") if "min" in KEYS[dist] else ():
        if k not in spec:
            problems.add(f"{path}.{k}", f"is required by {dist!r}")
    for k in ("min", "max", "q", "mu", "sigma", "a", "b"):
        if k in spec and not _is_number(spec[k]):
            problems.add(f"{path}.{k}", _number_problem(spec[k]))
    if len(problems.items) > before:
        return None
    if dist == "int_uniform":
        for k in ("min", "max"):
            if not isinstance(spec[k], int):
                problems.add(f"{path}.{k}", f"int_uniform needs an integer, not {spec[k]!r}")
    if "min" in spec and spec["min"] >= spec["max"]:
        problems.add(path, f"min ({spec['min']!r}) must be less than max ({spec['max']!r})")
    if "sigma" in spec and spec["sigma"] < 0:
        problems.add(f"{path}.sigma", "must not be negative")
    for k in ("a", "b"):
        if k in spec and spec[k] <= 0:
            problems.add(f"{path}.{k}", "must be positive")
    if "q" in spec and spec["q"] <= 0:
        problems.add(f"{path}.q", "must be positive")
    if dist.startswith("categorical"):
        _check_values(spec, path, problems)
    if dist in VALUE_LOG_FORMS and spec["min"] <= 0:
        problems.add(
            f"{path}.min",
            f"{dist} needs min > 0 (log scale). To include 0, use a categorical, or a separate "
            "on/off parameter.",
        )
    if dist in EXPONENT_FORMS and len(problems.items) == before:
        _check_exponents(dist, spec, path, problems, allow_exp or body.get("allow_exponent_bounds") is True)
    if len(problems.items) > before:
        return None
    return Param(key, dist, spec)


def _check_values(spec: dict[str, Any], path: str, problems: _Problems) -> None:
    values = spec["values"]
    if not isinstance(values, list) or not values:
        problems.add(f"{path}.values", "must be a non-empty list")
        return
    if "probabilities" in spec:
        probs = spec["probabilities"]
        if not isinstance(probs, list) or not all(_is_number(p) and p >= 0 for p in probs):
            problems.add(f"{path}.probabilities", "must be a list of numbers >= 0")
        elif len(probs) != len(values):
            problems.add(f"{path}.probabilities", f"has {len(probs)} entries for {len(values)} values")
        elif not math.isclose(sum(probs), 1.0, rel_tol=1e-6, abs_tol=1e-8):
            problems.add(f"{path}.probabilities", f"must sum to 1 (they sum to {sum(probs):.6g})")


def _check_exponents(dist: str, spec: dict[str, Any], path: str, problems: _Problems, allowed: bool) -> None:
    lo, hi = spec["min"], spec["max"]
    if hi > EXP_MAX or lo < EXP_MIN:
        problems.add(
            path,
            f"{dist} treats min/max as natural-log exponents; e^{hi if hi > EXP_MAX else lo} is not a "
            f"finite float. Did you mean {dist}_values (values in [{lo:g}, {hi:g}])?",
        )
        return
    looks_like_values = (0 < lo < hi <= 1 and hi / lo >= 10) or (lo > 0 and hi / lo >= 100 and hi > 20)
    if not looks_like_values or allowed:
        return
    sampled = value_range(dist, spec)
    assert sampled is not None
    problems.add(
        path,
        f"{dist} treats min/max as natural-log exponents, so min: {lo:g}, max: {hi:g} samples values in "
        f"[{sampled[0]:.6g}, {sampled[1]:.6g}]. These bounds look like values: use distribution: "
        f"{dist}_values (values in [{lo:g}, {hi:g}]), or write the exponents "
        f"min: {math.log(lo):.4g}, max: {math.log(hi):.4g}; set allow_exponent_bounds: true to keep them.",
    )


def _warn_exponent_forms(params: list[Param]) -> None:
    for p in params:
        if p.distribution in EXPONENT_FORMS:
            sampled = value_range(p.distribution, p.spec)
            assert sampled is not None
            warnings.warn(
                f"parameter {p.name!r}: {p.distribution} treats min/max as natural-log exponents; it "
                f"samples values in [{sampled[0]:.6g}, {sampled[1]:.6g}]. Prefer {p.distribution}_values, "
                "whose bounds are the values.",
                TrackerWarning,
                stacklevel=3,
            )


def _metric(raw: Any, problems: _Problems) -> Metric | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        problems.add("metric", "must be a mapping {name: ..., goal: minimize|maximize}")
        return None
    for k in raw:
        if k not in _METRIC_KEYS:
            problems.add(f"metric.{k}", f"unknown key{_hint_unknown(str(k), _METRIC_KEYS)}")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        problems.add("metric.name", "is required (the logged key)")
    goal = raw.get("goal", "minimize")
    if goal not in GOALS:
        problems.add(
            "metric.goal",
            f"{goal!r} is not minimize or maximize{_hint_unknown(str(goal), GOALS)} "
            "(W&B would silently minimize)",
        )
    target = raw.get("target")
    if target is not None and not _is_number(target):
        problems.add("metric.target", _number_problem(target))
    impute = raw.get("impute", "worst")
    if impute not in IMPUTES:
        problems.add("metric.impute", f"{impute!r} is not one of {', '.join(IMPUTES)}")
    iwr = raw.get("impute_while_running", "false")
    if iwr not in ("false", False, *IMPUTES):
        problems.add("metric.impute_while_running", f"{iwr!r} is not one of false, {', '.join(IMPUTES)}")
    if not isinstance(name, str) or goal not in GOALS or impute not in IMPUTES:
        return None
    return Metric(name=name, goal=goal, target=target, impute=impute)


def _hyperband(raw: Any, problems: _Problems) -> Hyperband | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        problems.add("early_terminate", "must be a mapping {type: hyperband, min_iter: ...}")
        return None
    before = len(problems.items)
    for k in raw:
        if k not in _HYPERBAND_KEYS:
            problems.add(f"early_terminate.{k}", f"unknown key{_hint_unknown(str(k), _HYPERBAND_KEYS)}")
    if raw.get("type") != "hyperband":
        problems.add("early_terminate.type", f"must be hyperband, not {raw.get('type')!r}")
    min_iter, max_iter, s = raw.get("min_iter"), raw.get("max_iter"), raw.get("s")
    eta, strict = raw.get("eta", 3), raw.get("strict", True)
    if min_iter is None and (max_iter is None or s is None):
        problems.add("early_terminate", "needs min_iter, or both max_iter and s")
    if min_iter is not None and (not isinstance(min_iter, int) or isinstance(min_iter, bool) or min_iter < 1):
        problems.add("early_terminate.min_iter", "must be an integer >= 1")
    if max_iter is not None and (not isinstance(max_iter, int) or isinstance(max_iter, bool) or max_iter < 1):
        problems.add("early_terminate.max_iter", "must be an integer >= 1")
    if s is not None and (not _is_number(s) or s < 1):
        problems.add("early_terminate.s", "must be a number >= 1")
    if not _is_number(eta) or eta <= 1:
        problems.add("early_terminate.eta", "must be a number > 1")
    if not isinstance(strict, bool):
        problems.add("early_terminate.strict", "must be true or false")
    if len(problems.items) > before:
        return None
    hb = Hyperband(min_iter=min_iter, max_iter=max_iter, s=s, eta=float(eta), strict=strict)
    if not bands(hb):
        problems.add("early_terminate", "gives no bands: increase s, decrease eta, or increase min_iter")
    return hb


def load_yaml(text: str) -> Any:
    """Load a sweep config from YAML, reading ``1e-5`` as a number (YAML 1.2), not a string.

    Args:
        text: The YAML document.

    Returns:
        The loaded object.
    """
    import yaml

    class _Loader(yaml.SafeLoader):
        pass

    # YAML 1.1 (PyYAML) needs a dot in a float; YAML 1.2 and JSON do not.
    _Loader.add_implicit_resolver(
        "tag:yaml.org,2002:float",
        re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+$"),
        list("-+0123456789."),
    )
    return yaml.load(text, Loader=_Loader)
