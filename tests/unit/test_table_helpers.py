"""Table helpers real W&B code uses: computed columns, columns as numpy, index, rows (issue 19, point 8)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import tracker
from tracker.errors import UsageError


def _table() -> tracker.Table:
    return tracker.Table(columns=["id", "x"], data=[[0, 1.5], [1, 2.5], [2, -1.0]])


def test_add_computed_columns_adds_each_new_column_from_the_rows() -> None:
    table = _table()
    table.add_computed_columns(lambda i, row: {"double": row["x"] * 2, "pos": i})
    assert table.columns == ["id", "x", "double", "pos"]
    assert table.data == [[0, 1.5, 3.0, 0], [1, 2.5, 5.0, 1], [2, -1.0, -2.0, 2]]


def test_add_computed_columns_refuses_bad_results_by_name() -> None:
    table = _table()
    with pytest.raises(UsageError, match="return a dict"):
        table.add_computed_columns(lambda i, row: row["x"])
    with pytest.raises(UsageError, match="duplicate column"):
        table.add_computed_columns(lambda i, row: {"x": 1})
    with pytest.raises(UsageError, match="row 1 gives columns"):
        table.add_computed_columns(lambda i, row: {"a": 1} if i == 0 else {"b": 2})
    assert table.columns == ["id", "x"]  # nothing half-added


def test_get_column_index_iterrows_add_column_cast() -> None:
    table = _table()
    col = table.get_column("x", convert_to="numpy")
    assert isinstance(col, np.ndarray)
    np.testing.assert_array_equal(col, np.array([1.5, 2.5, -1.0]))
    assert table.get_column("id") == [0, 1, 2]
    assert table.get_index() == [0, 1, 2]
    assert list(table.iterrows()) == [(0, [0, 1.5]), (1, [1, 2.5]), (2, [2, -1.0])]
    table.add_column("label", np.array(["a", "b", "c"]))
    assert table.get_column("label") == ["a", "b", "c"]
    table.cast("label", "string")
    with pytest.raises(UsageError, match="no such column"):
        table.cast("nope", "string")
    with pytest.raises(UsageError, match="no such column"):
        table.get_column("nope")


def test_computed_columns_are_in_the_logged_table(root: Path) -> None:
    run = tracker.init(project="tables")
    table = _table()
    table.add_computed_columns(lambda i, row: {"sq": row["x"] ** 2})
    run.log({"t": table})
    run.finish()
    ref = tracker.Api(root).run(f"tables/{run.id}").summary["t"]
    body = json.loads((Path(run.dir) / ref["path"]).read_text())
    assert body["columns"] == ["id", "x", "sq"]
    assert [row[2] for row in body["data"]] == [2.25, 6.25, 1.0]
