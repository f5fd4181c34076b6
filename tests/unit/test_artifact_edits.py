"""Artifacts: media objects in and out, and edits saved after logging (issue 19, point 7)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import tracker
from tracker.errors import UsageError


def _logged(root: Path, art: tracker.Artifact, **kw: object) -> tracker.Artifact:
    with tracker.init(project="arts") as run:
        logged = run.log_artifact(art, **kw).wait()  # type: ignore[arg-type]
    return logged


def test_add_a_table_stores_name_table_json_and_get_returns_it(root: Path) -> None:
    pytest.importorskip("PIL")  # read_image
    pixels = np.arange(4 * 4 * 3, dtype=np.uint8).reshape(4, 4, 3)
    table = tracker.Table(columns=["id", "img", "score"])
    table.add_data(0, tracker.Image(pixels, caption="first"), 0.5)
    table.add_data(1, tracker.Image(pixels[::-1].copy()), 0.25)
    art = tracker.Artifact("evals", type="predictions")
    art.add(table, "preds")
    assert art.get("preds").columns == ["id", "img", "score"]  # a draft reads back too
    _logged(root, art)

    fetched = tracker.Api(root).artifact("arts/evals:latest")
    names = [e.path for e in fetched.files()]
    assert "preds.table.json" in names
    assert sum(n.startswith("media/image/") and n.endswith(".png") for n in names) == 2
    body = json.loads(Path(fetched.get_entry("preds.table.json").download(root / "dl")).read_text())
    assert body["columns"] == ["id", "img", "score"]
    assert body["data"][0][2] == 0.5

    back = fetched.get("preds")
    assert isinstance(back, tracker.Table)
    assert back.get_column("id") == [0, 1]
    assert back.get_column("score") == [0.5, 0.25]
    img = back.data[0][1]
    assert isinstance(img, tracker.Image)
    assert img.caption == "first"
    with tracker.init(project="arts") as run:  # the image round-trips pixel for pixel
        run.log({"again": img})
    ref = tracker.Api(root).run(f"arts/{run.id}").summary["again"]
    np.testing.assert_array_equal(tracker.media.read_image(run.dir, ref), pixels)


def test_add_an_image_and_a_histogram_and_get_them_back(root: Path) -> None:
    art = tracker.Artifact("pics", type="dataset")
    art.add(tracker.Image(np.zeros((2, 3), dtype=np.uint8)), "blank")
    art.add(tracker.Histogram(np_histogram=([1, 2], [0.0, 0.5, 1.0])), "h")
    logged = _logged(root, art)
    assert {"blank.image-file.json", "h.histogram.json"} <= {e.path for e in logged.files()}
    fetched = tracker.Api(root).artifact("arts/pics:v0")
    assert isinstance(fetched.get("blank"), tracker.Image)
    hist = fetched.get("h")
    assert isinstance(hist, tracker.Histogram)
    assert (hist.histogram, hist.bins) == ([1, 2], [0.0, 0.5, 1.0])
    assert logged.get("missing") is None


def test_add_refuses_what_is_not_media_and_logged_artifacts() -> None:
    art = tracker.Artifact("x", type="dataset")
    with pytest.raises(UsageError, match="add_file"):
        art.add({"a": 1}, "d")
    with pytest.raises(UsageError, match="not a safe relative path"):
        art.add(tracker.Table(columns=["a"]), "../up")


def test_edit_metadata_description_aliases_then_save(root: Path) -> None:
    art = tracker.Artifact("model", type="model", description="first", metadata={"acc": 0.5})
    with art.new_file("w.txt") as f:
        f.write("weights")
    logged = _logged(root, art, aliases=["candidate"])
    with tracker.init(project="arts") as run:
        run.link_artifact(logged, "model-registry/My-Models")

    fetched = tracker.Api(root).artifact("arts/model:latest")
    fetched.metadata["acc"] = 0.75
    fetched.metadata["epochs"] = 3
    fetched.description = "tuned"
    fetched.aliases.append("best")
    fetched.aliases.remove("candidate")
    fetched.save()

    fresh = tracker.Api(root).artifact("arts/model:v0")
    assert fresh.metadata == {"acc": 0.75, "epochs": 3}
    assert fresh.description == "tuned"
    assert sorted(fresh.aliases) == ["best", "latest"]
    assert tracker.Api(root).artifact("arts/model:best").version == "v0"
    with pytest.raises(Exception, match="candidate"):
        tracker.Api(root).artifact("arts/model:candidate")
    linked = tracker.Api(root).artifact("model-registry/My-Models:latest")
    assert linked.metadata == {"acc": 0.75, "epochs": 3}
    assert linked.description == "tuned"


def test_save_logs_a_draft_to_the_current_run(root: Path) -> None:
    art = tracker.Artifact("notes", type="dataset")
    with art.new_file("a.txt") as f:
        f.write("a")
    with pytest.raises(UsageError, match=r"tracker\.init"):
        art.save()
    with tracker.init(project="arts"):
        art.save()
        art.wait()
    assert tracker.Api(root).artifact("arts/notes:latest").version == "v0"


def test_bad_edits_are_refused_by_name(root: Path) -> None:
    art = tracker.Artifact("m2", type="model")
    with art.new_file("w.txt") as f:
        f.write("w")
    fetched = _logged(root, art)
    fetched.aliases = "best"  # type: ignore[assignment]
    with pytest.raises(UsageError, match="aliases must be a list"):
        fetched.save()
    fetched.aliases = ["v7"]
    with pytest.raises(UsageError, match="not valid"):
        fetched.save()


def test_log_model_use_model_link_model(root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # use_model downloads into ./artifacts, as W&B
    weights = tmp_path / "model.pt"
    weights.write_bytes(b"\x00weights\x01")
    folder = tmp_path / "ckpt"
    folder.mkdir()
    (folder / "a.bin").write_bytes(b"a")
    (folder / "b.bin").write_bytes(b"b")
    with tracker.init(project="models") as run:
        logged = run.log_model(str(weights), aliases=["best"]).wait()
        assert logged.type == "model"
        assert logged.source_name == f"run-{run.id}-model.pt"
        run.link_model(str(folder), "MNIST Classifier" if _spaces_ok() else "MNIST-Classifier", name="ckpt")
    with tracker.init(project="models") as user:
        path = user.use_model(f"run-{run.id}-model.pt:best")
        assert Path(path).read_bytes() == weights.read_bytes()
        folder_path = Path(user.use_model("ckpt:latest"))
        assert sorted(p.name for p in folder_path.iterdir()) == ["a.bin", "b.bin"]
        art = tracker.Artifact("data", type="dataset")
        art.add_file(str(weights))
        user.log_artifact(art).wait()
        with pytest.raises(UsageError, match="not 'model'"):
            user.use_model("data:latest")
    registered = "MNIST Classifier" if _spaces_ok() else "MNIST-Classifier"
    linked = tracker.Api(root).artifact(f"model-registry/{registered}:latest")
    assert sorted(e.path for e in linked.files()) == ["a.bin", "b.bin"]
    with tracker.init(project="models"):  # W&B's module-level names
        assert tracker.log_model(str(weights), name="top").wait().version == "v0"
        assert Path(tracker.use_model("top:latest")).read_bytes() == weights.read_bytes()
        assert tracker.link_model(str(weights), registered, name="top").wait() is not None


def _spaces_ok() -> bool:
    """Registry names with spaces arrive with area 4's naming change (issue 19 point 4)."""
    from tracker._naming import NAME_RE

    return NAME_RE.match("MNIST Classifier") is not None
