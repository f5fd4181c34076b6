"""The run-log format: a file header, then length-prefixed, checksummed msgpack frames.

Specified byte for byte in ``docs/format.md``. This module is the only code that
knows the framing; the writer thread calls :func:`frame`, readers call
:func:`read_frames`, and a writer reopening a log calls :func:`repair` first so that
it never appends after a torn tail. Readers follow the format's reader rules
(:data:`READER_RULES`, docs/format.md section 4.3): a record that breaks the schema is
set aside, and damaged bytes mid-log are skipped once valid frames follow and no writer
holds the run's lease; both are reported as problems of the read.
"""

from __future__ import annotations

import contextlib
import gc
import os
import re
import struct
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Final, TypeAlias

from tracker.errors import CorruptRecordError, StorageError

__all__ = [
    "FORMAT_VERSION",
    "LogRead",
    "READER_RULES",
    "R",
    "frame",
    "read_frames",
    "repair",
]

FORMAT_VERSION: Final = 1
#: Version of the reader rules of docs/format.md section 4.3 (how damaged bytes are read);
#: it changes what a reader makes of a damaged log, never the bytes a writer writes.
READER_RULES: Final = 2
MAGIC: Final = b"\x89TRKLOG\n"
_HEADER_BODY: Final = struct.Struct("<8sHH")
HEADER_SIZE: Final = 16
_FRAME: Final = struct.Struct("<II")
FRAME_HEADER_SIZE: Final = 8
MAX_PAYLOAD: Final = 1 << 30


class R:
    """Record type codes: the first element of every record's msgpack array."""

    RUN: Final = 1
    CONFIG: Final = 2
    HISTORY: Final = 3
    SUMMARY: Final = 4
    DEFINE_METRIC: Final = 6
    ALERT: Final = 7
    META: Final = 8
    CONSOLE: Final = 9
    SYSTEM: Final = 10
    FILES: Final = 11
    ARTIFACT: Final = 12
    EXIT: Final = 13
    HEARTBEAT: Final = 14
    RESUME: Final = 15
    EDIT: Final = 16


def file_header(version: int = FORMAT_VERSION) -> bytes:
    """The 16-byte file header: magic, version, flags, CRC-32 of the first 12 bytes."""
    body = _HEADER_BODY.pack(MAGIC, version, 0)
    return body + struct.pack("<I", zlib.crc32(body))


def frame(payload: bytes) -> bytes:
    """Wrap one msgpack payload: u32 length, u32 CRC-32 of (length bytes + payload), payload."""
    n = len(payload)
    if n == 0 or n > MAX_PAYLOAD:
        raise StorageError(f"record payload of {n} bytes is outside 1..{MAX_PAYLOAD}")
    length = struct.pack("<I", n)
    return length + struct.pack("<I", zlib.crc32(payload, zlib.crc32(length))) + payload


def parse_header(buf: bytes | memoryview, path: str = "") -> int:
    """Validate the file header and return the format version.

    Raises:
        CorruptRecordError: Not a tracker run log, or a version this reader cannot read.
    """
    if len(buf) < HEADER_SIZE:
        raise CorruptRecordError(f"{path}: run log shorter than its header", path=path)
    magic, version, _flags = _HEADER_BODY.unpack_from(buf, 0)
    (crc,) = struct.unpack_from("<I", buf, 12)
    if magic != MAGIC or crc != zlib.crc32(bytes(buf[:12])):
        raise CorruptRecordError(f"{path}: not a tracker run log (bad header)", path=path)
    if version > FORMAT_VERSION:
        raise CorruptRecordError(
            f"{path}: run log format v{version} is newer than this tracker (v{FORMAT_VERSION});"
            " upgrade tracker to read it",
            path=path,
        )
    return int(version)


class LogRead:
    """What :func:`read_frames` found.

    Attributes:
        records: ``(offset, record)`` pairs; each record is the decoded msgpack array.
        end: Byte offset just after the last whole frame (where a writer may append).
        torn: True when bytes after ``end`` do not form a whole, valid frame.
        size: File size seen when reading.
        problems: What was set aside on the way (docs/format.md section 4.3), in file
            order: ``{"kind": "corrupt", "offset", "type", "reason"}`` for a whole frame
            whose record breaks the schema or does not decode (``type``: its record type,
            None when it has none), ``{"kind": "gap", "offset",
            "bytes", "reason"}`` for damaged bytes the reader resynchronised past.
        deferred: True when the read stopped at damaged bytes that valid frames follow
            because a live writer holds the run's lease: read again once it is gone.
    """

    __slots__ = ("deferred", "end", "problems", "records", "size", "torn")

    def __init__(self, end: int = HEADER_SIZE, size: int = 0) -> None:
        self.records: list[tuple[int, list[Any]]] = []
        self.end = end
        self.torn = False
        self.size = size
        self.problems: list[dict[str, Any]] = []
        self.deferred = False


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic GC while decoding: millions of short-lived containers, no cycles.

    Without it, reading a large log spends about two thirds of its time in GC passes.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _unpack(payload: bytes | memoryview) -> Any:
    import msgpack

    return msgpack.unpackb(payload, raw=False, strict_map_key=False)


#: ``resync`` of :func:`scan`: False never skips damaged bytes (a batch sent to the
#: server must be whole); True skips them when the format's rule allows (the caller is
#: the run's writer, under its lease); a callable is asked, once, whether no writer
#: holds the lease right now (readers).
Resync: TypeAlias = bool | Callable[[], bool]


def scan(buf: bytes | memoryview, start: int, *, resync: Resync = False, eof: bool = True) -> LogRead:
    """Decode every whole frame in ``buf`` from ``start`` (docs/format.md section 4.3).

    A whole frame whose record breaks the schema (:mod:`tracker.storage._schema`) or does
    not decode is set aside as a ``corrupt`` problem and reading goes on after it. At
    damaged bytes (no whole, checksummed frame) reading stops, unless ``resync`` allows
    skipping them and at least :data:`RESYNC_FRAMES` valid frames (or valid frames
    through the end of the file) follow: then the damaged bytes become a ``gap`` problem.

    Args:
        buf: The bytes.
        start: Offset of the first frame in ``buf``.
        resync: Whether damaged bytes may be skipped (see :data:`Resync`).
        eof: ``buf`` ends where the file ends (False for a slice of a larger file).
    """
    with gc_paused():
        return _scan(buf, start, resync, eof)


#: Valid frames that must follow damaged bytes before a reader resynchronises past them.
RESYNC_FRAMES: Final = 3
#: Problems kept per read (a log of garbage must not yield a problem per byte).
MAX_PROBLEMS: Final = 100
#: First payload byte of every record: a msgpack array header (fixarray, array 16/32).
_ARRAY_HEAD: Final = re.compile(rb"[\x90-\x9f\xdc\xdd]")
_ARRAY_HEADS: Final = frozenset([*range(0x90, 0xA0), 0xDC, 0xDD])
_LENGTH: Final = struct.Struct("<I")


def _frame_at(mv: memoryview, pos: int, size: int) -> int:
    """The payload length of a whole, checksummed frame at ``pos``, or -1."""
    if size - pos < FRAME_HEADER_SIZE:
        return -1
    n, crc = _FRAME.unpack_from(mv, pos)
    body = pos + FRAME_HEADER_SIZE
    if n == 0 or n > MAX_PAYLOAD or body + n > size:
        return -1
    if zlib.crc32(mv[body : body + n], zlib.crc32(mv[pos : pos + 4])) != crc:
        return -1
    return int(n)


def _resync_at(mv: memoryview, pos: int, size: int, eof: bool) -> int:
    """Where reading may go on after damaged bytes at ``pos``, or -1.

    The first offset past ``pos`` that starts :data:`RESYNC_FRAMES` consecutive valid
    frames, or valid frames that end exactly at the end of the file. Where the damaged
    frame's own length still leads to such frames (a damaged payload), that offset wins,
    so that frames embedded in the damaged payload are never taken for the log's own.
    """

    def follows(q: int) -> bool:
        # The chain's shape first (lengths that fit, each payload opening an array), then
        # the checksums: a candidate in garbage rarely has the shape, so the cost of the
        # search stays near linear in the damaged bytes instead of one CRC per candidate.
        chain: list[int] = []
        at = q
        while len(chain) < RESYNC_FRAMES and size - at >= FRAME_HEADER_SIZE + 1:
            (n,) = _LENGTH.unpack_from(mv, at)
            if n == 0 or n > MAX_PAYLOAD or at + FRAME_HEADER_SIZE + n > size:
                break
            if mv[at + FRAME_HEADER_SIZE] not in _ARRAY_HEADS:
                break
            chain.append(at)
            at += FRAME_HEADER_SIZE + n
            if at == size:
                break
        if not (len(chain) >= RESYNC_FRAMES or (chain and at == size and eof)):
            return False
        return all(_frame_at(mv, c, size) >= 0 for c in chain)

    if size - pos >= FRAME_HEADER_SIZE:
        (n,) = _LENGTH.unpack_from(mv, pos)
        own = pos + FRAME_HEADER_SIZE + n
        if 0 < n <= MAX_PAYLOAD and own < size and follows(own):
            return int(own)
    for match in _ARRAY_HEAD.finditer(mv, pos + 1 + FRAME_HEADER_SIZE):
        q = match.start() - FRAME_HEADER_SIZE
        if follows(q):
            return q
    return -1


def _scan(buf: bytes | memoryview, start: int, resync: Resync, eof: bool) -> LogRead:
    from tracker.storage._schema import problem

    out = LogRead(end=start, size=len(buf))
    mv = memoryview(buf)
    pos = start
    size = len(buf)
    crc32 = zlib.crc32
    unpack_from = _FRAME.unpack_from
    records = out.records
    problems = out.problems
    allowed: bool | None = None if callable(resync) else resync
    while pos < size:
        if size - pos < FRAME_HEADER_SIZE:
            out.torn = True
            break
        n, crc = unpack_from(mv, pos)
        body = pos + FRAME_HEADER_SIZE
        if (
            n == 0
            or n > MAX_PAYLOAD
            or body + n > size
            or crc32(mv[body : body + n], crc32(mv[pos : pos + 4])) != crc
        ):
            # Damaged bytes: a torn tail, unless valid frames follow and no writer is live.
            if resync is False or (
                not eof and (size - pos < FRAME_HEADER_SIZE or (0 < n <= MAX_PAYLOAD and body + n > size))
            ):  # a frame cut by the end of a slice is read with the next slice
                out.torn = True
                break
            at = _resync_at(mv, pos, size, eof)
            if at < 0:
                out.torn = True
                break
            if allowed is None:
                allowed = bool(resync())  # type: ignore[operator]
            if not allowed:
                out.torn = True
                out.deferred = True
                break
            if len(problems) < MAX_PROBLEMS:
                problems.append(
                    {
                        "kind": "gap",
                        "offset": pos,
                        "bytes": at - pos,
                        "reason": f"{at - pos} damaged bytes (no whole, checksummed frame) skipped",
                    }
                )
            pos = at
            continue
        try:
            rec = _unpack(mv[body : body + n])
        except (ValueError, TypeError) as exc:  # msgpack's errors; TypeError: an array as a map key
            rec = None
            reason: str | None = f"the payload is not one msgpack value ({exc})"
        else:
            reason = problem(rec)
        if reason is None:
            records.append((pos, rec))
        elif len(problems) < MAX_PROBLEMS:
            kind = rec[0] if type(rec) is list and rec and type(rec[0]) is int else None
            problems.append({"kind": "corrupt", "offset": pos, "type": kind, "reason": reason})
        pos = body + n
    out.end = pos
    return out


def read_frames(path: str | os.PathLike[str], offset: int = 0, *, resync: Resync | None = None) -> LogRead:
    """Read a run log from ``offset`` (0 = start, header included).

    A torn or corrupt tail is not an error: the whole records before it are returned,
    ``torn`` is set, and ``end`` is the offset of the first bad byte. Records that break
    the schema and damaged bytes in the middle of a log are reported in ``problems``
    (see :func:`scan`).

    Args:
        path: The run log.
        offset: Where to start (0: the header).
        resync: Whether damaged bytes followed by valid frames may be skipped; None (the
            default, for readers): only when no live process holds the run's lease.

    Raises:
        StorageError: The file cannot be read.
        CorruptRecordError: The header is not a tracker run log header.
    """
    p = os.fspath(path)
    try:
        with open(p, "rb") as f:
            if offset <= 0:
                head = f.read(HEADER_SIZE)
                if len(head) < HEADER_SIZE and file_header()[: len(head)] == head:
                    # Killed between creating the file and writing its header: no records.
                    out = LogRead(end=0, size=len(head))
                    out.torn = bool(head)
                    return out
                parse_header(head, p)
                offset = HEADER_SIZE
            else:
                f.seek(offset)
            data = f.read()
    except FileNotFoundError as exc:
        raise StorageError(f"run log {p} does not exist", path=p) from exc
    except OSError as exc:
        raise StorageError(f"cannot read run log {p}: {exc}", path=p) from exc
    out = scan(data, 0, resync=no_writer(p) if resync is None else resync)
    shift(out, offset)
    out.size = offset + len(data)
    return out


def no_writer(path: str | os.PathLike[str]) -> Callable[[], bool]:
    """For :func:`scan`: asks whether no live process holds the writer lease of ``path``."""

    def ask() -> bool:
        from tracker.storage._lease import held

        return not held(path)

    return ask


def shift(out: LogRead, offset: int) -> None:
    """Make the offsets of a read of ``buf[offset:]`` offsets in the file."""
    if offset:
        out.records = [(offset + o, r) for o, r in out.records]
        for found in out.problems:
            found["offset"] += offset
        out.end += offset


def repair(path: Path) -> LogRead:
    """Prepare an existing log for appending: truncate a torn tail, keeping its bytes aside.

    The bytes past the last whole frame are copied to ``<log>.torn-<offset>`` before the
    file is truncated, so nothing is destroyed; appending after a torn tail would
    otherwise corrupt every record that follows. Only the tail is cut: damaged bytes in
    the middle of the log that valid frames follow stay (readers skip them), since the
    caller is the run's writer, holding its lease.
    """
    result = read_frames(path, resync=True)
    if result.torn and result.size > result.end:
        with open(path, "rb") as f:
            f.seek(result.end)
            tail = f.read()
        aside = path.with_name(f"{path.name}.torn-{result.end}")
        aside.write_bytes(tail)
        with open(path, "r+b") as f:
            f.truncate(result.end)
            f.flush()
            os.fsync(f.fileno())
    return result
