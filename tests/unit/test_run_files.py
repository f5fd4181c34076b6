"""Api run.files(): standard files, media and saved files, each downloadable (issue 19, point 13)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

import tracker
from tracker.errors import UsageError

STANDARD = ["config.yaml", "output.log", "requirements.txt", "wandb-metadata.json", "wandb-summary.json"]


def _run(root: Path, tmp_path: Path) -> tracker.Run:
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    config = {"lr": 0.01, "arch": {"depth": 2}}
    run = tracker.init(project="files", config=config, settings={"console": "wrap"})
    print("epoch 1 done")
    sys.stdout.flush()
    run.log({"loss": 0.5, "img": tracker.Image(np.full((4, 4, 3), 7, dtype=np.uint8))})
    run.save(str(notes), base_path=str(tmp_path))
    run.finish()
    return run


def test_files_lists_standard_media_and_saved_files(root: Path, tmp_path: Path) -> None:
    run = _run(root, tmp_path)
    api_run = tracker.Api(root).run(f"files/{run.id}")
    names = [f.name for f in api_run.files()]
    assert names[:5] == STANDARD
    media = [n for n in names if n.startswith("media/")]
    assert len(media) == 1
    assert media[0].startswith("media/image/")
    assert media[0].endswith(".png")
    assert "notes.txt" in names
    assert [f.name for f in api_run.files(names=["notes.txt"])] == ["notes.txt"]


def test_each_file_downloads_with_the_runs_data(root: Path, tmp_path: Path) -> None:
    pytest.importorskip("PIL")  # read_image
    run = _run(root, tmp_path)
    api_run = tracker.Api(root).run(f"files/{run.id}")
    api_run.summary.update({"best": 0.25})
    out = tmp_path / "out"
    paths = {f.name: f.download(str(out)) for f in tracker.Api(root).run(f"files/{run.id}").files()}

    config = paths["config.yaml"].read_text()
    assert "desc: null" in config
    assert '"lr":\n  desc: null\n  value: 0.01' in config
    assert '  value: {"depth": 2}' in config
    summary = json.loads(paths["wandb-summary.json"].read_text())
    assert summary["loss"] == 0.5
    assert summary["best"] == 0.25
    meta = json.loads(paths["wandb-metadata.json"].read_text())
    assert meta == api_run.metadata
    requirements = paths["requirements.txt"].read_text().splitlines()
    assert f"numpy=={np.__version__}" in requirements
    assert "epoch 1 done" in paths["output.log"].read_text()
    image = next(p for n, p in paths.items() if n.startswith("media/"))
    np.testing.assert_array_equal(
        tracker.media.read_image(out, {"path": image.relative_to(out).as_posix()}), np.full((4, 4, 3), 7)
    )
    assert paths["notes.txt"].read_text() == "hello"
    size = {f.name: f.size for f in api_run.files()}
    assert size["notes.txt"] == 5
    assert size["config.yaml"] == len(config.encode())


def test_download_refuses_to_overwrite_unless_asked(root: Path, tmp_path: Path) -> None:
    run = _run(root, tmp_path)
    f = tracker.Api(root).run(f"files/{run.id}").file("config.yaml")
    f.download(str(tmp_path / "o"))
    with pytest.raises(UsageError, match="exists"):
        f.download(str(tmp_path / "o"))
    assert f.download(str(tmp_path / "o"), exist_ok=True).exists()
    assert f.download(str(tmp_path / "o"), replace=True).exists()
    with pytest.raises(UsageError, match="no file named"):
        tracker.Api(root).run(f"files/{run.id}").file("nope.txt")
