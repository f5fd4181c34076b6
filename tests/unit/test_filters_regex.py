"""``$regex`` filters cannot stall a process (issue 14, point 7).

``^(a+)+$`` on Python's backtracking ``re`` takes seconds on ~26 characters and doubles
with each one more. With google-re2 installed it is evaluated in linear time; without
it the pattern is refused with the reason. The checks are on what the engine does
(RE2 answers, the pattern is refused), not on wall-clock time alone.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

import tracker
from tracker.api import Api, _regex
from tracker.errors import UsageError

EVIL = "^(a+)+$"
VICTIM = "a" * 29 + "!"  # 30 characters: no match, the worst case for backtracking


@pytest.fixture
def fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    """Behave as an install without google-re2 (the base dependencies)."""
    monkeypatch.setattr(_regex, "_re2", lambda: None)


@pytest.fixture
def named_run(tmp_path: Path) -> Api:
    run = tracker.init(
        project="p", id="r1", name=VICTIM, dir=str(tmp_path), settings=tracker.Settings(disable_git=True)
    )
    run.log({"loss": 1.0})
    run.finish()
    return Api(tmp_path)


def test_nested_quantifier_on_30_chars_is_linear_with_re2() -> None:
    pytest.importorskip("re2", reason="google-re2 comes with tracker[server]")
    assert _regex.engine() == "re2"
    search = _regex.compile_regex(EVIL)
    started = time.perf_counter()
    assert search(VICTIM) is False
    assert search("a" * 30) is True
    # Linear: 100x the text is not 2**70 x the time (a backtracking engine never returns).
    assert search("a" * 3000 + "!") is False
    assert time.perf_counter() - started < 2.0


def test_nested_quantifier_is_refused_without_re2(fallback: None) -> None:
    assert _regex.engine() == "re"
    with pytest.raises(UsageError, match=r"quantifier inside a quantified group.*google-re2"):
        _regex.compile_regex(EVIL)
    with pytest.raises(UsageError, match="alternation inside a quantified group"):
        _regex.compile_regex("^(a|aa)*$")
    with pytest.raises(UsageError, match="quantifier inside a quantified group"):
        _regex.compile_regex(re.compile(r"(x*y?)*z", re.I))


@pytest.mark.parametrize("engine", ["re2", "re"])
def test_api_runs_with_the_evil_pattern_returns_promptly(
    engine: str, named_run: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    if engine == "re2":
        pytest.importorskip("re2", reason="google-re2 comes with tracker[server]")
    else:
        monkeypatch.setattr(_regex, "_re2", lambda: None)
    flt = {"display_name": {"$regex": EVIL}}
    if engine == "re2":
        assert list(named_run.runs("p", filters=flt)) == []
        assert [r.id for r in named_run.runs("p", filters={"display_name": {"$regex": "^(a+)+!$"}})] == ["r1"]
    else:
        with pytest.raises(UsageError, match="exponential time"):
            named_run.runs("p", filters=flt)


@pytest.mark.parametrize("fallback_engine", [False, True])
@pytest.mark.parametrize(
    ("pattern", "options", "reason"),
    [
        (r"(a)\1", "", "backreference|escape"),
        ("(?=a)", "", "lookahead|perl operator"),
        ("a", "x", "verbose"),
        ("a", "q", "unknown letter 'q'"),
        ("a" * 1001, "", "at most 1000"),
        ("(", "", "missing"),
    ],
)
def test_refused_patterns_say_why(
    pattern: str, options: str, reason: str, fallback_engine: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if fallback_engine:
        monkeypatch.setattr(_regex, "_re2", lambda: None)
    else:
        pytest.importorskip("re2", reason="google-re2 comes with tracker[server]")
    with pytest.raises(UsageError, match=reason):
        _regex.compile_regex(pattern, options)


@pytest.mark.parametrize("fallback_engine", [False, True])
def test_ordinary_patterns_match_as_before(fallback_engine: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    if fallback_engine:
        monkeypatch.setattr(_regex, "_re2", lambda: None)
    else:
        pytest.importorskip("re2", reason="google-re2 comes with tracker[server]")
    cases = [
        ("^ALPHA", "i", "alpha-1", True),
        ("^ALPHA", "", "alpha-1", False),
        ("a.b", "", "a\nb", False),
        ("a.b", "s", "a\nb", True),
        ("^b$", "m", "a\nb", True),
        (r"lr-\d+e-\d", "", "run lr-3e-4", True),
        ("(ab)+c{2,3}", "", "xababccc", True),
        ("é+", "", "café", True),
    ]
    for pattern, options, text, expected in cases:
        assert _regex.compile_regex(pattern, options)(text) is expected, (pattern, options, text)
