"""Random search as W&B does it: each parameter drawn independently, never exhausted."""

from __future__ import annotations

import random
from collections.abc import Collection, Sequence

from tracker.sweeps._base import Observation, Suggestion, SweepSampler
from tracker.sweeps._distributions import sample

__all__ = ["RandomSampler"]


class RandomSampler(SweepSampler):
    """Sample every parameter independently (``method: random``).

    With the config's ``seed``, run number ``index`` always gets the same values,
    whichever agent creates it.

    Example:
        >>> from tracker.sweeps import RandomSampler, parse_config
        >>> cfg = parse_config({"method": "random", "seed": 1,
        ...                     "parameters": {"x": {"min": 0.0, "max": 1.0}}})
        >>> 0.0 <= RandomSampler(cfg).suggest([], index=0).params[("x",)] <= 1.0
        True
    """

    def suggest(
        self, runs: Sequence[Observation], *, index: int, taken: Collection[str] = ()
    ) -> Suggestion | None:
        seed = self.config.seed
        rng = random.Random(f"{seed}:{index}") if seed is not None else random.Random()
        return Suggestion({p.path: sample(p.distribution, p.spec, rng) for p in self.config.params})
