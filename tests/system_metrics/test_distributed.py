"""Distributed launches: the shared run id, roles, node files and the merged reader."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest

import tracker
from tracker import _distributed, _stats
from tracker.storage._format import R, read_frames
from tracker.storage._lease import held
from tracker.storage._system import node_log_name, system_rows

LAUNCHER_VARS = (
    "TORCHELASTIC_RUN_ID",
    "RANK",
    "LOCAL_RANK",
    "GROUP_RANK",
    "NODE_RANK",
    "WORLD_SIZE",
    "LOCAL_WORLD_SIZE",
    "NNODES",
    "SLURM_JOB_ID",
    "SLURM_STEP_ID",
    "SLURM_PROCID",
    "SLURM_LOCALID",
    "SLURM_NODEID",
    "SLURM_NTASKS",
    "SLURM_NNODES",
    "CUDA_VISIBLE_DEVICES",
)
GUARD = 30.0


@pytest.fixture(autouse=True)
def _no_launcher(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests start outside any launcher (even when pytest itself runs in a SLURM job)."""
    for name in LAUNCHER_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(_distributed, "_derived_count", 0)


def _env(monkeypatch: pytest.MonkeyPatch, **values: Any) -> None:
    for key, value in values.items():
        monkeypatch.setenv(key, str(value))


# ---------------------------------------------------------------------- detection


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, dict(launcher=None, job_id=None, rank=0, local_rank=0, node_rank=0, role="main", samples=True)),
        (
            dict(
                TORCHELASTIC_RUN_ID="job-7",
                RANK=0,
                LOCAL_RANK=0,
                GROUP_RANK=0,
                WORLD_SIZE=8,
                LOCAL_WORLD_SIZE=4,
            ),
            dict(launcher="torchrun", job_id="job-7", rank=0, node_rank=0, role="main", samples=True),
        ),
        (
            dict(TORCHELASTIC_RUN_ID="job-7", RANK=5, LOCAL_RANK=1, GROUP_RANK=1, WORLD_SIZE=8),
            dict(rank=5, local_rank=1, node_rank=1, role="worker", samples=False),
        ),
        (
            dict(TORCHELASTIC_RUN_ID="job-7", RANK=4, LOCAL_RANK=0, GROUP_RANK=1, WORLD_SIZE=8),
            dict(node_rank=1, role="node", samples=True),
        ),
        (  # accelerate/Lightning name the node rank NODE_RANK
            dict(TORCHELASTIC_RUN_ID="job-7", RANK=4, LOCAL_RANK=0, NODE_RANK=1),
            dict(node_rank=1, role="node"),
        ),
        (  # no node rank at all: derived from LOCAL_WORLD_SIZE
            dict(RANK=6, LOCAL_RANK=2, LOCAL_WORLD_SIZE=4),
            dict(launcher="torchrun", job_id=None, node_rank=1, role="worker"),
        ),
        (  # a second process on the main node
            dict(TORCHELASTIC_RUN_ID="job-7", RANK=1, LOCAL_RANK=1, GROUP_RANK=0),
            dict(node_rank=0, role="worker", samples=False),
        ),
        (  # torchrun's default rendezvous id is "none": not a job id
            dict(TORCHELASTIC_RUN_ID="none", RANK=0, LOCAL_RANK=0),
            dict(job_id=None, role="main"),
        ),
        (
            dict(
                SLURM_JOB_ID=123,
                SLURM_STEP_ID=4,
                SLURM_PROCID=3,
                SLURM_LOCALID=0,
                SLURM_NODEID=1,
                SLURM_NTASKS=4,
                SLURM_NNODES=2,
            ),
            dict(
                launcher="slurm",
                job_id="slurm-123-4",
                rank=3,
                node_rank=1,
                world_size=4,
                nodes=2,
                role="node",
            ),
        ),
        (  # torchrun inside SLURM: torchrun's ranks win, SLURM's job id is the fallback id
            dict(
                SLURM_JOB_ID=123,
                SLURM_NTASKS=2,
                SLURM_PROCID=1,
                SLURM_NODEID=1,
                RANK=0,
                LOCAL_RANK=0,
                GROUP_RANK=0,
            ),
            dict(job_id="slurm-123", rank=0, node_rank=0, role="main"),
        ),
        (dict(SLURM_JOB_ID=123, SLURM_NTASKS=4), dict(launcher="slurm", job_id="slurm-123", role="main")),
        (  # a one-task batch script (no srun step): its scripts run one after another, no shared id
            dict(SLURM_JOB_ID=123, SLURM_NTASKS=1),
            dict(launcher=None, job_id=None, role="main"),
        ),
    ],
)
def test_detect(monkeypatch: pytest.MonkeyPatch, env: dict[str, Any], expected: dict[str, Any]) -> None:
    _env(monkeypatch, **env)
    topo = _distributed.detect()
    for key, value in expected.items():
        assert getattr(topo, key) == value, key


def test_derived_ids_are_sanitised_and_numbered_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    _env(monkeypatch, TORCHELASTIC_RUN_ID="exp 1/a:b", RANK=0, LOCAL_RANK=0)
    topo = _distributed.detect()
    assert [_distributed.derived_run_id(topo) for _ in range(3)] == [
        "exp-1-a-b",
        "exp-1-a-b-2",
        "exp-1-a-b-3",
    ]
    assert (
        _distributed.derived_run_id(
            _distributed.Topology(
                launcher=None,
                job_id=None,
                rank=0,
                local_rank=0,
                node_rank=0,
                world_size=1,
                local_world_size=None,
                nodes=None,
                host="h",
                cuda_visible_devices=None,
            )
        )
        is None
    )


def test_gpus_each_local_rank_was_given() -> None:
    base = dict(
        launcher="torchrun",
        job_id="j",
        rank=0,
        local_rank=0,
        node_rank=0,
        world_size=8,
        nodes=2,
        host="h",
        cuda_visible_devices=None,
    )
    hardware = {"gpu": {"devices": [{"index": i, "uuid": f"GPU-{i}"} for i in range(4)]}}
    shared = _distributed.Topology(local_world_size=4, **base).as_meta("h", hardware)
    assert shared["gpus"] == [{"local_rank": r, "gpu": r, "uuid": f"GPU-{r}"} for r in range(4)]
    assert shared["label"] == "h"
    assert shared["rank"] == 0
    # One GPU visible, eight local processes: each was given its own CUDA_VISIBLE_DEVICES.
    own = _distributed.Topology(local_world_size=8, **base).as_meta(
        "h", {"gpu": {"devices": hardware["gpu"]["devices"][:1]}}
    )
    assert own["gpus"] == [{"local_rank": 0, "gpu": 0, "uuid": "GPU-0"}]
    assert _distributed.Topology(local_world_size=8, **base).as_meta("h", {"gpu": {"count": 0}})["gpus"] == []


# ---------------------------------------------------------------------- roles in one process


def test_main_process_gets_the_job_id_and_a_relaunch_resumes(
    monkeypatch: pytest.MonkeyPatch, root: Path
) -> None:
    _env(monkeypatch, SLURM_JOB_ID=12, SLURM_STEP_ID=3, SLURM_PROCID=0, SLURM_LOCALID=0, SLURM_NODEID=0)
    run = tracker.init(project="d", settings={"stats_interval": 0})
    assert run.id == "slurm-12-3"
    assert type(run) is tracker.Run
    run.log({"a": 1})
    run.finish()
    second = tracker.init(project="d", settings={"stats_interval": 0})
    assert second.id == "slurm-12-3-2"
    assert not second.resumed
    second.finish()
    monkeypatch.setattr(_distributed, "_derived_count", 0)  # a relaunched process (SLURM requeue)
    again = tracker.init(project="d", settings={"stats_interval": 0})
    assert again.id == "slurm-12-3"
    assert again.resumed
    again.log({"a": 2})
    again.finish()


def test_explicit_id_keeps_a_normal_run_on_any_rank(monkeypatch: pytest.MonkeyPatch) -> None:
    _env(monkeypatch, TORCHELASTIC_RUN_ID="job", RANK=3, LOCAL_RANK=1, GROUP_RANK=0)
    run = tracker.init(project="d", id="mine-3", settings={"stats_interval": 0.1})
    assert type(run) is tracker.Run
    assert run.id == "mine-3"
    assert _stats.sampler_of(run) is None  # local rank 1 does not sample its node
    run.finish()


def test_worker_process_gets_a_no_op_run(monkeypatch: pytest.MonkeyPatch, root: Path) -> None:
    _env(monkeypatch, TORCHELASTIC_RUN_ID="job", RANK=1, LOCAL_RANK=1, GROUP_RANK=0, LOCAL_WORLD_SIZE=2)
    run = tracker.init(project="d", settings={"stats_interval": 0.1}, config={"lr": 0.1})
    assert isinstance(run, _distributed.NodeRun)
    assert run.role == "worker"
    assert run.id == "job"
    assert tracker.run is run
    run.log({"loss": 1.0})
    assert run.config["lr"] == 0.1
    assert _stats.sampler_of(run) is None
    assert [t.name for t in threading.enumerate() if t.name.startswith("tracker")] == []
    run.finish()
    assert tracker.run is None
    assert not (root / "projects").exists()


def test_node_process_writes_only_system_records_to_its_own_file(
    monkeypatch: pytest.MonkeyPatch, root: Path
) -> None:
    _env(monkeypatch, TORCHELASTIC_RUN_ID="job", RANK=2, LOCAL_RANK=0, GROUP_RANK=1, LOCAL_WORLD_SIZE=2)
    run = tracker.init(project="d", settings={"stats_interval": 0.1, "x_label": "n1"})
    assert isinstance(run, _distributed.NodeRun)
    assert run.role == "node"
    sampler = _stats.sampler_of(run)
    assert sampler is not None
    assert sampler.wait_for_samples(2, GUARD)
    run.log({"loss": 1.0})  # ignored: only rank 0 records history
    run_dir = Path(run.dir)
    assert held(run_dir / node_log_name("n1"))
    run.finish()
    assert not sampler.alive
    # The node log has a lease of its own (never the run's), given back at finish.
    assert sorted(p.name for p in run_dir.iterdir()) == [f".{node_log_name('n1')}.lease", node_log_name("n1")]
    assert not held(run_dir / node_log_name("n1"))
    assert not held(run_dir / "run.tlog")
    records = [rec for _off, rec in read_frames(run_dir / "system-n1.tlog").records]
    assert {rec[0] for rec in records} == {R.META, R.SYSTEM}
    meta = next(rec[1] for rec in records if rec[0] == R.META)
    assert meta["node"]["node_rank"] == 1
    assert meta["node"]["label"] == "n1"
    assert "cpu" in meta["hardware"]
    rows = system_rows(run_dir)
    assert len(rows) >= 2
    assert {r["node"] for r in rows} == {"n1"}
    for row in rows:
        assert all(k.endswith("/l:n1") for k in row if k.startswith("system."))
        assert "system.cpu/l:n1" in row


def test_relaunched_node_appends_after_a_torn_tail(tmp_path: Path) -> None:
    path = tmp_path / "run" / "system-n1.tlog"
    problems: list[tuple[str, str]] = []
    log = _stats.NodeLog(path, problems)
    log.write([R.SYSTEM, [[1.0, {"system.cpu/l:n1": 1.0}]]])
    log.close()
    with open(path, "ab") as f:
        f.write(b"\x10\x00\x00\x00torn")  # a node killed mid-write
    again = _stats.NodeLog(path, problems)
    again.write([R.SYSTEM, [[2.0, {"system.cpu/l:n1": 2.0}]]])
    again.close()
    assert problems == []
    assert [r["system.cpu/l:n1"] for r in system_rows(path.parent)] == [1.0, 2.0]
    assert list(path.parent.glob("*.torn-*"))  # the torn bytes were kept aside


# ---------------------------------------------------------------------- two nodes, two processes

NODE_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import tracker
    from tracker import _stats

    label, rank = sys.argv[1], int(sys.argv[2])
    run = tracker.init(project="dist", settings={"stats_interval": 0.1, "x_label": label})
    sampler = _stats.sampler_of(run)
    sampled = sampler is not None and sampler.wait_for_samples(3, 30.0)
    run.log({"loss": 0.5, "rank": rank})
    run.finish()
    alive = sampler is not None and sampler.alive
    print(json.dumps({"id": run.id, "dir": run.dir, "type": type(run).__name__, "sampled": sampled,
                      "alive": alive}))
    """
)


@pytest.mark.parametrize(
    ("job_id", "envs"),
    [
        (
            "slurm-4242-0",
            [
                dict(SLURM_PROCID=0, SLURM_LOCALID=0, SLURM_NODEID=0),
                dict(SLURM_PROCID=1, SLURM_LOCALID=0, SLURM_NODEID=1),
                dict(SLURM_PROCID=2, SLURM_LOCALID=1, SLURM_NODEID=1),  # a second task on node 1
            ],
        ),
        (
            "elastic-77",
            [
                dict(TORCHELASTIC_RUN_ID="elastic-77", RANK=0, LOCAL_RANK=0, NODE_RANK=0),
                dict(TORCHELASTIC_RUN_ID="elastic-77", RANK=2, LOCAL_RANK=0, NODE_RANK=1),
                dict(TORCHELASTIC_RUN_ID="elastic-77", RANK=3, LOCAL_RANK=1, NODE_RANK=1),
            ],
        ),
    ],
)
def test_two_simulated_nodes_make_one_run_with_two_node_groups(
    tmp_path: Path, root: Path, job_id: str, envs: list[dict[str, Any]]
) -> None:
    script = tmp_path / "node.py"
    script.write_text(NODE_SCRIPT)
    common = dict(
        SLURM_JOB_ID=4242, SLURM_STEP_ID=0, SLURM_NTASKS=4, SLURM_NNODES=2, WORLD_SIZE=4, LOCAL_WORLD_SIZE=2
    )
    base = {k: v for k, v in os.environ.items() if k not in LAUNCHER_VARS}
    labels = ["nodeA", "nodeB", "nodeB"]
    procs = []
    for i, extra in enumerate(envs):
        env = dict(base, **{k: str(v) for k, v in {**common, **extra}.items()})
        procs.append(
            subprocess.Popen(
                [sys.executable, str(script), labels[i], str(i)],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    main, node, worker = results
    assert {r["id"] for r in results} == {job_id}
    assert (main["type"], node["type"], worker["type"]) == ("Run", "NodeRun", "NodeRun")
    assert main["sampled"]
    assert node["sampled"]
    assert not worker["sampled"]
    assert not main["alive"]
    assert not node["alive"]
    run_dir = Path(main["dir"])
    assert node["dir"] == main["dir"]
    # Rank 0 holds the run's lease, the node its own log's: one writer per file.
    assert sorted(p.name for p in run_dir.iterdir()) == [
        ".lease",
        ".system-nodeB.tlog.lease",
        "run.tlog",
        "system-nodeB.tlog",
    ]

    rows = system_rows(run_dir)
    groups = {r["node"] for r in rows}
    assert groups == {"nodeA", "nodeB"}
    for label in groups:
        mine = [r for r in rows if r["node"] == label]
        assert len(mine) >= 3
        keys = {k for r in mine for k in r if k.startswith("system.")}
        if label == "nodeA":
            assert "system.cpu" in keys
            assert not any("/l:" in k for k in keys)
        else:
            assert "system.cpu/l:nodeB" in keys
            assert all(k.endswith("/l:nodeB") for k in keys)
    assert [r["node"] for r in system_rows(run_dir, node="nodeB")] == ["nodeB"] * len(
        [r for r in rows if r["node"] == "nodeB"]
    )

    from tracker._init import read_log

    state = read_log(run_dir / "run.tlog")
    assert [r[2]["rank"] for r in state.rows] == [0]  # only rank 0 records history

    # The same through the public read side: one run, both node groups in its events.
    api_run = tracker.Api().run(f"{run_dir.parent.parent.name}/{job_id}")
    events = api_run.history(stream="events", pandas=False)
    assert {r["node"] for r in events} == {"nodeA", "nodeB"}
    assert any("system.cpu/l:nodeB" in r for r in events)
    assert any("system.cpu" in r for r in events)
    dist = state.capture["distributed"]
    assert (dist["rank"], dist["node_rank"], dist["label"], dist["job_id"]) == (0, 0, "nodeA", job_id)
    node_meta = next(
        rec[1] for _off, rec in read_frames(run_dir / "system-nodeB.tlog").records if rec[0] == R.META
    )
    assert node_meta["node"]["node_rank"] == 1
    assert node_meta["node"]["rank"] == envs[1].get("RANK", envs[1].get("SLURM_PROCID"))
