"""Runs started without a name get a readable generated one (adjective-noun-number)."""

from __future__ import annotations

import re
from pathlib import Path

import tracker
from tracker._run_names import ADJECTIVES, NOUNS, generated_name
from tracker.api import Api
from tracker.storage._format import R, read_frames

QUIET = {"disable_git": True, "stats_interval": 0, "capture_packages": False}
NAME = re.compile(r"([a-z]+)-([a-z]+)-(\d+)\Z")


def _record_name(root: Path, run: tracker.Run) -> str:
    found = read_frames(root / "projects" / "p" / "runs" / run.id / "run.tlog")
    return str(next(rec[1] for _offset, rec in found.records if rec[0] == R.RUN)["name"])


def test_a_run_without_a_name_gets_adjective_noun_number(root: Path) -> None:
    first = tracker.init(project="p", id="aaaa1111", settings=QUIET)
    first.finish()
    second = tracker.init(project="p", settings=QUIET)
    second.finish()
    named = tracker.init(project="p", name="mine", settings=QUIET)
    named.finish()
    for run, number in ((first, 1), (second, 2)):
        found = NAME.match(run.name)
        assert found is not None, run.name
        assert found[1] in ADJECTIVES
        assert found[2] in NOUNS
        assert found[3] == str(number)
        assert run.name != run.id
        assert _record_name(root, run) == run.name  # the RUN record's name, what every reader shows
        assert Api().run(f"p/{run.id}").name == run.name
    assert first.name == generated_name("aaaa1111", 1)
    assert named.name == "mine"


def test_a_resumed_run_keeps_its_generated_name(root: Path) -> None:
    run = tracker.init(project="p", id="keep", settings=QUIET)
    name = run.name
    run.finish()
    tracker.init(project="p", id="other", settings=QUIET).finish()
    again = tracker.init(project="p", id="keep", resume="must", settings=QUIET)
    assert again.name == name
    again.finish()
    assert Api().run("p/keep").name == name


def test_the_words_follow_the_id() -> None:
    assert generated_name("abc", 7) == generated_name("abc", 7)
    assert generated_name("abc", 7).endswith("-7")
    names = {generated_name(f"id{i}", 1) for i in range(500)}
    assert len(names) > 400  # 10,000 word pairs: few repeats
