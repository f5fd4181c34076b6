"""Grid search as W&B does it: every combination once, in W&B's order, then done.

Order: the Cartesian product over the non-constant parameters sorted by path, the first
varying slowest and the last fastest; values keep their listed order and duplicates
collapse (W&B's value identity: ``3.0 == 3``, ``True != 1``). A point is done when any
run of the sweep, in any state, has it, or when another agent claimed it.

One exception, for agents that die (documented rule, not W&B's): a point whose claim
``grid:<hash>`` is *dead* (the claim's run reads ``crashed`` in the index: no exit record
and its process is gone) and which has no run in another state is handed out once more,
under the distinct claim key ``grid:<hash>:retry``; after that it is done whatever happens
(a crashed retry is not retried again). The controller tells the dead claims (``dead``).
A ``failed`` run (the program raised or exited non-zero) is never retried, as in W&B;
neither is a claim whose run has no log yet (it may be starting) nor a crashed run that
no agent of this sweep claimed.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Iterator, Sequence
from typing import Final

from tracker.sweeps._base import Observation, Path, Suggestion, SweepSampler, point_key
from tracker.sweeps._distributions import grid_values

__all__ = ["RETRY_SUFFIX", "GridSampler"]

#: Appended to a grid point's claim key when a dead claim's point is handed out again.
RETRY_SUFFIX: Final = ":retry"


class GridSampler(SweepSampler):
    """Enumerate the grid (``method: grid``).

    Example:
        >>> from tracker.sweeps import GridSampler, parse_config
        >>> cfg = parse_config({"method": "grid", "parameters": {"a": {"values": [1, 2]}}})
        >>> GridSampler(cfg).suggest([], index=0).params
        {('a',): 1}
    """

    @property
    def names(self) -> list[Path]:
        """The enumerated (non-constant) parameters, in enumeration order."""
        return [p.path for p in self.config.params if p.distribution != "constant"]

    def points(self) -> Iterator[Suggestion]:
        """Every grid point, in W&B's order, duplicates removed."""
        names = self.names
        axes = []
        for p in self.config.params:
            if p.distribution == "constant":
                continue
            seen: set[str] = set()
            axis = []
            for value in grid_values(p.distribution, p.spec):
                key = point_key({p.path: value}, [p.path])
                if key not in seen:
                    seen.add(key)
                    axis.append(value)
            axes.append(axis)
        constants = self.constants()
        for combo in itertools.product(*axes):
            params = dict(zip(names, combo, strict=True))
            yield Suggestion({**params, **constants}, point_key(params, names))

    def size(self) -> int:
        """The number of distinct points."""
        return sum(1 for _ in self.points())

    def suggest(
        self,
        runs: Sequence[Observation],
        *,
        index: int,
        taken: Collection[str] = (),
        dead: Collection[str] = (),
    ) -> Suggestion | None:
        """The first point not done, or None (``dead``: claim keys whose run crashed)."""
        names = self.names
        claimed, dead = set(taken), set(dead)
        states: dict[str, list[str]] = {}
        for run in runs:
            states.setdefault(point_key(run.params, names), []).append(run.state)
        for point in self.points():
            key = point.key
            assert key is not None
            seen = states.get(key, [])
            if key not in claimed and not seen:
                return point
            retry = key + RETRY_SUFFIX
            if key in dead and retry not in claimed and all(s == "crashed" for s in seen):
                return Suggestion(point.params, retry)  # a dead claim: hand the point out once more
        return None
