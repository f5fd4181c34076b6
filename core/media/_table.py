"""``tracker.Table``: rows and columns (media allowed in cells), stored as a JSON file."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, ClassVar

from tracker._optional import require_extra
from tracker._values import FAST_TYPES, plain, type_base
from tracker.errors import UsageError
from tracker.media._base import Media, Pending, torch_tensor
from tracker.media._histogram import Histogram

__all__ = ["Table"]

_DEFAULT_COLUMNS = ("Input", "Output", "Expected")  # W&B's default for an empty table


class Table(Media):
    """A table of rows, W&B's ``wandb.Table``; cells may hold media (``Image``, ...).

    Logging a table snapshots its rows (appending rows later does not change what was
    logged); the writer thread serialises it to ``media/table/<sha256>.table.json``
    (``{"columns": [...], "data": [[...], ...]}``; media cells become references to
    their own files) and the history row references that file.

    Args:
        columns: Column names (strings). Defaults to ``"0", "1", ...`` for ``data``,
            or W&B's ``["Input", "Output", "Expected"]`` for an empty table.
        data: Rows: a list of lists or a 2-D numpy array.
        rows: Alias of ``data`` (W&B).
        dataframe: A pandas DataFrame (columns and rows are taken from it).
        dtype: Accepted for W&B compatibility (types are inferred).
        optional: Accepted for W&B compatibility.
        allow_mixed_types: Accepted for W&B compatibility (mixed types are allowed).
        log_mode: Accepted for W&B compatibility (every log stores a snapshot).

    Attributes:
        columns: Column names.
        data: Rows (lists), in order.

    Raises:
        UsageError: A row whose length differs from the number of columns (the message
            names both), duplicate column names, an unsupported cell type.

    Example:
        >>> table = tracker.Table(columns=["id", "pred"], data=[[0, "cat"], [1, "dog"]])  # doctest: +SKIP
        >>> table.add_data(2, "bird")  # doctest: +SKIP
        >>> run.log({"predictions": table})  # doctest: +SKIP
    """

    _kind: ClassVar[str] = "table"

    def __init__(
        self,
        columns: list[Any] | None = None,
        data: Any = None,
        rows: Any = None,
        dataframe: Any = None,
        dtype: Any = None,
        optional: Any = True,
        allow_mixed_types: bool = False,
        log_mode: str | None = None,
    ) -> None:
        if dataframe is not None:
            if data is not None or rows is not None:
                raise UsageError("Table(): pass either data/rows or dataframe, not both.")
            if columns is None:
                columns = [str(c) for c in dataframe.columns]
            data = dataframe.to_numpy(dtype=object).tolist()
        if data is None:
            data = rows
        if data is not None and type(data).__module__ == "numpy":
            if data.ndim != 2:
                raise UsageError(
                    f"Table(data=...): a numpy array must be 2-D; got shape {tuple(data.shape)}."
                )
            data = data.tolist()
        if columns is None:
            first = next(iter(data), None) if data is not None else None
            columns = [str(i) for i in range(len(first))] if first is not None else list(_DEFAULT_COLUMNS)
        self.columns: list[str] = _check_columns(columns)
        self.data: list[list[Any]] = []
        for row in data if data is not None else ():
            self.add_data(*row)

    # ------------------------------------------------------------- W&B's table API
    def add_data(self, *data: Any) -> None:
        """Append one row (one value per column).

        Raises:
            UsageError: The number of values differs from the number of columns.
        """
        if len(data) != len(self.columns):
            raise UsageError(
                f"Table.add_data: got {len(data)} values for {len(self.columns)} columns {self.columns}."
            )
        self.data.append([_cell(v, c) for v, c in zip(data, self.columns, strict=True)])

    def add_row(self, *data: Any) -> None:
        """Append one row (W&B's older name for :meth:`add_data`)."""
        self.add_data(*data)

    def add_column(self, name: str, data: Any, optional: bool = False) -> None:
        """Append a column; ``data`` has one value per existing row.

        Raises:
            UsageError: The name exists already, or the length differs from the row count.
        """
        (name,) = _check_columns([*self.columns, name])[-1:]
        if hasattr(data, "tolist") and not torch_tensor(data):
            data = data.tolist()
        values = list(data)
        if self.columns and len(values) != len(self.data):
            raise UsageError(
                f"Table.add_column({name!r}): got {len(values)} values for {len(self.data)} rows."
            )
        if not self.columns:
            self.data = [[] for _ in values]
        self.columns.append(name)
        for row, value in zip(self.data, values, strict=True):
            row.append(_cell(value, name))

    def add_computed_columns(self, fn: Callable[[int, dict[str, Any]], Mapping[str, Any]]) -> None:
        """Add the columns ``fn(index, row)`` computes from each row (W&B's helper).

        ``fn`` gets the row's index and the row as ``{column: value}`` and returns
        ``{new_column: value}``; every call must return the same new names.

        Raises:
            UsageError: ``fn`` returns something other than a mapping, a name that exists
                already, or different names for different rows.
        """
        if not callable(fn):
            raise UsageError(f"Table.add_computed_columns: pass a function, not {type(fn).__name__}.")
        names: list[str] | None = None
        values: list[list[Any]] = []
        for i, row in self.iterrows():
            out = fn(i, dict(zip(self.columns, row, strict=True)))
            if not isinstance(out, Mapping):
                raise UsageError(
                    f"Table.add_computed_columns: fn returned {type(out).__name__} for row {i}; "
                    "return a dict of {new_column: value}."
                )
            if names is None:
                names = [str(k) for k in out]
                _check_columns([*self.columns, *names])
            elif [str(k) for k in out] != names:
                raise UsageError(
                    f"Table.add_computed_columns: row {i} gives columns {list(out)}, row 0 gave {names}."
                )
            values.append(list(out.values()))
        for j, name in enumerate(names or ()):
            self.add_column(name, [v[j] for v in values])

    def cast(self, col_name: str, dtype: Any, optional: bool = False) -> None:
        """Accepted for W&B compatibility: tracker infers types (the column must exist).

        Raises:
            UsageError: No such column.
        """
        self._column_index(col_name, "cast")

    def _column_index(self, name: str, what: str) -> int:
        if name not in self.columns:
            raise UsageError(f"Table.{what}({name!r}): no such column; columns are {self.columns}.")
        return self.columns.index(name)

    def get_column(self, name: str, convert_to: str | None = None) -> Any:
        """The values of column ``name``, as a list (or a numpy array with ``convert_to="numpy"``).

        Raises:
            UsageError: No such column, or an unknown ``convert_to``.
        """
        i = self._column_index(name, "get_column")
        values = [row[i] for row in self.data]
        if convert_to is None:
            return values
        if convert_to == "numpy":
            import numpy as np

            return np.array(values)
        raise UsageError(f"Table.get_column(convert_to={convert_to!r}): use None or 'numpy'.")

    def get_index(self) -> list[int]:
        """Row indices ``0..len(data)-1``."""
        return list(range(len(self.data)))

    def iterrows(self) -> Iterator[tuple[int, list[Any]]]:
        """Yield ``(index, row)`` pairs."""
        yield from enumerate(self.data)

    def get_dataframe(self) -> Any:
        """The table as a pandas DataFrame (the ``[data]`` extra).

        Raises:
            MissingExtraError: pandas is not installed.
        """
        require_extra("pandas", feature="Table.get_dataframe()", extra="data")
        import pandas as pd

        return pd.DataFrame([list(r) for r in self.data], columns=list(self.columns))

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        return f"<tracker.Table {len(self.data)} rows x {len(self.columns)} columns>"

    # ------------------------------------------------------------- logging
    def _tracker_snapshot(self) -> Pending:
        snap = self.snapshot()
        return Pending(snap, snap._nbytes())

    def snapshot(self) -> TableSnapshot:
        """An immutable copy of the rows as they are now (what ``log()`` stores)."""
        return TableSnapshot(self.columns, self.data)

    def _nbytes(self) -> int:
        return self.snapshot()._nbytes()

    def _encode(self, store: Any) -> dict[str, Any]:
        return self.snapshot()._encode(store)

    def _tracker_ref(self, store: Any) -> dict[str, Any]:
        # A table changes after it is logged: never reuse a cached reference.
        return self._encode(store)


class TableSnapshot(Media):
    """The rows of a :class:`Table` at one ``log()`` call (encoded in the writer)."""

    _kind: ClassVar[str] = "table"

    def __init__(self, columns: list[str], rows: list[list[Any]]) -> None:
        n = len(columns)
        copied = []
        media = 0
        for i, row in enumerate(rows):
            if len(row) != n:  # ``table.data`` edited in place
                raise UsageError(f"Table: row {i} has {len(row)} values for {n} columns {columns}.")
            copied.append(row[:])
            for cell in row:
                if isinstance(cell, Media):
                    media += cell._nbytes()
        self.columns = tuple(columns)
        self.rows = copied
        self._size = 16 * n * len(copied) + media

    def _nbytes(self) -> int:
        return self._size

    def _encode(self, store: Any) -> dict[str, Any]:
        import json

        cell = store.cell
        data = [[cell(c) for c in row] for row in self.rows]
        body = json.dumps(
            {"columns": list(self.columns), "data": data}, separators=(",", ":"), ensure_ascii=False
        ).encode("utf-8")
        ref: dict[str, Any] = {"_type": "table-file", "format": "json"}
        ref.update(store.write("table", body, "table.json"))
        ref.update(ncols=len(self.columns), nrows=len(self.rows), columns=list(self.columns))
        return ref


def _check_columns(columns: Any) -> list[str]:
    if isinstance(columns, (str, bytes)) or not hasattr(columns, "__iter__"):
        raise UsageError(f"Table(columns=...) must be a list of names, not {type(columns).__name__}.")
    out = []
    for c in columns:
        if isinstance(c, bool) or not isinstance(c, (str, int)):
            raise UsageError(f"Table: column names must be strings; got {type(c).__name__} {c!r}.")
        out.append(str(c))
    if len(set(out)) != len(out):
        dup = sorted({c for c in out if out.count(c) > 1})
        raise UsageError(f"Table: duplicate column name(s) {dup}.")
    return out


def _cell(value: Any, column: str) -> Any:
    """A cell as an immutable value: plain data, a media object or a histogram."""
    t = type(value)
    if t in FAST_TYPES:
        return value
    if isinstance(value, Table):  # a table inside a cell: its rows as they are now
        return value.snapshot()
    if isinstance(value, (Media, Histogram)):
        return value
    if isinstance(value, (bool, int, float, str)):
        return type_base(value)
    mod = t.__module__
    if mod == "numpy":
        return value.tolist()  # a numpy scalar's tolist() is the Python scalar
    if torch_tensor(value):
        v = value.detach().cpu()
        return v.item() if v.ndim == 0 else v.tolist()
    if isinstance(value, (list, tuple, Mapping)):
        return plain(value)
    if mod.startswith("pandas") and t.__name__ in ("NAType", "NaTType"):
        return None
    if hasattr(value, "isoformat"):  # datetime, date, pandas.Timestamp
        return value.isoformat()
    raise UsageError(
        f"Table: column {column!r} cannot hold a {mod}.{t.__qualname__}; use numbers, strings, "
        "bools, None, lists, dicts or tracker media (Image, Audio, Video, Html, Histogram)."
    )
