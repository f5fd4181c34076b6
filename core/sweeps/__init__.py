"""tracker.sweeps: W&B-compatible hyperparameter sweeps, run by local agents.

``tracker.sweep(config)`` validates a W&B sweep config and stores the sweep;
``tracker.agent(sweep_id, function=train)`` (or ``tracker agent ID``) runs it. Any number
of agents in any number of processes share one sweep through the data root: each run is
claimed in the state store, so no grid point is handed out twice.

Search methods are :class:`SweepSampler` subclasses: :class:`GridSampler`,
:class:`RandomSampler` and :class:`BayesSampler` (Optuna, the ``sweeps`` extra).
Early termination is W&B's hyperband rule (:func:`runs_to_stop`); a stopped run ends
with state ``stopped`` (see :mod:`tracker.sweeps._agent`).

Importing this package loads only the standard library; PyYAML and Optuna load on use.
"""

from __future__ import annotations

from tracker.sweeps._agent import SweepRunStopped, agent
from tracker.sweeps._base import Observation, Suggestion, SweepSampler
from tracker.sweeps._bayes import BayesSampler
from tracker.sweeps._config import Hyperband, Metric, Param, SweepConfig, bands, load_yaml, parse_config
from tracker.sweeps._create import sweep
from tracker.sweeps._grid import GridSampler
from tracker.sweeps._hyperband import runs_to_stop
from tracker.sweeps._random import RandomSampler

__all__ = [
    "BayesSampler",
    "GridSampler",
    "Hyperband",
    "Metric",
    "Observation",
    "Param",
    "RandomSampler",
    "Suggestion",
    "SweepConfig",
    "SweepRunStopped",
    "SweepSampler",
    "agent",
    "bands",
    "load_yaml",
    "parse_config",
    "runs_to_stop",
    "sweep",
]
