"""Rich data read back through the public Api (issue 4)."""

from __future__ import annotations

from pathlib import Path

import pytest

import tracker

np = pytest.importorskip("numpy")
pd = pytest.importorskip("pandas")
pytest.importorskip("PIL")


def test_each_media_type_round_trips_through_api(root: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(8, 6, 3), dtype=np.uint8)
    samples = rng.uniform(-1, 1, size=800).astype(np.float32)
    frames = rng.integers(0, 256, size=(5, 3, 16, 16), dtype=np.uint8)
    values = rng.normal(size=1000)
    table = tracker.Table(columns=["a", "b"], data=[[1, "x"], [2, "y"]])
    saved = tmp_path / "notes.txt"
    saved.write_text("hello")
    with tracker.init(project="media", settings={"stats_interval": 0}) as run:
        for step in range(3):
            run.log({"img": tracker.Image(pixels + step), "hist": tracker.Histogram(values)})
        run.log(
            {
                "audio": tracker.Audio(samples, sample_rate=8000),
                "video": tracker.Video(frames, fps=4, format="gif"),
                "table": table,
                "cm": tracker.plot.confusion_matrix(
                    y_true=[0, 1, 1, 2], preds=[0, 1, 2, 2], class_names=["a", "b", "c"]
                ),
            }
        )
        run.save(str(saved), base_path=str(tmp_path), policy="now")
    api_run = tracker.Api().run(f"media/{run.id}")
    media = api_run.media()
    assert [e.step for e in media["img"]] == [0, 1, 2]
    for step, entry in enumerate(media["img"]):
        assert np.array_equal(api_run.load(entry), pixels + step)
    counts, edges = api_run.load(media["hist"][0])
    ref_counts, ref_edges = np.histogram(values, bins=64)
    assert list(counts) == list(ref_counts)
    assert np.allclose(edges, ref_edges)
    got, rate = api_run.load(media["audio"][0])
    assert rate == 8000
    assert np.array_equal(np.asarray(got, dtype=np.float32).reshape(-1), samples)
    assert len(api_run.load(media["video"][0])) == 5
    df = api_run.load(media["table"][0])
    pd.testing.assert_frame_equal(df.reset_index(drop=True), pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}))
    _description, cm_table = api_run.load(media["cm"][0])
    assert int(cm_table["nPredictions"].sum()) == 4
    (f,) = api_run.files(names=["notes.txt"])  # besides the standard and media files
    assert f.name == "notes.txt"
    assert f.download(str(tmp_path / "out")).read_text() == "hello"
    with pytest.raises(tracker.errors.UsageError, match="media reference"):
        api_run.load({"not": "media"})
