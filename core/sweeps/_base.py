"""The sampler interface: what every search method implements.

A sampler is stateless between calls, like W&B's engine: each call receives every run
of the sweep (as :class:`Observation`) plus the keys other agents already claimed, and
returns the next point or None when the search has nothing left. Agents make the result
race-free by claiming :attr:`Suggestion.key` in the state store before running it.
"""

from __future__ import annotations

import hashlib
import json
import math
from abc import ABC, abstractmethod
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tracker.sweeps._config import SweepConfig

__all__ = ["Observation", "Suggestion", "SweepSampler", "nest", "point_key"]

Path = tuple[str, ...]


@dataclass(frozen=True)
class Observation:
    """One run of the sweep, as samplers and hyperband see it.

    Attributes:
        run_id: The run's id.
        state: ``pending``, ``running``, ``finished``, ``failed``, ``crashed``, ``killed``, ...
        params: The run's value of each sweep parameter, by path.
        history: The finite values the run logged under the metric, in order (one per
            "iteration", as W&B counts them).
    """

    run_id: str
    state: str
    params: Mapping[Path, Any]
    history: Sequence[float] = field(default_factory=tuple)


@dataclass(frozen=True)
class Suggestion:
    """The next point to run.

    Attributes:
        params: A value for every parameter, by path (constants included).
        key: The claim key that makes this point unique across agents (grid), or None.
    """

    params: dict[Path, Any]
    key: str | None = None

    def nested(self) -> dict[str, Any]:
        """The values as a run config (nested groups become nested dicts)."""
        return nest(self.params)


class SweepSampler(ABC):
    """Base class of the search methods (grid, random, bayes).

    Lifecycle: construct with a validated :class:`SweepConfig`; call :meth:`suggest` once
    per run to hand out. Implementations keep no state between calls, so that any number
    of agents in any number of processes can each build their own sampler.

    Args:
        config: The validated sweep config.
    """

    def __init__(self, config: SweepConfig) -> None:
        self.config = config

    @abstractmethod
    def suggest(
        self, runs: Sequence[Observation], *, index: int, taken: Collection[str] = ()
    ) -> Suggestion | None:
        """The next point, or None when the search is exhausted.

        Args:
            runs: Every run of the sweep so far.
            index: The sweep-wide number of the run being created (0, 1, ...): seeds
                are derived from it, so results do not depend on which agent asks.
            taken: Claim keys already handed out (their runs may not exist yet).
        """

    def constants(self) -> dict[Path, Any]:
        """The constant parameters (attached to every suggestion)."""
        return {p.path: p.spec["value"] for p in self.config.params if p.distribution == "constant"}


def _canon(value: Any) -> Any:
    # W&B's identity: whole floats equal ints, True != 1, NaN == NaN, dict order ignored,
    # list != tuple.
    if isinstance(value, bool):
        return ["b", value]
    if isinstance(value, int):
        return ["n", value]
    if isinstance(value, float):
        if math.isnan(value):
            return ["nan"]
        if value.is_integer():
            return ["n", int(value)]
        return ["f", repr(value)]
    if isinstance(value, str):
        return ["s", value]
    if value is None:
        return ["null"]
    if isinstance(value, tuple):
        return ["t", [_canon(v) for v in value]]
    if isinstance(value, list):
        return ["l", [_canon(v) for v in value]]
    if isinstance(value, Mapping):
        return ["d", sorted([str(k), _canon(v)] for k, v in value.items())]
    return ["r", repr(value)]


def point_key(params: Mapping[Path, Any], names: Sequence[Path]) -> str:
    """A stable key for the values of ``names`` (the grid claim key)."""
    canon = json.dumps([[list(n), _canon(params.get(n))] for n in names], separators=(",", ":"))
    return "grid:" + hashlib.sha1(canon.encode(), usedforsecurity=False).hexdigest()[:20]


def nest(params: Mapping[Path, Any]) -> dict[str, Any]:
    """Turn ``{("opt", "lr"): 0.1}`` into ``{"opt": {"lr": 0.1}}``."""
    out: dict[str, Any] = {}
    for path, value in params.items():
        node = out
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    return out


def flatten(config: Mapping[str, Any], paths: Sequence[Path]) -> dict[Path, Any]:
    """Read the value of each path from a (nested) run config; missing paths are left out."""
    out: dict[Path, Any] = {}
    for path in paths:
        node: Any = config
        for part in path:
            if not isinstance(node, Mapping) or part not in node:
                break
            node = node[part]
        else:
            out[path] = node
    return out
