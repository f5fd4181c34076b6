"""The psutil source: translation logic against a fake psutil, plus one reading of the real one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tracker.system_metrics import PSUTIL_KEYS
from tracker.system_metrics._cpu import CpuSource

MIB = 2**20


def test_every_psutil_key_with_units(fake_psutil: Any, no_cgroup: Path) -> None:
    src = CpuSource(cgroup_root=no_cgroup)
    data = src.sample()
    assert set(PSUTIL_KEYS) <= set(data)
    assert data["system.cpu"] == pytest.approx(150.0 / 4)  # process % over 4 usable CPUs
    assert data["system.cpu_percent"] == pytest.approx(60.0)  # 30 busy of 50 jiffies
    assert data["system.proc.cpu.threads"] == 8
    assert data["system.proc.memory.rssMB"] == 3 * 1024
    assert data["system.proc.memory.percent"] == pytest.approx(100 * 3 / 16)
    assert data["system.proc.memory.availableMB"] == 8 * 1024
    assert data["system.memory_percent"] == 50.0
    assert data["system.disk./.usagePercent"] == 25.0
    assert data["system.disk./.usageGB"] == 25.0
    assert data["system.disk.in"] == 64.0  # MiB since start; loop devices left out
    assert data["system.disk.out"] == 32.0
    assert data["system.disk.vda.in"] == 64.0  # the device holding "/"
    assert data["system.network.sent"] == 500.0  # bytes since start
    assert data["system.network.recv"] == 4000.0
    assert all(isinstance(v, float) for v in data.values())


def test_first_cpu_percent_is_primed_in_the_constructor(fake_psutil: Any, no_cgroup: Path) -> None:
    src = CpuSource(cgroup_root=no_cgroup)
    assert fake_psutil.root.cpu_calls == 1  # the priming call, whose 0.0 is discarded
    assert src.sample()["system.cpu"] > 0


def test_child_processes_are_included_and_exited_ones_dropped(fake_psutil: Any, no_cgroup: Path) -> None:
    proc_type = type(fake_psutil.root)
    worker = proc_type(fake_psutil, 5001, [0.0, 50.0], threads=2, rss=MIB * 512)
    fake_psutil.children = [worker]
    src = CpuSource(cgroup_root=no_cgroup)
    assert worker.cpu_calls == 1  # primed when first seen
    data = src.sample()
    assert data["system.cpu"] == pytest.approx((150.0 + 50.0) / 4)
    assert data["system.proc.cpu.threads"] == 10
    assert data["system.proc.memory.rssMB"] == 3 * 1024 + 512
    assert src.pids() == {4242, 5001}
    worker.gone = True
    data = src.sample()
    assert data["system.proc.cpu.threads"] == 8
    assert src.pids() == {4242}


def test_process_tree_can_be_turned_off(fake_psutil: Any, no_cgroup: Path) -> None:
    fake_psutil.children = [type(fake_psutil.root)(fake_psutil, 5001, [0.0, 50.0])]
    src = CpuSource(cgroup_root=no_cgroup, process_tree=False)
    assert src.sample()["system.cpu"] == pytest.approx(150.0 / 4)


def test_per_core_percentages_are_opt_in(fake_psutil: Any, no_cgroup: Path) -> None:
    t0, t1 = fake_psutil.times
    assert "system.cpu.0.cpu_percent" not in CpuSource(cgroup_root=no_cgroup).sample()
    fake_psutil.times = [t0, t0, t1]  # constructor: total, per core; sample: total, per core
    data = CpuSource(cgroup_root=no_cgroup, per_core=True).sample()
    assert data["system.cpu.0.cpu_percent"] == pytest.approx(60.0)
    assert data["system.cpu.1.cpu_percent"] == pytest.approx(60.0)


def test_cgroup_v2_quota_and_memory_limit(fake_psutil: Any, tmp_path: Path) -> None:
    root = tmp_path / "cgroup"
    root.mkdir()
    (root / "cgroup.controllers").write_text("cpu memory\n")
    (root / "cpu.max").write_text("200000 100000\n")  # 2 CPUs
    (root / "memory.max").write_text(f"{8 * 2**30}\n")
    (root / "memory.current").write_text(f"{6 * 2**30}\n")
    data = CpuSource(cgroup_root=root).sample()
    assert data["system.cpu"] == pytest.approx(150.0 / 2)
    assert data["system.memory_percent"] == pytest.approx(75.0)
    assert data["system.proc.memory.availableMB"] == 2 * 1024
    assert data["system.proc.memory.percent"] == pytest.approx(100 * 3 / 8)


def test_unlimited_cgroup_uses_the_host_figures(fake_psutil: Any, tmp_path: Path) -> None:
    root = tmp_path / "cgroup"
    root.mkdir()
    (root / "cgroup.controllers").write_text("cpu memory\n")
    (root / "cpu.max").write_text("max 100000\n")
    (root / "memory.max").write_text("max\n")
    data = CpuSource(cgroup_root=root).sample()
    assert data["system.cpu"] == pytest.approx(150.0 / 4)
    assert data["system.memory_percent"] == 50.0


def test_missing_disk_counters_and_paths_are_skipped(fake_psutil: Any, no_cgroup: Path) -> None:
    fake_psutil.disk = []  # disk_io_counters() returns None, as in some containers
    data = CpuSource(cgroup_root=no_cgroup, disk_paths=("/", "/no/such/mount")).sample()
    assert "system.disk.in" not in data
    assert "system.disk.out" not in data
    assert "system.disk./.usagePercent" in data
    assert not any("/no/such/mount" in k for k in data)


def test_system_cpu_percent_ignores_other_callers_of_psutil(fake_psutil: Any, no_cgroup: Path) -> None:
    # Our own cpu_times() snapshots: a user's psutil.cpu_percent() calls cannot shift them.
    src = CpuSource(cgroup_root=no_cgroup)
    assert src.sample()["system.cpu_percent"] == pytest.approx(60.0)
    fake_psutil.times = [fake_psutil.times[-1]]
    assert src.sample()["system.cpu_percent"] == 0.0  # no time passed: 0, not a division by zero


def test_real_psutil_reading() -> None:
    pytest.importorskip("psutil")
    src = CpuSource()
    data = src.sample()
    required = set(PSUTIL_KEYS)
    import psutil

    if not psutil.disk_io_counters(perdisk=True):
        required -= {"system.disk.in", "system.disk.out"}
    assert required <= set(data)
    assert 0.0 <= data["system.cpu_percent"] <= 100.0
    assert data["system.proc.memory.rssMB"] > 1
    assert data["system.proc.cpu.threads"] >= 1
    second = src.sample()
    assert second["system.network.sent"] >= data["system.network.sent"]  # cumulative
