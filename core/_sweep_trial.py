"""How a run started by a sweep agent picks up its parameters in ``init()`` (the trial hand-off).

The agent stages the run before it starts (W&B's protocol): it writes the parameters to a
JSON file (``{name: {"value": ...}}``) and sets ``TRACKER_SWEEP_ID``, ``TRACKER_RUN_ID``,
``TRACKER_PROJECT`` and ``TRACKER_SWEEP_PARAM_PATH``. ``init()`` then ignores a
conflicting ``project`` or ``id`` (with a warning) and deep-merges the parameters into
``run.config`` over ``init(config=...)``, locking the top-level keys so that later
``config.update`` calls cannot change them. Works in-process and in subprocesses alike.

One process takes the hand-off: the first ``init()`` under it claims it (``<param
file>.claim`` holding its pid, created exclusively). An ``init()`` in any other process
that inherited the variables (a worker the trial forked or spawned, as W&B's
cross-validation example does, which clears only ``WANDB_*`` for its folds) finds the
claim, drops the hand-off variables from its environment and starts a run of its own, as
the same code does under W&B.

Stopping a CLI agent's run: before the agent sends SIGTERM to the run's process group it
writes ``<root>/sweeps/<sweep>/stop-<run>`` holding the state to record (``stopped`` for
hyperband, ``killed`` for ``--cancel``); the run's SIGTERM handler (:mod:`tracker._process`)
reads it through :func:`stop_state` and records that state instead of ``preempted``.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tracker._settings import (
    ENV_PROJECT,
    ENV_RUN_ID,
    ENV_SWEEP_ID,
    ENV_SWEEP_PARAM_PATH,
    data_root,
    env,
    set_env,
)
from tracker.errors import TrackerWarning, UsageError, _LazyLogger

if TYPE_CHECKING:
    from tracker._port import RunPort

__all__: list[str] = []

_log = _LazyLogger(__name__)


def _claim(param_path: str) -> bool:
    """Claim the hand-off for this process; False when another process holds it."""
    claim = Path(f"{param_path}.claim")
    try:
        fd = os.open(claim, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        try:
            holder = int(claim.read_text().strip() or 0)
        except (OSError, ValueError):
            holder = 0  # being written by its claimer right now: not this process
        return holder == os.getpid()
    except OSError:
        return True  # cannot record a claim (read-only folder): behave as before claims
    with os.fdopen(fd, "w") as f:
        f.write(str(os.getpid()))
    return True


def init_overrides(project: str | None, run_id: str | None) -> tuple[str | None, str | None]:
    """The project and id ``init()`` must use inside a sweep; conflicting arguments warn.

    In a process that did not take the hand-off (module docstring) the hand-off variables
    are removed and the arguments returned unchanged: that ``init()`` starts its own run.
    """
    param_path = env(ENV_SWEEP_PARAM_PATH)
    if param_path is not None and not _claim(param_path):
        staged = env(ENV_RUN_ID)
        set_env({ENV_RUN_ID: None, ENV_SWEEP_ID: None, ENV_SWEEP_PARAM_PATH: None})
        _log.info(
            "sweep run %s belongs to another process (%s.claim); this process starts its own run",
            staged,
            param_path,
        )
        return project, run_id
    staged_project, staged_id = env(ENV_PROJECT), env(ENV_RUN_ID)
    for what, given, staged in (("project", project, staged_project), ("id", run_id, staged_id)):
        if given is not None and staged is not None and given != staged:
            warnings.warn(
                f"tracker.init: ignoring {what}={given!r} while running a sweep (the sweep agent "
                f"chose {staged!r}).",
                TrackerWarning,
                stacklevel=3,
            )
    return staged_project or project, staged_id or run_id


def staged_params() -> dict[str, Any]:
    """The staged parameters as a nested config, or {} outside a sweep."""
    path = env(ENV_SWEEP_PARAM_PATH)
    if path is None:
        return {}
    try:
        raw = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read the sweep parameters staged at {path}: {exc}") from exc
    return {k: v["value"] if isinstance(v, Mapping) and "value" in v else v for k, v in raw.items()}


def stop_file(root: Path, sweep_id: str, run_id: str) -> Path:
    """Where an agent asks a run of its sweep to stop (see the module docstring)."""
    return root / "sweeps" / sweep_id / f"stop-{run_id}"


def request_stop(root: Path, sweep_id: str, run_id: str, state: str) -> None:
    """Ask run ``run_id`` to end with ``state`` when it receives SIGTERM."""
    path = stop_file(root, sweep_id, run_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(state)


def stop_state(run: RunPort) -> str | None:
    """The state a sweep agent asked ``run`` to end with, or None (never raises)."""
    sweep_id = run.sweep_id
    if not sweep_id:
        return None
    try:
        state = stop_file(data_root(), sweep_id, run.id).read_text().strip()
    except Exception:  # noqa: BLE001 - called from a signal handler: never fail there
        return None
    return state if state in ("stopped", "killed") else None


def deep_merge(base: Any, over: Any) -> Any:
    """``over`` merged into ``base``: dicts recursively, ``over`` winning at each leaf."""
    if isinstance(base, Mapping) and isinstance(over, Mapping):
        out = dict(base)
        for key, value in over.items():
            out[key] = deep_merge(base.get(key), value) if key in base else value
        return out
    return over


def lock_params(run: Any, items: Mapping[str, Any]) -> None:
    """Deep-merge the staged parameters into ``run.config`` and lock their top-level keys."""
    params = staged_params()
    if params:
        run.config._lock({k: deep_merge(items.get(k), v) if k in items else v for k, v in params.items()})
