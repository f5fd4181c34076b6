"""Samplers: a shared contract, grid order and identity, every distribution's support and type."""

from __future__ import annotations

import math
from collections import Counter

import pytest

from tracker.sweeps import (
    BayesSampler,
    GridSampler,
    Observation,
    RandomSampler,
    SweepSampler,
    parse_config,
)

MIXED = {
    "a": {"values": ["x", "y", [1, 2], {"k": 1}]},
    "n": {"min": 1, "max": 4},
    "u": {"min": 0.0, "max": 1.0},
    "lr": {"distribution": "log_uniform_values", "min": 1e-5, "max": 1e-1},
    "c": {"value": "const"},
    "g": {"parameters": {"m": {"distribution": "normal", "mu": 0.0, "sigma": 1.0}}},
}


class SamplerContract:
    """Every sampler: deterministic for a seed and index, values within each parameter's support."""

    method = ""
    parameters: dict = MIXED

    def make(self, seed: int = 7) -> SweepSampler:
        from tracker.sweeps._controller import make_sampler

        metric = {"name": "loss"} if self.method == "bayes" else None
        cfg = {"method": self.method, "seed": seed, "parameters": self.parameters}
        if metric:
            cfg["metric"] = metric
        return make_sampler(parse_config(cfg))

    def test_values_lie_in_the_support(self) -> None:
        sampler = self.make()
        s = sampler.suggest([], index=0)
        assert s is not None
        for p in sampler.config.params:
            value = s.params[p.path]
            if p.distribution == "constant":
                assert value == p.spec["value"]
            elif p.distribution.startswith("categorical"):
                assert value in p.spec["values"]
            elif p.distribution == "int_uniform":
                assert type(value) is int
                assert p.spec["min"] <= value <= p.spec["max"]
            elif "min" in p.spec:
                assert isinstance(value, float)
                assert p.spec["min"] <= value <= p.spec["max"]

    def test_same_seed_and_index_same_suggestion(self) -> None:
        assert self.make().suggest([], index=3) == self.make().suggest([], index=3)

    def test_nested_groups_become_nested_config(self) -> None:
        s = self.make().suggest([], index=0)
        assert s is not None
        nested = s.nested()
        assert nested["c"] == "const"
        assert isinstance(nested["g"], dict)
        assert set(nested["g"]) <= {"m"}


class TestRandom(SamplerContract):
    method = "random"


class TestGrid(SamplerContract):
    method = "grid"
    parameters = {  # noqa: RUF012 - read-only per class
        "a": {"values": ["x", [1, 2]]},
        "n": {"min": 1, "max": 3},
        "c": {"value": "const"},
        "g": {"parameters": {"m": {"values": [1]}}},
    }


class TestBayes(SamplerContract):
    method = "bayes"

    @pytest.fixture(autouse=True)
    def _optuna(self) -> None:
        pytest.importorskip("optuna")


# ---------------------------------------------------------------------- grid (W&B cases)
def _grid(parameters: dict) -> GridSampler:
    return GridSampler(parse_config({"method": "grid", "parameters": parameters}))


def _walk(sampler: GridSampler, runs: list[Observation] | None = None) -> list[tuple]:
    runs = list(runs or [])
    out = []
    while (s := sampler.suggest(runs, index=len(runs))) is not None:
        out.append(tuple(s.params[p] for p in sorted(s.params)))
        runs.append(Observation(f"r{len(runs)}", "running", s.params))
        assert len(out) < 1000
    return out


def test_grid_order_last_parameter_fastest() -> None:
    assert _walk(_grid({"v2": {"values": [4, 5]}, "v1": {"values": [1, 2, 3]}})) == [
        (1, 4),
        (1, 5),
        (2, 4),
        (2, 5),
        (3, 4),
        (3, 5),
    ]


def test_grid_nested_order_is_alphabetical_by_path() -> None:
    pts = _walk(
        _grid(
            {
                "z": {"values": [1, 2]},
                "a": {"values": ["x", "y"]},
                "m": {"parameters": {"k": {"values": [10, 20]}}},
            }
        )
    )
    assert pts[:5] == [("x", 10, 1), ("x", 10, 2), ("x", 20, 1), ("x", 20, 2), ("y", 10, 1)]
    assert len(pts) == 8


def test_grid_duplicates_collapse_in_first_occurrence_order() -> None:
    pts = _walk(_grid({"v1": {"values": ["a", "b", "c", "a"]}, "v2": {"values": [1, 2, 3]}}))
    assert pts == [(v, n) for v in "abc" for n in (1, 2, 3)]


def test_grid_resume_skips_points_of_existing_runs_in_any_state() -> None:
    g = _grid({"v1": {"values": [1, 2, 3]}, "v2": {"values": [4, 5]}})
    runs = [
        Observation("a", "failed", {("v1",): 2, ("v2",): 4}),
        Observation("b", "crashed", {("v1",): 1, ("v2",): 5}),
    ]
    assert _walk(g, runs) == [(1, 4), (2, 5), (3, 4), (3, 5)]


def test_grid_value_identity() -> None:
    g = _grid({"v": {"values": [3000000, 1, float("nan"), [2, 3], {"a": 1, "b": 2}]}})
    taken = [
        Observation("r", "finished", {("v",): 3000000.0}),
        Observation("s", "finished", {("v",): True}),
        Observation("t", "finished", {("v",): float("nan")}),
        Observation("u", "finished", {("v",): {"b": 2, "a": 1}}),
    ]
    left = _walk(g, taken)
    assert left == [(1,), ([2, 3],)]


def test_grid_mixed_values_and_expansions() -> None:
    assert (
        len(
            _walk(_grid({"v1": {"values": [None, 2, 3, "a", [2, 3], 3]}, "v2": {"values": ["a", "b", "c'"]}}))
        )
        == 15
    )
    assert len(_walk(_grid({"v": {"min": -52, "max": 10}}))) == 63
    assert [
        p[0] for p in _walk(_grid({"v": {"distribution": "q_uniform", "min": 0.0, "max": 1.0, "q": 0.25}}))
    ] == [0.0, 0.25, 0.5, 0.75]
    qs = [
        p[0]
        for p in _walk(_grid({"v": {"distribution": "q_uniform", "min": -9.211, "max": 23.23, "q": 2.341}}))
    ]
    assert len(qs) == 14
    assert qs[0] == -9.211
    assert qs[-1] == pytest.approx(21.222)
    assert _walk(_grid({"v1": {"value": "a"}, "v2": {"value": "b"}})) == [("a", "b")]


def test_grid_taken_claims_are_skipped() -> None:
    g = _grid({"v": {"values": [1, 2]}})
    first = g.suggest([], index=0)
    assert first is not None
    assert first.key is not None
    second = g.suggest([], index=1, taken={first.key})
    assert second is not None
    assert second.params == {("v",): 2}
    assert g.suggest([], index=2, taken={first.key, second.key}) is None


# ---------------------------------------------------------------------- random distributions
def _draws(body: dict, n: int = 2000) -> list:
    sampler = RandomSampler(parse_config({"method": "random", "seed": 3, "parameters": {"x": body}}))
    out = []
    for i in range(n):
        s = sampler.suggest([], index=i)
        assert s is not None
        out.append(s.params[("x",)])
    return out


@pytest.mark.parametrize(
    ("body", "lo", "hi", "kind"),
    [
        ({"min": 0.0, "max": 2.0}, 0.0, 2.0, float),
        ({"min": -3, "max": 3}, -3, 3, int),
        ({"distribution": "log_uniform_values", "min": 5.0, "max": 100.0}, 5.0, 100.0, float),
        ({"distribution": "log_uniform", "min": math.log(5), "max": math.log(100)}, 5.0, 100.0, float),
        ({"distribution": "inv_log_uniform_values", "min": 1e-3, "max": 10.0}, 1e-3, 10.0, float),
        ({"distribution": "inv_log_uniform", "min": 0.0, "max": 2.0}, math.exp(-2), 1.0, float),
        ({"distribution": "beta", "a": 2.0, "b": 5.0}, 0.0, 1.0, float),
        ({"distribution": "normal", "mu": 4.0, "sigma": 2.0}, -math.inf, math.inf, float),
        ({"distribution": "log_normal", "mu": 0.0, "sigma": 1.0}, 0.0, math.inf, float),
    ],
)
def test_every_distribution_within_support_and_typed(body: dict, lo: float, hi: float, kind: type) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exponent forms warn with their range
        values = _draws(body)
    assert all(type(v) is kind for v in values)
    assert all(lo - 1e-9 <= v <= hi + 1e-9 for v in values)
    assert len(set(values)) > 2


def test_log_uniform_values_is_log_uniform() -> None:
    values = _draws({"distribution": "log_uniform_values", "min": 1e-5, "max": 1e-1}, 4000)
    below = sum(v < 1e-3 for v in values) / len(values)  # half of the log range
    assert 0.45 < below < 0.55


@pytest.mark.parametrize("q", [0.1, 1, 10])
@pytest.mark.parametrize(
    "body",
    [
        {"distribution": "q_uniform", "min": 0.0, "max": 100.0},
        {"distribution": "q_normal", "mu": 4.0, "sigma": 2.0},
        {"distribution": "q_log_normal", "mu": 2.0, "sigma": 2.0},
        {"distribution": "q_log_uniform_values", "min": 0.1, "max": 100.0},
        {"distribution": "q_beta", "a": 2.0, "b": 5.0},
    ],
)
def test_q_distributions_return_multiples_of_q(body: dict, q: float) -> None:
    for v in _draws({**body, "q": q}, 300):
        r = math.fmod(abs(v), q)
        assert r == pytest.approx(0, abs=1e-9) or r == pytest.approx(q, abs=1e-9)
        if isinstance(q, int):
            assert type(v) is int


def test_categorical_probabilities() -> None:
    probs = [0.1, 0.25, 0.15, 0.2, 0.3]
    counts = Counter(_draws({"values": [0, 1, 2, 3, 4], "probabilities": probs}, 1000))
    for i, p in enumerate(probs):
        assert abs(counts[i] - 1000 * p) <= 3 * math.sqrt(1000 * p)
    assert 1 not in _draws({"values": [0, 1, 2], "probabilities": [0.5, 0.0, 0.5]}, 500)


def test_int_uniform_includes_both_ends() -> None:
    assert set(_draws({"min": 1, "max": 3}, 300)) == {1, 2, 3}


# ---------------------------------------------------------------------- bayes
def _loss_runs(sampler: BayesSampler, f, n: int) -> list[Observation]:
    runs: list[Observation] = []
    for i in range(n):
        s = sampler.suggest(runs, index=i)
        assert s is not None
        runs.append(Observation(f"r{i}", "finished", s.params, [f(s.params)]))
    return runs


def test_bayes_converges_on_a_quadratic() -> None:
    pytest.importorskip("optuna")
    cfg = parse_config(
        {
            "method": "bayes",
            "seed": 0,
            "metric": {"name": "loss"},
            "parameters": {"x": {"min": 0.0, "max": 1.0}},
        }
    )
    runs = _loss_runs(BayesSampler(cfg), lambda p: (p[("x",)] - 0.3) ** 2, 30)
    assert min(r.history[0] for r in runs) < 1e-3


def test_bayes_handles_categorical_lists_and_maximize() -> None:
    pytest.importorskip("optuna")
    values = [[2, 3], [3, 4], ["5", "6"], [[7, 8], ["9", [10, 11]]]]
    cfg = parse_config(
        {
            "method": "bayes",
            "seed": 1,
            "metric": {"name": "acc", "goal": "maximize"},
            "parameters": {"v1": {"values": values}, "v2": {"min": 1.0, "max": 10.0}},
        }
    )
    score = {0: 0.1, 1: 0.2, 2: 0.5, 3: 0.1}

    def acc(p: dict) -> float:
        return score[values.index(p[("v1",)])] + 0.5 * (p[("v2",)] - 1) / 9

    runs = _loss_runs(BayesSampler(cfg), acc, 25)
    best = max(runs, key=lambda r: r.history[0])
    assert best.params[("v1",)] == ["5", "6"]


def test_bayes_imputes_failed_runs_and_skips_foreign_values() -> None:
    pytest.importorskip("optuna")
    cfg = parse_config(
        {
            "method": "bayes",
            "seed": 2,
            "metric": {"name": "loss"},
            "parameters": {"o": {"values": ["a", "b"]}, "x": {"min": 0.0, "max": 1.0}},
        }
    )
    runs = [
        Observation("f", "failed", {("o",): "a", ("x",): 0.5}, [3.0]),
        Observation("g", "finished", {("o",): "zzz", ("x",): 0.5}, [1.0]),
        Observation("h", "running", {("o",): "b", ("x",): 0.1}),
    ]
    s = BayesSampler(cfg).suggest(runs, index=3)
    assert s is not None
    assert s.params[("o",)] in ("a", "b")
