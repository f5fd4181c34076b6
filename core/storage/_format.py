"""The run-log format: a file header, then length-prefixed, checksummed msgpack frames.

Specified byte for byte in ``docs/format.md``. This module is the only code that
knows the framing; the writer thread calls :func:`frame`, readers call
:func:`read_frames`, and a writer reopening a log calls :func:`repair` first so that
it never appends after a torn tail.
"""

from __future__ import annotations

import contextlib
import gc
import os
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

from tracker.errors import CorruptRecordError, StorageError

__all__ = [
    "FORMAT_VERSION",
    "LogRead",
    "R",
    "frame",
    "read_frames",
    "repair",
]

FORMAT_VERSION: Final = 1
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
    """

    __slots__ = ("end", "records", "size", "torn")

    def __init__(self, end: int = HEADER_SIZE, size: int = 0) -> None:
        self.records: list[tuple[int, list[Any]]] = []
        self.end = end
        self.torn = False
        self.size = size


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


def scan(buf: bytes | memoryview, start: int) -> LogRead:
    """Decode every whole frame in ``buf`` from ``start``; stop at the first bad one."""
    with gc_paused():
        return _scan(buf, start)


def _scan(buf: bytes | memoryview, start: int) -> LogRead:
    out = LogRead(end=start, size=len(buf))
    mv = memoryview(buf)
    pos = start
    size = len(buf)
    crc32 = zlib.crc32
    unpack_from = _FRAME.unpack_from
    records = out.records
    while pos < size:
        if size - pos < FRAME_HEADER_SIZE:
            out.torn = True
            break
        n, crc = unpack_from(mv, pos)
        body = pos + FRAME_HEADER_SIZE
        if n == 0 or n > MAX_PAYLOAD or body + n > size:
            out.torn = True
            break
        payload = mv[body : body + n]
        if crc32(payload, crc32(mv[pos : pos + 4])) != crc:
            out.torn = True
            break
        try:
            rec = _unpack(payload)
        except ValueError:
            # A frame whose checksum matches but whose payload does not decode was written
            # by a buggy or newer writer; treat it like a torn tail rather than guess.
            out.torn = True
            break
        records.append((pos, rec))
        pos = body + n
    out.end = pos
    return out


def read_frames(path: str | os.PathLike[str], offset: int = 0) -> LogRead:
    """Read a run log from ``offset`` (0 = start, header included).

    A torn or corrupt tail is not an error: the whole records before it are returned,
    ``torn`` is set, and ``end`` is the offset of the first bad byte.

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
    out = scan(data, 0)
    out.records = [(offset + o, r) for o, r in out.records]
    out.end += offset
    out.size = offset + len(data)
    return out


def repair(path: Path) -> LogRead:
    """Prepare an existing log for appending: truncate a torn tail, keeping its bytes aside.

    The bytes past the last whole frame are copied to ``<log>.torn-<offset>`` before the
    file is truncated, so nothing is destroyed; appending after a torn tail would
    otherwise corrupt every record that follows.
    """
    result = read_frames(path)
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
