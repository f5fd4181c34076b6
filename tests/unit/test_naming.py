"""tracker._naming: the name patterns and the run layout, in one place."""

from __future__ import annotations

from pathlib import Path

import pytest

from tracker import _naming
from tracker.errors import UsageError


@pytest.mark.parametrize("name", ["a", "A1", "my-project_2.0", "x" * 128, "a b", "MNIST Classifier"])
def test_valid_project_names(name: str) -> None:
    assert _naming.check_name(name, "project") == name


@pytest.mark.parametrize("name", ["", "-a", ".a", "a/b", "a ", "x" * 129, "p\n"])
def test_invalid_project_names_say_what_is_allowed(name: object) -> None:
    with pytest.raises(UsageError, match=r"project .* is not valid: .*; use 1-128 letters, digits, spaces"):
        _naming.check_name(name, "project")  # type: ignore[arg-type]


def test_a_name_that_is_not_a_string() -> None:
    with pytest.raises(UsageError, match=r"project 3 is not valid: a name is a string, not int"):
        _naming.check_name(3, "project")  # type: ignore[arg-type]


@pytest.mark.parametrize("run_id", ["", "a.b", "a/b", "x" * 65, None, "abc\n"])
def test_invalid_run_ids(run_id: object) -> None:
    with pytest.raises(UsageError, match=r"run id .* is not valid: use 1-64 letters"):
        _naming.check_id(run_id)


def test_new_ids_are_valid_and_differ() -> None:
    ids = {_naming.new_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(len(i) == 8 and set(i) <= set(_naming.ID_ALPHABET) and _naming.check_id(i) for i in ids)


def test_the_layout_and_its_inverse(tmp_path: Path) -> None:
    run_dir = _naming.run_dir_for(tmp_path, "p", "abc")
    assert run_dir == tmp_path / "projects" / "p" / "runs" / "abc"
    assert _naming.project_dir(tmp_path, "p") == run_dir.parent.parent
    assert _naming.projects_dir(tmp_path) == tmp_path / "projects"
    assert _naming.root_of(run_dir) == tmp_path
    assert _naming.root_of(str(run_dir)) == tmp_path
    assert _naming.has_root(run_dir)
    assert not _naming.has_root("runs/abc")
    with pytest.raises(IndexError):
        _naming.root_of("runs/abc")
    assert _naming.LOG_NAME == "run.tlog"


def test_match_and_fullmatch_agree_on_a_final_newline() -> None:
    # `$` would match before a final newline: "p\n" passed tracker.init's `.match` while
    # the server's `.fullmatch` refused it.
    for pattern, good in ((_naming.NAME_RE, "p"), (_naming.ID_RE, "abc"), (_naming.KEY_RE, "train/loss")):
        assert pattern.match(good)
        assert pattern.fullmatch(good)
        assert not pattern.match(good + "\n")
        assert not pattern.fullmatch(good + "\n")
    assert not _naming.KEY_RE.match("a\x00b")
