"""Parts of the SQL index that are not the algorithm: a prepared slice, lazy timestamps.

Kept apart from :mod:`tracker.storage._sql_index` so that each stays small.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Final

from tracker.storage._base import STREAMS, IndexChangedError

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from tracker.storage._ingest import Delta
    from tracker.storage._sql_index import SQLIndex

__all__: list[str] = []

_TIMESTAMPS: Final = (
    "SELECT cno, n, seq0, ts FROM {chunks} WHERE rid = ? AND stream = ? AND key = ? AND kind = 0 "
    "AND cno BETWEEN ? AND ?"
)


class _Timestamps:
    """Loads the timestamps of a key's numeric chunks when first needed.

    The chunks are looked up again by number; each must still start at the same row and
    hold at least as many points as when its values were read (appends only extend the
    last chunk, so its first ``n`` timestamps are unchanged). Anything else means a
    rewind or a rebuild rewrote the key in between: IndexChangedError, and the caller
    reads again.
    """

    __slots__ = ("cnos", "index", "key", "rid", "shape", "stream")

    def __init__(
        self, index: SQLIndex, rid: int, stream: int, key: str, cnos: list[int], shape: list[tuple[int, int]]
    ) -> None:
        self.index = index
        self.rid = rid
        self.stream = stream
        self.key = key
        self.cnos = cnos
        self.shape = shape

    def blobs(self) -> list[bytes]:
        if not self.cnos:
            return []
        index = self.index
        conn = index._conn
        with index._errors("reading the index"):
            rows = index._exec(
                conn,
                index._q(_TIMESTAMPS),
                (self.rid, self.stream, self.key, self.cnos[0], self.cnos[-1]),
                binary=True,
            ).fetchall()
        by_cno = {int(cno): (int(n), int(seq0), ts) for cno, n, seq0, ts in rows}
        out = []
        for cno, (n, seq0) in zip(self.cnos, self.shape, strict=True):
            found = by_cno.get(cno)
            if found is None or found[1] != seq0 or found[0] < n:
                raise IndexChangedError(f"{index._where()}: {self.key!r} was rewritten while being read")
            out.append(bytes(found[2][: n * 8]))
        return out

    def load(self) -> NDArray[np.float64]:
        import numpy as np

        blobs = self.blobs()
        if not blobs:
            return np.zeros(0, dtype=np.float64)
        return np.concatenate([np.frombuffer(b, dtype="<f8") for b in blobs])


class _Prepared:
    """One slice of one log, read and folded, waiting to be committed."""

    __slots__ = ("at_end", "bytes", "delta", "end", "expected", "path", "project", "reset", "run_id", "stat")

    def __init__(
        self,
        project: str,
        run_id: str,
        path: Path,
        expected: tuple[int, int] | None,
        reset: bool,
        delta: Delta,
        end: int,
        stat: tuple[int, int],
        at_end: bool,
        size: int,
    ) -> None:
        self.project = project
        self.run_id = run_id
        self.path = path
        self.expected = expected
        self.reset = reset
        self.delta = delta
        self.end = end
        self.stat = stat
        self.at_end = at_end
        self.bytes = size

    @property
    def records(self) -> int:
        return self.delta.records


def _stream(name: str) -> int:
    try:
        return STREAMS[name]
    except KeyError:
        from tracker.errors import UsageError

        raise UsageError(f"stream={name!r}: use 'default' or 'events' (alias 'system').") from None
