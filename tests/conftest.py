"""Shared fixtures: every test gets its own data root, a clean environment and strict mode."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest_plugins = ["tests._postgres", "tests._s3"]  # pg_server / pg_url: PostgreSQL; s3_url: moto S3

# Read once at start-up: the autouse fixture below clears TRACKER_* variables per test.
NO_SKIP = os.environ.get("TRACKER_NO_SKIP") == "1"


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Isolate env vars and the data root; turn strict mode on; finish leftover runs."""
    launcher = {
        "RANK",
        "LOCAL_RANK",
        "WORLD_SIZE",
        "LOCAL_WORLD_SIZE",
        "NODE_RANK",
        "GROUP_RANK",
        "TORCHELASTIC_RUN_ID",
        "CUDA_VISIBLE_DEVICES",
    }
    for key in list(os.environ):
        # The suite may itself run under SLURM/torchrun: a derived run id would leak in.
        if key.startswith(("TRACKER_", "WANDB_", "SLURM_")) or key in launcher:
            monkeypatch.delenv(key, raising=False)
    root = tmp_path / "tracker-root"
    monkeypatch.setenv("TRACKER_DIR", str(root))
    monkeypatch.setenv("TRACKER_STRICT", "1")
    monkeypatch.setenv("TRACKER_CONSOLE", "off")
    monkeypatch.setenv("TRACKER_SILENT", "1")  # no init/finish lines (tests of them unset it)
    stdout, stderr = sys.stdout, sys.stderr
    yield root
    from tracker import _process

    for run in reversed(_process.active()):
        try:
            run.finish()
        except Exception:  # a failing test may leave a run in a bad state; never mask it
            pass
    sys.stdout, sys.stderr = stdout, stderr


@pytest.fixture
def root(_isolated: Path) -> Path:
    """The isolated data root of this test."""
    return _isolated


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    """With TRACKER_NO_SKIP=1 (CI's full session, everything installed) a skip is a failure.

    Only tests marked ``gpu`` may skip there: CI has no GPU.
    """
    outcome = yield
    report = outcome.get_result()
    if (
        report.skipped
        and NO_SKIP
        and item.get_closest_marker("gpu") is None
        and not hasattr(report, "wasxfail")
    ):
        report.outcome = "failed"
        report.longrepr = f"skipped in CI's full session, where nothing may skip: {report.longrepr}"
