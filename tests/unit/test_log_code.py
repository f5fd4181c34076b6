"""save_code=True and run.log_code(): the code as an artifact of type "code" (issue 19, point 5)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import tracker


def _project(tmp_path: Path) -> Path:
    src = tmp_path / "proj"
    (src / "pkg").mkdir(parents=True)
    (src / "train.py").write_text("print('train')\n")
    (src / "pkg" / "model.py").write_text("W = 1\n")
    (src / "requirements.txt").write_text("torch\n")
    (src / "notes.md").write_text("# not code\n")
    (src / ".venv" / "lib").mkdir(parents=True)
    (src / ".venv" / "lib" / "dep.py").write_text("x = 1\n")
    (src / "env" / "lib").mkdir(parents=True)
    (src / "env" / "pyvenv.cfg").write_text("home = /usr\n")
    (src / "env" / "lib" / "site.py").write_text("y = 2\n")
    (src / "wandb").mkdir()
    (src / "wandb" / "run.py").write_text("z = 3\n")
    return src


def test_log_code_stores_the_code_files_as_a_code_artifact(root: Path, tmp_path: Path) -> None:
    src = _project(tmp_path)
    with tracker.init(project="code") as run:
        art = run.log_code(str(src))
        assert art is not None
        art.wait()
    fetched = tracker.Api(root).artifact(f"code/{art.source_name}:latest")
    assert fetched.type == "code"
    assert art.source_name.startswith("source-code-")
    assert sorted(e.path for e in fetched.files()) == ["pkg/model.py", "requirements.txt", "train.py"]
    out = Path(fetched.download(tmp_path / "dl"))
    assert (out / "pkg" / "model.py").read_text() == "W = 1\n"
    assert [a.source_name for a in tracker.Api(root).run(f"code/{run.id}").logged_artifacts()] == [
        art.source_name
    ]


def test_log_code_include_and_exclude_functions(root: Path, tmp_path: Path) -> None:
    src = _project(tmp_path)
    with tracker.init(project="code") as run:
        art = run.log_code(
            str(src),
            name="only-md-and-train",
            include_fn=lambda path: path.endswith((".md", ".py")),
            exclude_fn=lambda path, root: os.path.relpath(path, root).startswith("pkg"),
        )
        assert art is not None
        art.wait()
    assert sorted(e.path for e in art.files()) == ["notes.md", "train.py"]


def test_log_code_without_code_warns_and_returns_none(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with tracker.init(project="code") as run, pytest.warns(tracker.TrackerWarning, match="no code files"):
        assert run.log_code(str(empty)) is None


def test_save_code_logs_the_script(root: Path, tmp_path: Path) -> None:
    script = tmp_path / "my train.py"
    script.write_text(
        "import tracker\nrun = tracker.init(project='code', save_code=True)\nrun.finish()\nprint(run.id)\n"
    )
    env = {**os.environ, "TRACKER_DIR": str(root)}
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env, check=True, timeout=120
    )
    run_id = out.stdout.strip().splitlines()[-1]
    api = tracker.Api(root)
    [art] = api.run(f"code/{run_id}").logged_artifacts()
    assert art.type == "code"
    assert art.source_name == "source-code-my_train.py"
    assert [e.path for e in art.files()] == ["my train.py"]
    assert Path(art.download(tmp_path / "dl"), "my train.py").read_text() == script.read_text()
