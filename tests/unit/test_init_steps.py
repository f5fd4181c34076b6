"""``init``'s steps (tracker._init): their warnings name the caller's line, whatever the nesting."""

from __future__ import annotations

import subprocess
import sys
import warnings

import pytest

import tracker
from tracker.errors import TrackerWarning


def _caught(call: object) -> list[warnings.WarningMessage]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert callable(call)
        call()
    return [w for w in caught if issubclass(w.category, TrackerWarning)]


def test_init_warnings_point_at_the_caller(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRACKER_BASE_URL", raising=False)
    monkeypatch.setattr(tracker._init, "_online_warned", False)
    runs: list[tracker.Run] = []
    cases = {
        "is not supported": lambda: runs.append(tracker.init(project="p", force=True)),
        "is still active": lambda: runs.append(tracker.init(project="p")),
    }
    for text, call in cases.items():
        found = _caught(call)
        assert [w.filename for w in found if text in str(w.message)] == [__file__], text
    runs[0].finish()
    found = _caught(lambda: tracker.init(project="p", mode="online").finish())
    assert [w.filename for w in found if "no team server" in str(w.message)] == [__file__]


def test_the_init_steps_keep_import_tracker_light() -> None:
    # dataclasses pulls in inspect: about 20 ms on `import tracker` (G2); the steps use NamedTuple.
    code = "import sys, tracker; print(sorted({'dataclasses', 'inspect'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
