"""Shared helpers for the framework tests: read runs back through the public Api."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import tracker

# Keras 3 defaults to TensorFlow; without it installed, use the torch backend (set before
# any test imports keras; the subprocess tests pass KERAS_BACKEND explicitly).
if importlib.util.find_spec("tensorflow") is None:
    os.environ.setdefault("KERAS_BACKEND", "torch")


@pytest.fixture
def read_run():
    """``read_run(project, run_id)`` -> (Api run, history rows as dicts)."""

    def read(project: str, run_id: str) -> tuple[Any, list[dict[str, Any]]]:
        api = tracker.Api()
        run = api.run(f"{project}/{run_id}")
        return run, run.history(pandas=False)

    return read


@pytest.fixture
def run_script(tmp_path: Path):
    """Run Python code in a fresh interpreter (same env + extras); return the completed process."""

    def run(
        code: str, *, env: dict[str, str] | None = None, timeout: float = 240
    ) -> subprocess.CompletedProcess[str]:
        script = tmp_path / "script.py"
        script.write_text(code)
        full_env = dict(os.environ, PYTHONWARNINGS="ignore", **(env or {}))
        proc = subprocess.run(
            [sys.executable, str(script)],
            cwd=tmp_path,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        assert proc.returncode == 0, f"stdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-5000:]}"
        return proc

    return run
