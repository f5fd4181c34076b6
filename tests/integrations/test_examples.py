"""The adapter examples run to completion on CPU (each skipped without its framework)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
NEEDS = {
    "torch_watch.py": "torch",
    "lightning_logger.py": "lightning",
    "hf_trainer.py": "transformers",
    "keras_fit.py": "keras",
}


@pytest.mark.parametrize("name", sorted(NEEDS))
def test_example_runs(name, run_script) -> None:
    if importlib.util.find_spec(NEEDS[name]) is None:
        pytest.skip(f"{NEEDS[name]} is not installed")
    proc = run_script((EXAMPLES / name).read_text(), env={"KERAS_BACKEND": "torch"})
    assert "logged run" in proc.stdout
