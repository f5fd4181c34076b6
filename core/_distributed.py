"""Distributed launches (torchrun, SLURM, accelerate): one shared run, a role per process.

Under a launcher, ``init()`` without an id derives the run id from the job
(``TORCHELASTIC_RUN_ID``, else ``SLURM_JOB_ID`` + ``SLURM_STEP_ID`` inside an srun step or
a multi-task job), so every process of
the job finds the same run, and a relaunch of the same job (elastic restart, SLURM
requeue) resumes it. Then each process takes a role:

* ``main`` (global rank 0): the full run, ``run.tlog``; it samples its node.
* ``node`` (local rank 0 of any other node): logging calls are no-ops; it samples its
  node into ``system-<label>.tlog`` in the run directory (keys tagged ``/l:<label>``).
* ``worker`` (every other process): a no-op run (W&B's advice: log from rank 0 only).

A process that passes an explicit id keeps a normal run whatever its rank; only local
rank 0 of each node samples system metrics either way.

This is the only way several processes log to one run: ``main`` holds the run's writer
lease (:mod:`tracker.storage._lease`), each ``node`` the lease of its own
``system-<label>.tlog``, and a ``worker`` writes nothing. Ranks that pass the same
explicit id are each a writer of one run: all but the first get a ``UsageError`` naming
the process that writes it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Final, NamedTuple

from tracker._disabled import DisabledRun
from tracker._settings import env, env_raw
from tracker.errors import _LazyLogger

__all__: list[str] = []

_log = _LazyLogger(__name__)

# Launcher variables (read, never set).
ENV_TORCHELASTIC_RUN_ID: Final = "TORCHELASTIC_RUN_ID"
ENV_RANK: Final = "RANK"
ENV_LOCAL_RANK: Final = "LOCAL_RANK"
ENV_GROUP_RANK: Final = "GROUP_RANK"  # torchrun: the node's rank
ENV_NODE_RANK: Final = "NODE_RANK"  # accelerate, Lightning
ENV_WORLD_SIZE: Final = "WORLD_SIZE"
ENV_LOCAL_WORLD_SIZE: Final = "LOCAL_WORLD_SIZE"
ENV_NNODES: Final = "NNODES"
ENV_SLURM_JOB_ID: Final = "SLURM_JOB_ID"
ENV_SLURM_STEP_ID: Final = "SLURM_STEP_ID"
ENV_SLURM_PROCID: Final = "SLURM_PROCID"
ENV_SLURM_LOCALID: Final = "SLURM_LOCALID"
ENV_SLURM_NODEID: Final = "SLURM_NODEID"
ENV_SLURM_NTASKS: Final = "SLURM_NTASKS"
ENV_SLURM_NNODES: Final = "SLURM_NNODES"
ENV_CUDA_VISIBLE_DEVICES: Final = "CUDA_VISIBLE_DEVICES"

_UNSAFE_ID: Final = re.compile(r"[^A-Za-z0-9_-]+")
#: Runs this process started under a derived id: the second gets ``<id>-2`` and so on,
#: the same on every rank, so sequential runs of one job (trials, fit then test) stay apart.
_derived_count = 0


def _int(name: str) -> int | None:
    raw = env(name)
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        return None


class Topology(NamedTuple):
    """Where this process sits in a launch (all zeros and None outside launchers)."""

    launcher: str | None
    job_id: str | None
    rank: int
    local_rank: int
    node_rank: int
    world_size: int
    local_world_size: int | None
    nodes: int | None
    host: str
    cuda_visible_devices: str | None

    @property
    def distributed(self) -> bool:
        """True under a launcher or with more than one process."""
        return self.launcher is not None or self.world_size > 1

    @property
    def role(self) -> str:
        """``main``, ``node`` or ``worker`` (see the module docstring)."""
        if self.rank == 0:
            return "main"
        if self.local_rank == 0 and self.node_rank > 0:
            return "node"
        return "worker"

    @property
    def samples(self) -> bool:
        """Whether this process samples system metrics (local rank 0 of its node)."""
        return self.local_rank == 0

    def as_meta(self, label: str, hardware: dict[str, Any] | None = None) -> dict[str, Any]:
        """The ``distributed`` metadata, with the GPUs each local rank was given.

        Under torchrun and accelerate every local process sees the same
        ``CUDA_VISIBLE_DEVICES`` and uses ``cuda:LOCAL_RANK``; where a launcher gives each
        process its own ``CUDA_VISIBLE_DEVICES`` (fewer visible GPUs than local ranks), only
        this process's GPUs are known.
        """
        meta: dict[str, Any] = {
            "launcher": self.launcher,
            "job_id": self.job_id,
            "rank": self.rank,
            "local_rank": self.local_rank,
            "node_rank": self.node_rank,
            "world_size": self.world_size,
            "local_world_size": self.local_world_size,
            "nodes": self.nodes,
            "host": self.host,
            "label": label,
            "cuda_visible_devices": self.cuda_visible_devices,
        }
        devices = ((hardware or {}).get("gpu") or {}).get("devices") or []
        n = len(devices)
        local = self.local_world_size or 1
        if n >= local:  # shared CUDA_VISIBLE_DEVICES: local rank r uses cuda:r
            pairs = [(r, r) for r in range(local)]
        else:  # a CUDA_VISIBLE_DEVICES of our own: our GPUs are all we can see
            pairs = [(self.local_rank, k) for k in range(n)]
        gpus = [
            {"local_rank": r, "gpu": devices[k].get("index"), "uuid": devices[k].get("uuid")}
            for r, k in pairs
        ]
        meta["gpus"] = gpus
        return meta


def detect() -> Topology:
    """Read the launcher variables of torchrun/accelerate (preferred) or SLURM."""
    host = os.uname().nodename if hasattr(os, "uname") else ""
    launcher: str | None = None
    job: str | None = None
    run_id = env(ENV_TORCHELASTIC_RUN_ID)
    if run_id is not None and run_id.lower() != "none":  # torchrun's default rdzv id is "none"
        launcher, job = "torchrun", run_id
    slurm_job = env(ENV_SLURM_JOB_ID)
    step = env(ENV_SLURM_STEP_ID)
    # Only inside an srun step or a multi-task job: the scripts a one-task batch job runs one
    # after another (train.py, then eval.py) must not share a run.
    if job is None and slurm_job is not None and (step is not None or (_int(ENV_SLURM_NTASKS) or 1) > 1):
        launcher, job = "slurm", f"slurm-{slurm_job}" + (f"-{step}" if step else "")
    rank = _int(ENV_RANK)
    if rank is not None:  # torchrun, accelerate, deepspeed: RANK wins over SLURM's (one task per node)
        launcher = launcher or "torchrun"
        local = _int(ENV_LOCAL_RANK)
        if local is None:
            local = rank  # no local rank: assume one node
        local_world = _int(ENV_LOCAL_WORLD_SIZE)
        world = _int(ENV_WORLD_SIZE) or 1
        node = _int(ENV_GROUP_RANK)
        if node is None:
            node = _int(ENV_NODE_RANK)
        if node is None:
            node = (rank - local) // local_world if local_world else (0 if rank == local else 1)
        nodes = _int(ENV_NNODES) or _int(ENV_SLURM_NNODES)
    elif env(ENV_SLURM_PROCID) is not None:
        launcher = launcher or "slurm"
        rank = _int(ENV_SLURM_PROCID) or 0
        local = _int(ENV_SLURM_LOCALID) or 0
        node = _int(ENV_SLURM_NODEID) or _int(ENV_NODE_RANK) or 0
        world = _int(ENV_SLURM_NTASKS) or 1
        nodes = _int(ENV_SLURM_NNODES)
        local_world = _int(ENV_LOCAL_WORLD_SIZE)
    else:
        rank, local, node, world, nodes, local_world = 0, 0, 0, 1, None, None
    return Topology(
        launcher=launcher,
        job_id=job,
        rank=rank,
        local_rank=local,
        node_rank=node,
        world_size=world,
        local_world_size=local_world,
        nodes=nodes,
        host=host,
        cuda_visible_devices=env_raw(ENV_CUDA_VISIBLE_DEVICES),
    )


def derived_run_id(topo: Topology) -> str | None:
    """The run id shared by every process of the job, or None outside a launcher's job."""
    global _derived_count
    if topo.job_id is None:
        return None
    _derived_count += 1
    base = _UNSAFE_ID.sub("-", topo.job_id).strip("-")[:56] or "job"
    return base if _derived_count == 1 else f"{base}-{_derived_count}"


class NodeRun(DisabledRun):
    """The run of a non-main process of a distributed job: logging calls do nothing.

    On a node's local rank 0 it owns the node's system-metrics sampler (wired by
    ``tracker._init``), stopped by :meth:`finish` (or at exit).
    """

    def __init__(
        self, *, project: str, name: str | None, run_id: str, config: Any, run_dir: Path | None, role: str
    ) -> None:
        super().__init__(project=project, name=name, run_id=run_id, config=config, run_dir=run_dir)
        self.role = role


def secondary_run(
    topo: Topology,
    *,
    project: str,
    run_dir: Path,
    run_id: str,
    name: str | None,
    config: Any,
) -> NodeRun:
    """The run object of a ``node`` or ``worker`` process (the caller registers it and
    starts a node's sampler)."""
    role = topo.role
    _log.debug(
        "tracker: rank %d of job %s is a %s process of run %s; only rank 0 records history",
        topo.rank,
        topo.job_id,
        role,
        run_id,
    )
    return NodeRun(
        project=project,
        name=name,
        run_id=run_id,
        config=config,
        run_dir=run_dir if role == "node" else None,
        role=role,
    )
