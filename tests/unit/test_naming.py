"""tracker._naming: the name patterns and the run layout, in one place."""

from __future__ import annotations

from pathlib import Path

import pytest

from tracker import _naming
from tracker.errors import UsageError


@pytest.mark.parametrize("name", ["a", "A1", "my-project_2.0", "x" * 128])
def test_valid_project_names(name: str) -> None:
    assert _naming.check_name(name, "project") == name


@pytest.mark.parametrize("name", ["", "-a", ".a", "a/b", "a b", "x" * 129, 3])
def test_invalid_project_names_say_what_is_allowed(name: object) -> None:
    with pytest.raises(UsageError, match=r"project .* is not valid: use 1-128 letters"):
        _naming.check_name(name, "project")  # type: ignore[arg-type]


@pytest.mark.parametrize("run_id", ["", "a.b", "a/b", "x" * 65, None])
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


def test_the_server_checks_whole_strings() -> None:
    # `.match` (tracker.init) lets `$` match before a final newline; the server's path
    # checks use `.fullmatch`, which does not.
    assert _naming.NAME_RE.fullmatch("p")
    assert not _naming.NAME_RE.fullmatch("p\n")
    assert _naming.ID_RE.fullmatch("abc")
    assert not _naming.ID_RE.fullmatch("abc\n")
    assert _naming.KEY_RE.match("train/loss")
    assert not _naming.KEY_RE.match("a\x00b")


def test_the_page_of_a_run() -> None:
    assert _naming.run_page("my-project_2.0", "abc-1") == "/projects/my-project_2.0/runs/abc-1"
