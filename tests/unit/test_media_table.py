"""tracker.Table: W&B's table API, DataFrames in and out, media cells, snapshots, errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tracker
from tracker import media
from tracker.errors import UsageError


def _logged(table: Any) -> tuple[str, dict[str, Any]]:
    run = tracker.init(project="media")
    run.log({"t": table})
    run.finish()
    (entry,) = media.media_entries(run.dir)["t"]
    return run.dir, entry.value


def test_table_api() -> None:
    t = tracker.Table(columns=["id", "pred"], data=[[0, "cat"], [1, "dog"]])
    t.add_data(2, "bird")
    t.add_row(3, "fish")
    t.add_column("score", np.array([0.5, 0.25, 1.0, 0.0]))
    assert t.columns == ["id", "pred", "score"]
    assert t.get_column("pred") == ["cat", "dog", "bird", "fish"]
    assert t.get_column("score", convert_to="numpy").dtype == np.float64
    assert t.get_index() == [0, 1, 2, 3]
    assert list(t.iterrows())[1] == (1, [1, "dog", 0.25])
    assert len(t) == 4
    assert t.data[3] == [3, "fish", 0.0]


def test_default_columns() -> None:
    assert tracker.Table().columns == ["Input", "Output", "Expected"]
    assert tracker.Table(data=[[1, 2]]).columns == ["0", "1"]
    empty = tracker.Table(columns=[])
    empty.add_column("a", [1, 2])
    assert empty.data == [[1], [2]]


def test_numpy_and_torch_cells_become_plain() -> None:
    t = tracker.Table(columns=["a", "b", "c", "d"])
    t.add_data(np.int64(3), np.float32(0.5), np.array([1, 2]), {"k": np.float64(1.5)})
    assert t.data == [[3, 0.5, [1, 2], {"k": 1.5}]]
    assert type(t.data[0][0]) is int
    torch = pytest.importorskip("torch")
    t.add_data(torch.tensor(2), torch.tensor([1.0]), None, True)
    assert t.data[1] == [2, [1.0], None, True]


def test_dataframe_round_trip_is_equal() -> None:
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(
        {
            "i": np.arange(5, dtype=np.int64),
            "f": np.linspace(0, 1, 5),
            "s": ["a", "b", "c", "d", "é"],
            "b": [True, False, True, True, False],
        }
    )
    table = tracker.Table(dataframe=df)
    pd.testing.assert_frame_equal(table.get_dataframe(), df)
    run_dir, ref = _logged(table)
    assert ref["_type"] == "table-file"
    assert (ref["nrows"], ref["ncols"]) == (5, 4)
    assert ref["columns"] == ["i", "f", "s", "b"]
    pd.testing.assert_frame_equal(media.read_table(run_dir, ref), df)


def test_nan_and_big_ints_survive() -> None:
    pytest.importorskip("pandas")
    t = tracker.Table(columns=["x", "n"], data=[[float("nan"), 2**62], [float("inf"), -1]])
    run_dir, ref = _logged(t)
    payload = media.read_table(run_dir, ref, pandas=False)
    assert np.isnan(payload["data"][0][0])
    assert payload["data"][1][0] == float("inf")
    assert payload["data"][0][1] == 2**62


def test_media_inside_cells_are_files() -> None:
    pytest.importorskip("PIL")
    imgs = [np.full((4, 4, 3), i * 50, np.uint8) for i in range(3)]
    t = tracker.Table(columns=["id", "image", "audio"])
    for i, a in enumerate(imgs):
        t.add_data(
            i, tracker.Image(a, caption=f"#{i}"), tracker.Audio(np.zeros(8, np.float32), sample_rate=8)
        )
    run_dir, ref = _logged(t)
    df = media.read_table(run_dir, ref)
    for i, cell in enumerate(df["image"]):
        assert cell["_type"] == "image-file"
        assert cell["caption"] == f"#{i}"
        assert np.array_equal(media.read_image(run_dir, cell), imgs[i])
    assert df["audio"][0]["_type"] == "audio-file"


def test_log_snapshots_the_rows() -> None:
    t = tracker.Table(columns=["epoch"])
    run = tracker.init(project="media")
    for epoch in range(3):
        t.add_data(epoch)
        run.log({"t": t})  # W&B's pattern: a growing table re-logged each epoch
    t.add_data(99)
    run.finish()
    sizes = [
        media.read_table(run.dir, e.value, pandas=False)["data"] for e in media.media_entries(run.dir)["t"]
    ]
    assert sizes == [[[0]], [[0], [1]], [[0], [1], [2]]]


def test_image_in_relogged_table_is_encoded_once() -> None:
    img = tracker.Image(np.zeros((2, 2), np.uint8))
    t = tracker.Table(columns=["img"], data=[[img]])
    run = tracker.init(project="media")
    run.log({"t": t})
    run.log({"t": t})
    run.finish()
    assert img._ref is not None
    assert len(list((Path(run.dir) / "media" / "image").iterdir())) == 1


@pytest.mark.parametrize(
    ("build", "needle"),
    [
        (lambda: tracker.Table(columns=["a", "b"], data=[[1]]), "got 1 values for 2 columns ['a', 'b']"),
        (lambda: tracker.Table(columns=["a", "a"]), "duplicate"),
        (lambda: tracker.Table(columns="ab"), "list of names"),
        (lambda: tracker.Table(columns=[1.5]), "strings"),
        (lambda: tracker.Table(columns=["a"], data=[[object()]]), "column 'a' cannot hold"),
        (lambda: tracker.Table(data=np.zeros(3)), "(3,)"),
        (lambda: tracker.Table(columns=["a"], data=[[1]]).add_column("b", [1, 2]), "2 values for 1 rows"),
        (lambda: tracker.Table(columns=["a"]).add_column("a", []), "duplicate"),
        (lambda: tracker.Table(columns=["a"]).get_column("z"), "no such column"),
    ],
)
def test_bad_input(build: Any, needle: str) -> None:
    with pytest.raises(UsageError) as info:
        build()
    assert needle in str(info.value)


def test_row_edited_in_place_to_a_wrong_length_fails_at_log() -> None:
    t = tracker.Table(columns=["a", "b"], data=[[1, 2]])
    t.data.append([1])
    run = tracker.init(project="media")
    with pytest.raises(UsageError, match="row 1 has 1 values for 2 columns"):
        run.log({"t": t})
    run.finish()
