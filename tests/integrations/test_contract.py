"""The contract every adapter keeps: missing framework message, pickling, no side effects."""

from __future__ import annotations

import importlib
import pickle
import sys

import pytest

import tracker

ADAPTERS = [
    ("tracker.integrations.lightning", "lightning", "TrackerLogger", "tracker[lightning]"),
    ("tracker.integrations.pytorch_lightning", "pytorch_lightning", "TrackerLogger", "tracker[lightning]"),
    ("tracker.integrations.huggingface", "transformers", "TrackerCallback", "tracker[hf]"),
    ("tracker.integrations.keras", "keras", "TrackerCallback", "tracker[keras]"),
    ("tracker.integrations.torch", "torch", "Watch", "tracker[torch]"),
]


@pytest.mark.parametrize(("module", "framework", "cls", "extra"), ADAPTERS)
def test_missing_framework_gives_one_clear_error(module, framework, cls, extra, monkeypatch) -> None:
    for name in [m for m in sys.modules if m == module or m.startswith(module + ".")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, framework, None)
    with pytest.raises(tracker.errors.MissingExtraError) as info:
        importlib.import_module(module)
    assert f"pip install '{extra}'" in str(info.value)
    assert isinstance(info.value, ModuleNotFoundError)


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning")
@pytest.mark.parametrize(("module", "framework", "cls", "extra"), [a for a in ADAPTERS if a[2] != "Watch"])
def test_adapter_builds_without_side_effects_and_pickles(module, framework, cls, extra, monkeypatch) -> None:
    pytest.importorskip(framework)
    if framework == "keras":
        monkeypatch.setenv("KERAS_BACKEND", "torch")
    adapter = getattr(importlib.import_module(module), cls)()
    assert tracker.run is None  # constructing starts no run
    clone = pickle.loads(pickle.dumps(adapter))
    assert type(clone) is type(adapter)
    assert tracker.run is None
