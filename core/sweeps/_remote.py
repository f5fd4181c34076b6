"""Sweeps shared through a team server: agents on many machines, one sweep.

With ``TRACKER_BASE_URL`` set (and no data root given), ``tracker.sweep`` /
``tracker sweep CONFIG.yaml`` create the sweep on the server, and ``tracker.agent`` /
``tracker agent ID`` use a :class:`RemoteController`: every ``next_job`` is one request
that runs the sweep's controller on the server, under the server state store's
exactly-once claims, so no grid point or run number is handed out twice however many
machines ask. The parameters are then staged in the agent's own data root, where the run
logs as usual; its runs go ``online`` (unless ``TRACKER_MODE`` says otherwise) so that the
server sees their metrics (hyperband, bayes, ``metric.target``, ``Api().sweep``).

The sweep endpoints are the functions below, each one request through the shared client
(:class:`tracker._client.Client`).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tracker._client import Client, quote
from tracker.errors import UsageError
from tracker.sweeps._config import parse_config
from tracker.sweeps._controller import Controller, Job, make_sampler

if TYPE_CHECKING:
    from tracker.storage._base import SweepRecord
    from tracker.sweeps._base import Observation

__all__ = [
    "RemoteController",
    "create_sweep",
    "next_job",
    "observations",
    "open_controller",
    "server",
    "set_sweep_state",
    "sweep",
]


def server() -> Client | None:
    """The team server sweeps go through, or None (``$TRACKER_BASE_URL`` unset)."""
    from tracker._client import target

    found = target()
    return None if found is None else Client(*found)


# ---------------------------------------------------------------------------- endpoints
def sweep(client: Client, sweep_id: str) -> SweepRecord | None:
    """A sweep's record, or None when the server has no such sweep."""
    from tracker.storage._base import SweepRecord

    data = client.call("GET", f"/sweeps/{quote(sweep_id)}")["sweep"]
    return None if data is None else SweepRecord(**{f: data[f] for f in SweepRecord._fields})


def create_sweep(client: Client, config: Mapping[str, Any], project: str) -> str:
    """Create a sweep on the server (it validates the config again); return its id."""
    return str(client.call("POST", "/sweeps", body={"config": dict(config), "project": project})["id"])


def set_sweep_state(client: Client, sweep_id: str, state: str) -> str:
    """Change a sweep's state; return the new state."""
    return str(client.call("POST", f"/sweeps/{quote(sweep_id)}/state", body={"state": state})["state"])


def next_job(client: Client, sweep_id: str) -> dict[str, Any]:
    """Claim the next run on the server: ``{"job": {run_id, index, params} or None, "state"}``."""
    return dict(client.call("POST", f"/sweeps/{quote(sweep_id)}/next", body={}))


def observations(client: Client, sweep_id: str) -> list[Observation]:
    """The sweep's runs as the server's index holds them (for hyperband)."""
    from tracker.sweeps._base import Observation

    data = client.call("GET", f"/sweeps/{quote(sweep_id)}/observations")
    return [
        Observation(
            str(o["run_id"]),
            str(o["state"]),
            {tuple(path): value for path, value in o["params"]},
            tuple(float(v) for v in o["history"]),
        )
        for o in data["observations"]
    ]


# ---------------------------------------------------------------------------- controller


def open_controller(sweep_id: str, root: Path | None) -> Controller:
    """A :class:`RemoteController` when a team server is configured and no root was given, else local."""
    if root is None:
        remote = server()
        if remote is not None:
            return RemoteController(sweep_id, remote)
    return Controller(sweep_id, root)


class RemoteController(Controller):
    """One sweep of a team server, seen from one agent; runs log in the local data root.

    Args:
        sweep_id: The sweep.
        remote: The server.
        root: The local data root the runs write to (default ``$TRACKER_DIR``).
    """

    def __init__(self, sweep_id: str, remote: Client, root: Path | None = None) -> None:
        from tracker._settings import data_root

        # The base class opens the local state store; here the server holds the sweep.
        self.root = data_root(root)
        self.remote = remote
        record = sweep(remote, sweep_id)
        if record is None:
            raise UsageError(f"no sweep {sweep_id!r} on the team server {remote.base_url}.", key=sweep_id)
        self.record = record
        self.sweep_id = sweep_id
        self.project = record.project
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # shown once, when the sweep was created
            self.config = parse_config(record.config, allow_exponent_bounds=True)
        self.sampler = make_sampler(self.config)  # unused here: the server samples
        self._index = None

    def reopen(self) -> Controller:
        """Another controller of the same sweep (for a watcher thread)."""
        return RemoteController(self.sweep_id, self.remote, self.root)

    def close(self) -> None:
        """Nothing to close: every call is one request."""

    @property
    def state(self) -> str:
        """The sweep's current state on the server."""
        record = sweep(self.remote, self.sweep_id)
        return record.state if record is not None else "cancelled"

    def observations(self) -> list[Observation]:
        """The sweep's runs as the server's index holds them."""
        return observations(self.remote, self.sweep_id)

    def next_job(self) -> Job | None:
        """Claim the next run on the server and stage its parameters locally; None when done."""
        answer = next_job(self.remote, self.sweep_id)
        job: Any = answer.get("job")
        if job is None:
            return None
        params = {tuple(path): value for path, value in job["params"]}
        return self._stage(str(job["run_id"]), int(job["index"]), params)

    def environment(self, job: Job) -> dict[str, str]:
        """As :meth:`Controller.environment`, plus online mode so the server sees the run."""
        from tracker._settings import ENV_MODE, env

        out = super().environment(job)
        if env(ENV_MODE) is None:
            out[ENV_MODE] = "online"
        return out
