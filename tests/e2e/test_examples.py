"""Every example runs as a script, on CPU, in seconds (STYLE §2.5)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
# The import names each example needs beyond the base install.
NEEDS = {
    "quickstart.py": [],
    "media.py": ["PIL", "pandas"],
    "lightning_logger.py": ["lightning", "torch"],
    "hf_trainer.py": ["transformers", "torch"],
    "keras_fit.py": ["keras", "torch"],
    "torch_watch.py": ["torch"],
    "sweep.py": [],
}


def _examples() -> list[str]:
    return sorted(p.name for p in EXAMPLES.glob("*.py"))


def test_every_example_is_listed() -> None:
    assert set(_examples()) <= set(NEEDS), "add the new example to NEEDS"


@pytest.mark.slow
@pytest.mark.parametrize("name", _examples())
def test_example_runs(name: str, root: Path, tmp_path: Path) -> None:
    missing = [m for m in NEEDS.get(name, []) if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"{name} needs {', '.join(missing)}")
    env = {**os.environ, "TRACKER_DIR": str(root), "KERAS_BACKEND": "torch", "TRACKER_STRICT": "1"}
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / name)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, f"{name} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    assert any(root.glob("projects/*/runs/*/run.tlog")), f"{name} logged no run"
