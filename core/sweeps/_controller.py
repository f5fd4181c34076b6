"""The controller every agent runs for itself: claim a slot, ask the sampler, stage the run.

There is no controller process. Each agent, in any process, calls :meth:`Controller.next_job`,
which reads the sweep's runs from the index and its claims from the state store, then claims:

* ``run:<n>``: the n-th run of the sweep (``run_cap`` is enforced here, and ``n`` seeds
  random and bayes, so results do not depend on which agent asks);
* ``grid:<hash>``: the grid point (grid only). :meth:`StateStore.claim` hands each key
  out at most once across processes, so no point runs twice; a lost race simply retries.

Documented rules for runs that do not finish:

* A killed agent's run reads as ``crashed`` in the index (no exit record and its process
  is gone; or silent for 90 s on another host), while a live agent's run reads ``running``:
  that is how a dead claim is told from a live one.
* grid: a point whose claim is dead (the claim's run is ``crashed``, and no run of the
  point is in another state) is handed out **once more**, claimed as
  ``grid:<hash>:retry`` (see :mod:`tracker.sweeps._grid`); ``failed``, ``killed`` and
  ``stopped`` runs keep W&B's rule (the point is done).
* random and bayes: nothing is re-queued. The crashed run keeps its ``run:<n>`` claim, so
  it counts toward ``run_cap`` and the sweep-wide run number, and bayes imputes it as a
  failed observation (``metric.impute``, ``worst`` by default).
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from tracker.errors import UsageError
from tracker.sweeps._base import Observation, SweepSampler, flatten, nest
from tracker.sweeps._config import SweepConfig, parse_config

if TYPE_CHECKING:
    from tracker.storage._base import IndexBackend, StateStore, SweepRecord

__all__ = ["STATES", "Controller", "Job", "make_sampler"]

#: Sweep states: new runs are handed out only in ``pending`` and ``running``.
STATES: Final = ("pending", "running", "paused", "finished", "stopped", "cancelled")
ACTIVE: Final = frozenset({"pending", "running"})


def make_sampler(config: SweepConfig) -> SweepSampler:
    """The sampler of a config's method."""
    if config.method == "grid":
        from tracker.sweeps._grid import GridSampler

        return GridSampler(config)
    if config.method == "bayes":
        from tracker.sweeps._bayes import BayesSampler

        return BayesSampler(config)
    from tracker.sweeps._random import RandomSampler

    return RandomSampler(config)


@dataclass(frozen=True)
class Job:
    """A run handed to an agent.

    Attributes:
        run_id: The id the run must use.
        index: Its number in the sweep.
        params: The parameter values, by path.
        param_path: The staged parameter file (W&B's ``{name: {value: ...}}`` shape).
    """

    run_id: str
    index: int
    params: dict[tuple[str, ...], Any]
    param_path: Path

    def config(self) -> dict[str, Any]:
        """The run config the parameters form (nested groups as dicts)."""
        return nest(self.params)


class Controller:
    """One sweep seen from one agent.

    Args:
        sweep_id: The sweep.
        root: The data root (default ``$TRACKER_DIR``).
        store: The state store to claim in (default: the data root's SQLite store); a
            team server passes its own (PostgreSQL for several server processes).
        index: The index to read the sweep's runs from (default: the data root's).
            What is passed in is the caller's: :meth:`close` leaves it open.
    """

    def __init__(
        self,
        sweep_id: str,
        root: Path | None = None,
        *,
        store: StateStore | None = None,
        index: IndexBackend | None = None,
    ) -> None:
        from tracker._settings import data_root
        from tracker.storage._sqlite_state import SQLiteStateStore

        self.root = data_root(root)
        self._given = (store, index)
        self.store: StateStore = store if store is not None else SQLiteStateStore.for_root(self.root)
        record = self.store.sweep(sweep_id)
        if record is None:
            raise UsageError(
                f"no sweep {sweep_id!r} under {self.root}; check the id and TRACKER_DIR.", key=sweep_id
            )
        self.record: SweepRecord = record
        self.sweep_id = sweep_id
        self.project = record.project
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # shown once, when the sweep was created
            self.config = parse_config(record.config, allow_exponent_bounds=True)
        self.sampler = make_sampler(self.config)
        self._index: IndexBackend | None = index

    def reopen(self) -> Controller:
        """Another controller of the same sweep, with its own connections (for a watcher thread)."""
        return Controller(self.sweep_id, self.root, store=self._given[0], index=self._given[1])

    def close(self) -> None:
        """Close the store and index connections this controller opened."""
        if self._given[0] is None:
            self.store.close()
        if self._index is not None and self._given[1] is None:
            self._index.close()

    @property
    def state(self) -> str:
        """The sweep's current state."""
        record = self.store.sweep(self.sweep_id)
        return record.state if record is not None else "cancelled"

    def observations(self) -> list[Observation]:
        """Every run of the sweep that has a run log, with its metric history."""
        import time

        from tracker.storage._liveness import effective_state
        from tracker.storage._sqlite_index import SQLiteIndex

        if self._index is None:
            self._index = SQLiteIndex(self.root)
        self._index.refresh(self.project)
        paths = [p.path for p in self.config.params]
        metric = self.config.metric.name if self.config.metric is not None else None
        now = time.time()
        out = []
        for rec in self._index.runs(self.project):
            if rec.sweep_id != self.sweep_id:
                continue
            state = effective_state(
                rec.state,
                host=rec.host,
                pid=rec.pid,
                start_time=rec.start_time,
                last_time=rec.last_time,
                now=now,
            )
            history: list[float] = []
            if metric is not None:
                series = self._index.series(self.project, rec.id, [metric]).get(metric)
                if series is not None:
                    history = [
                        float(v)
                        for v in series.values
                        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                    ]
            out.append(Observation(rec.id, state, flatten(rec.config, paths), history))
        return out

    def target_reached(self, runs: list[Observation]) -> bool:
        """True once any run reached ``metric.target``."""
        metric = self.config.metric
        if metric is None or metric.target is None:
            return False
        return any(metric.reached(v) for run in runs for v in run.history)

    def next_job(self) -> Job | None:
        """Claim and stage the next run, or None when the sweep has no more work.

        Ends the sweep (state ``finished``) when the grid is exhausted, ``run_cap`` is
        reached or a run reached ``metric.target``.
        """
        from tracker._naming import new_id

        state = self.state
        if state not in ACTIVE:
            return None
        if state == "pending":
            self.store.set_sweep_state(self.sweep_id, "running")
        run_id = new_id()
        chosen: dict[tuple[str, ...], Any] | None = None
        while True:
            claims = self.store.claims(self.sweep_id)
            index = sum(1 for key in claims if key.startswith("run:"))
            cap = self.config.run_cap
            if cap is not None and index >= cap:
                return self._finish()
            if chosen is None:
                runs = self.observations()
                if self.target_reached(runs):
                    return self._finish()
                if self.config.method == "grid":
                    from tracker.sweeps._grid import GridSampler

                    assert isinstance(self.sampler, GridSampler)
                    crashed = {run.run_id for run in runs if run.state == "crashed"}
                    dead = [k for k, owner in claims.items() if k.startswith("grid:") and owner in crashed]
                    suggestion = self.sampler.suggest(runs, index=index, taken=claims.keys(), dead=dead)
                else:
                    suggestion = self.sampler.suggest(runs, index=index, taken=claims.keys())
                if suggestion is None:
                    return self._finish()
                grid_key = suggestion.key if self.config.method == "grid" else None
                if grid_key is not None and not self.store.claim(self.sweep_id, grid_key, run_id):
                    continue  # another agent took this point: ask again
                chosen = suggestion.params
            if self.store.claim(self.sweep_id, f"run:{index}", run_id):
                return self._stage(run_id, index, chosen)
            # Another agent took this run number: a grid keeps its claimed point; random
            # and bayes draw again, since their values are seeded by the run number.
            if self.config.method != "grid":
                chosen = None

    def _finish(self) -> Job | None:
        if self.state in ACTIVE:
            self.store.set_sweep_state(self.sweep_id, "finished")
        return None

    def _stage(self, run_id: str, index: int, params: dict[tuple[str, ...], Any]) -> Job:
        folder = self.root / "sweeps" / self.sweep_id
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"config-{run_id}.json"
        staged = {key: {"value": value} for key, value in nest(params).items()}
        path.write_text(json.dumps(staged, default=repr))
        return Job(run_id, index, params, path)

    def environment(self, job: Job) -> dict[str, str]:
        """The variables that make ``init()`` join the sweep as ``job``."""
        from tracker._settings import ENV_DIR, ENV_PROJECT, ENV_RUN_ID, ENV_SWEEP_ID, ENV_SWEEP_PARAM_PATH

        return {
            ENV_SWEEP_ID: self.sweep_id,
            ENV_RUN_ID: job.run_id,
            ENV_PROJECT: self.project,
            ENV_SWEEP_PARAM_PATH: str(job.param_path),
            ENV_DIR: str(self.root),
        }
