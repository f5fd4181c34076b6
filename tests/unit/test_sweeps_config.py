"""Sweep config validation: paths of problems, inference, the log_uniform trap, YAML quirks."""

from __future__ import annotations

import math

import pytest

from tracker.errors import SweepConfigError, TrackerWarning, UsageError
from tracker.sweeps import load_yaml, parse_config


def _problems(config: dict) -> list[str]:
    with pytest.raises(SweepConfigError) as info:
        parse_config(config)
    assert isinstance(info.value, UsageError)
    return info.value.problems


def _dist(body: dict) -> tuple[str, dict]:
    p = parse_config({"method": "random", "parameters": {"x": body}}).params[0]
    return p.distribution, p.spec


def test_inference_as_wandb() -> None:
    assert _dist({"min": 0, "max": 1})[0] == "int_uniform"
    assert _dist({"min": 0.0, "max": 1.0})[0] == "uniform"
    assert _dist({"min": 0.0, "max": 1})[0] == "uniform"
    assert _dist({"distribution": "normal"}) == ("normal", {"mu": 0.0, "sigma": 1.0})
    assert _dist({"distribution": "q_beta"}) == ("q_beta", {"a": 1.0, "b": 1.0, "q": 1.0})
    assert _dist({"values": [1, 2]})[0] == "categorical"
    assert _dist({"values": [1, 2], "probabilities": [0.5, 0.5]})[0] == "categorical_w_probabilities"
    assert _dist({"value": None}) == ("constant", {"value": None})
    assert _dist({"distribution": "uniform", "min": 0, "max": 2})[0] == "uniform"


def test_nested_parameters_are_sorted_paths() -> None:
    cfg = parse_config(
        {
            "method": "grid",
            "parameters": {
                "z": {"values": [1]},
                "opt": {"parameters": {"lr": {"values": [0.1]}, "b": {"value": 2}}},
            },
        }
    )
    assert [p.path for p in cfg.params] == [("opt", "b"), ("opt", "lr"), ("z",)]


def test_every_problem_is_reported_with_its_path() -> None:
    problems = _problems(
        {
            "method": "bayes",
            "metrc": {},
            "run_cap": 0,
            "metric": {"name": "loss", "goal": "minimise"},
            "parameters": {
                "opt": {"parameters": {"lr": {"min": 0.1, "max": 0.01}}},
                "wd": {"mn": 0.0, "max": 1.0},
                "dropout": {"distribution": "unifrom", "min": 0.0, "max": 1.0},
                "sigma": {"distribution": "normal", "sigma": -1.0},
                "empty": {"values": []},
                "probs": {"values": [1, 2, 3], "probabilities": [0.1, 0.2, 0.3, 0.4]},
            },
        }
    )
    text = "\n".join(problems)
    assert "metrc: unknown top-level key (did you mean 'metric'?)" in text
    assert "run_cap: must be a positive integer" in text
    assert "metric.goal: 'minimise' is not minimize or maximize (did you mean 'minimize'?)" in text
    assert "parameters.opt.parameters.lr: min (0.1) must be less than max (0.01)" in text
    assert "parameters.wd.mn: unknown key (did you mean 'min'?)" in text
    assert "parameters.dropout.distribution: unknown distribution 'unifrom' (did you mean 'uniform'?)" in text
    assert "parameters.sigma.sigma: must not be negative" in text
    assert "parameters.empty.values: must be a non-empty list" in text
    assert "parameters.probs.probabilities: has 4 entries for 3 values" in text


@pytest.mark.parametrize(
    ("config", "needle"),
    [
        ({"parameters": {"a": {"value": 1}}}, "method: is required"),
        ({"method": "grid"}, "parameters: is required"),
        ({"method": "sobol", "parameters": {"a": {"value": 1}}}, "method: 'sobol'"),
        ({"method": "bayes", "parameters": {"a": {"min": 0.0, "max": 1.0}}}, "metric: is required by bayes"),
        (
            {"method": "grid", "parameters": {"a": {"min": 0.0, "max": 1.0}}},
            "grid search cannot enumerate 'uniform'",
        ),
        (
            {"method": "grid", "parameters": {"a": {"values": [1, 2], "probabilities": [0.5, 0.5]}}},
            "grid search",
        ),
        ({"method": "random", "parameters": {"a": {"values": [1], "probabilities": [0.3]}}}, "must sum to 1"),
        ({"method": "random", "parameters": {"a b": {"value": 1}}}, "parameters.a b: parameter names"),
        (
            {
                "method": "random",
                "parameters": {"a": {"distribution": "log_uniform_values", "min": 2.0, "max": 1.0}},
            },
            "min (2.0) must be less than max",
        ),
        (
            {
                "method": "random",
                "parameters": {"a": {"distribution": "log_uniform_values", "min": 0.0, "max": 1.0}},
            },
            "needs min > 0",
        ),
        (
            {"method": "random", "parameters": {"a": {"min": 0.0, "max": 1.0, "q": 0.1}}},
            "parameters.a.q: is not a key",
        ),
        (
            {
                "method": "random",
                "parameters": {"a": {"value": 1}},
                "early_terminate": {"type": "hyperband", "min_iter": 3},
            },
            "metric: is required by early_terminate",
        ),
        (
            {
                "method": "random",
                "metric": {"name": "l"},
                "parameters": {"a": {"value": 1}},
                "early_terminate": {"type": "hyperband", "max_iter": 27},
            },
            "needs min_iter, or both max_iter and s",
        ),
        (
            {
                "method": "random",
                "metric": {"name": "l"},
                "parameters": {"a": {"value": 1}},
                "early_terminate": {"type": "hyperband", "max_iter": 2, "s": 1, "eta": 3},
            },
            "gives no bands",
        ),
        (
            {"method": "random", "metric": "loss", "parameters": {"a": {"value": 1}}},
            "metric: must be a mapping",
        ),
    ],
)
def test_invalid_configs(config: dict, needle: str) -> None:
    assert any(needle in p for p in _problems(config)), _problems(config)


@pytest.mark.parametrize(
    ("cap", "ok"),
    [(-1, False), (0, False), (-0.3, False), (5.1, False), ("1", False), (1, True), (300, True)],
)
def test_run_cap(cap: object, ok: bool) -> None:
    config = {"method": "random", "run_cap": cap, "parameters": {"a": {"value": 1}}}
    if ok:
        assert parse_config(config).run_cap == cap
    else:
        assert any(p.startswith("run_cap:") for p in _problems(config))


def test_yaml_reads_exponent_floats_as_numbers() -> None:
    loaded = load_yaml(
        "method: random\nparameters:\n  lr:\n    distribution: log_uniform_values\n"
        "    min: 1e-5\n    max: 1e-1\n"
    )
    lr = parse_config(loaded).params[0]
    assert lr.spec == {"min": 1e-5, "max": 0.1}
    assert isinstance(lr.spec["min"], float)


def test_string_numbers_are_rejected_with_the_yaml_hint() -> None:
    problems = _problems({"method": "random", "parameters": {"lr": {"min": "1e-5", "max": 0.1}}})
    assert problems[0].startswith("parameters.lr.min: '1e-5' is a string")
    assert "!!float 1e-5" in problems[0]


def test_log_uniform_with_value_bounds_is_refused_with_an_explanation() -> None:
    cfg = {
        "method": "random",
        "parameters": {"lr": {"distribution": "log_uniform", "min": 1e-5, "max": 1e-1}},
    }
    (problem,) = _problems(cfg)
    assert problem.startswith("parameters.lr: log_uniform treats min/max as natural-log exponents")
    assert "samples values in [1.00001, 1.10517]" in problem
    assert "log_uniform_values" in problem
    assert "min: -11.51, max: -2.303" in problem
    assert "allow_exponent_bounds" in problem


def test_log_uniform_opt_out_and_range_warning() -> None:
    body = {"distribution": "log_uniform", "min": 1e-5, "max": 1e-1, "allow_exponent_bounds": True}
    with pytest.warns(TrackerWarning, match=r"samples values in \[1.00001, 1.10517\]"):
        cfg = parse_config({"method": "random", "parameters": {"lr": body}})
    assert cfg.params[0].distribution == "log_uniform"
    with pytest.warns(TrackerWarning, match=r"values in \[1e-05, 0.1\]"):
        parse_config(
            {
                "method": "random",
                "parameters": {
                    "lr": {"distribution": "log_uniform", "min": math.log(1e-5), "max": math.log(1e-1)}
                },
            }
        )
    with pytest.warns(TrackerWarning):
        parse_config(
            {
                "method": "random",
                "parameters": {"lr": {"distribution": "log_uniform", "min": 1e-5, "max": 1e-1}},
            },
            allow_exponent_bounds=True,
        )


def test_log_uniform_overflow_is_an_error() -> None:
    (problem,) = _problems(
        {
            "method": "random",
            "parameters": {"c": {"distribution": "log_uniform", "min": 0.0001, "max": 1000.0}},
        }
    )
    assert "not a finite float" in problem


def test_describe_shows_the_value_range() -> None:
    cfg = parse_config(
        {
            "method": "random",
            "parameters": {"lr": {"distribution": "log_uniform_values", "min": 1e-5, "max": 0.1}},
        }
    )
    assert cfg.describe() == ["lr: log_uniform_values(max=0.1, min=1e-05) -> values in [1e-05, 0.1]"]
