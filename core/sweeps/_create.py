"""``tracker.sweep``: validate a W&B sweep config and store the sweep."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from tracker.errors import UsageError

__all__ = ["sweep"]

_log = logging.getLogger(__name__)


def sweep(
    sweep: Mapping[str, Any] | Callable[[], Mapping[str, Any]] | str | Path,
    entity: str | None = None,
    project: str | None = None,
    *,
    allow_exponent_bounds: bool = False,
    root: str | Path | None = None,
) -> str:
    """Create a sweep from a W&B sweep config and return its id (W&B's ``wandb.sweep``).

    Args:
        sweep: The config: a dict, a zero-argument callable returning one, or the path
            of a YAML file.
        entity: Accepted for W&B compatibility.
        project: Project of the sweep's runs (default: the config's ``project``, then
            ``$TRACKER_PROJECT``, then ``uncategorized``).
        allow_exponent_bounds: Accept ``log_uniform`` bounds that look like values.
        root: Data root (default ``$TRACKER_DIR``; with ``$TRACKER_BASE_URL`` set and no
            root, the sweep is created on that team server).

    Returns:
        The sweep id, for :func:`tracker.agent` or ``tracker agent ID``.

    Raises:
        SweepConfigError: The config is invalid (every problem is listed with its path).

    Example:
        >>> sweep_id = tracker.sweep({"method": "grid", "parameters": {"lr": {"values": [0.1, 0.01]}}},
        ...                          project="demo")  # doctest: +SKIP
    """
    from tracker._naming import DEFAULT_PROJECT, check_name, new_id
    from tracker._settings import ENV_PROJECT, data_root, env
    from tracker.storage._sqlite_state import SQLiteStateStore
    from tracker.sweeps._config import load_yaml, parse_config

    raw: Any = sweep
    if isinstance(raw, (str, Path)):
        try:
            raw = load_yaml(Path(raw).read_text())
        except OSError as exc:
            raise UsageError(f"cannot read sweep config {raw}: {exc}") from exc
    elif callable(raw):
        raw = raw()
    config = parse_config(raw, allow_exponent_bounds=allow_exponent_bounds)
    stored = dict(config.raw)
    if allow_exponent_bounds:
        # Keep the opt-in with the sweep: agents re-read the stored config.
        for p in config.params:
            if p.distribution.endswith("log_uniform") and not p.distribution.endswith("_values"):
                node: Any = stored["parameters"]
                for part in p.path[:-1]:
                    node = node[part]["parameters"]
                node[p.path[-1]]["allow_exponent_bounds"] = True
    name = project or config.project or env(ENV_PROJECT) or DEFAULT_PROJECT
    check_name(name, "project")
    if root is None:
        from tracker.sweeps._remote import create_sweep, server

        remote = server()
        if remote is not None:  # $TRACKER_BASE_URL: the sweep lives on the team server
            sweep_id = create_sweep(remote, stored, name)
            _log.info("created sweep %s in project %s on %s", sweep_id, name, remote.base_url)
            return sweep_id
    store = SQLiteStateStore.for_root(data_root(root))
    try:
        sweep_id = new_id()
        store.create_sweep(sweep_id, name, stored)
    finally:
        store.close()
    _log.info("created sweep %s in project %s", sweep_id, name)
    return sweep_id
