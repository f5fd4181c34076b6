"""Media on the write path: encoding in the writer, the byte bound, failures, the read helpers."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

import tracker
from tracker import media
from tracker._init import LOG_NAME, read_log
from tracker.errors import Error, MissingExtraError, StorageError, TrackerWarning, UsageError
from tracker.media._base import Media
from tracker.storage._format import R, read_frames


class _Fake(Media):
    """A media type whose snapshot claims ``size`` bytes and whose file is tiny."""

    _kind: ClassVar[str] = "fake"

    def __init__(self, tag: str, size: int = 600_000, fail: bool = False) -> None:
        self.tag = tag
        self.size = size
        self.fail = fail

    def _nbytes(self) -> int:
        return self.size

    def _encode(self, store: Any) -> dict[str, Any]:
        if self.fail:
            raise ValueError(f"cannot encode {self.tag}")
        ref = {"_type": "html-file"}
        ref.update(store.write("fake", self.tag.encode(), "txt"))
        return ref


def _writer(run: tracker.Run) -> Any:
    return run._writer


def test_rows_without_media_never_touch_the_store() -> None:
    run = tracker.init(project="media")
    run.log({"loss": 1.0, "arr": np.arange(3), "nested": {"a": 1}})
    run.finish()
    assert not _writer(run).media.used
    assert not (Path(run.dir) / "media").exists()


def test_encoding_happens_in_the_writer_thread() -> None:
    import threading

    threads: list[str] = []

    class _Spy(_Fake):
        def _encode(self, store: Any) -> dict[str, Any]:
            threads.append(threading.current_thread().name)
            return super()._encode(store)

    run = tracker.init(project="media")
    run.log({"x": _Spy("a")})
    run.finish()
    assert threads == [f"tracker-writer-{run.id}"]


def test_a_failing_encoder_records_an_error_reference_and_keeps_the_row() -> None:
    run = tracker.init(project="media")
    run.log({"bad": _Fake("x", fail=True), "loss": 0.5})
    with pytest.raises(Error, match="could not be stored"):
        run.finish()  # strict mode (the test suite's) raises what would be one warning
    ((_step, _ts, data),) = read_log(Path(run.dir) / LOG_NAME).rows
    assert data["loss"] == 0.5
    assert data["bad"]["_type"] == "fake-file"
    assert "cannot encode x" in data["bad"]["error"]
    with pytest.raises(UsageError, match="records an error"):
        media.resolve(run.dir, data["bad"])


def test_a_failing_encoder_warns_once_outside_strict_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACKER_STRICT", "0")
    run = tracker.init(project="media")
    run.log({"bad": _Fake("x", fail=True)})
    with pytest.warns(TrackerWarning, match="could not be stored"):
        run.finish()


def test_log_blocks_above_queue_max_bytes_and_warns_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # The writer only wakes when asked: the bytes queued are deterministic.
    run = tracker.init(project="media", settings={"queue_max_bytes": 1_000_000, "flush_interval": 60})
    budget = _writer(run).media.budget
    waits: list[int] = []
    original = type(budget).wait

    def spy(self: Any, below: int, busy: Any, poll: float = 0.5) -> None:
        waits.append(self.pending)
        original(self, below, busy, poll)

    monkeypatch.setattr(type(budget), "wait", spy)
    run.log({"m": _Fake("1")})
    run.log({"m": _Fake("2")})
    assert budget.pending == 1_200_000
    assert waits == []
    with pytest.warns(TrackerWarning, match="queue_max_bytes"):
        run.log({"m": _Fake("3")})  # 1.2 MB already queued: waits for the writer
    assert waits == [1_800_000]
    assert budget.pending <= 500_000 + 600_000
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for i in range(4, 8):
            run.log({"m": _Fake(str(i))})  # blocks again, warns no more
    run.finish()
    assert budget.pending == 0
    assert [e.step for e in media.media_entries(run.dir)["m"]] == list(range(7))


def test_overwritten_commit_false_media_release_their_bytes() -> None:
    run = tracker.init(project="media", settings={"flush_interval": 60})
    budget = _writer(run).media.budget
    run.log({"m": _Fake("a")}, commit=False)
    run.log({"m": _Fake("b")}, commit=False)  # replaces "a", which is never encoded
    assert budget.pending == 600_000
    run.finish()
    assert budget.pending == 0


def test_one_image_logged_into_two_runs_is_stored_in_both() -> None:
    img = tracker.Image(np.zeros((3, 3), np.uint8))
    dirs = []
    for _ in range(2):
        run = tracker.init(project="media", reinit="create_new")
        run.log({"img": img})
        run.finish()
        dirs.append(run.dir)
    for run_dir in dirs:
        (entry,) = media.media_entries(run_dir)["img"]
        assert media.resolve(run_dir, entry.value).is_file()


def test_media_refs_are_plain_in_the_record() -> None:
    run = tracker.init(project="media")
    run.log({"img": tracker.Image(np.zeros((2, 2), np.uint8)), "h": tracker.Histogram([1, 2])})
    run.finish()
    history = [rec for _off, rec in read_frames(Path(run.dir) / LOG_NAME).records if rec[0] == R.HISTORY]
    (keys,), rows = history[0][1], history[0][2]
    values = dict(zip(keys, rows[0][3:], strict=True))
    assert values["img"]["_type"] == "image-file"
    assert values["h"]["_type"] == "histogram"


def test_read_helpers(tmp_path: Path) -> None:
    run = tracker.init(project="media")
    run.log({"img": tracker.Image(np.zeros((2, 2), np.uint8)), "loss": 1.0})
    run.log({"loss": 0.5})
    run.log({"img": tracker.Image(np.ones((2, 2), np.uint8))}, step=5)
    run.finish()
    from tracker.storage._replay import RunState

    state = RunState()
    state.feed(read_frames(Path(run.dir) / LOG_NAME).records)
    by_dir = media.media_entries(run.dir)
    assert by_dir == media.media_entries(state) == media.media_entries(Path(run.dir) / LOG_NAME)
    assert list(by_dir) == ["img"]
    assert media.media_steps(by_dir["img"]) == [0, 5]
    assert media.media_entries(run.dir, keys=["loss"]) == {}
    assert media.is_media({"_type": "table-file"})
    assert not media.is_media({"_type": "other"})
    assert not media.is_media([])
    assert media.is_media([{"_type": "histogram"}])
    for bad in ("../../etc/passwd", "/etc/passwd", "media/../../x"):
        with pytest.raises(UsageError, match="leaves the run directory"):
            media.resolve(run.dir, {"path": bad})
    with pytest.raises(StorageError, match="missing"):
        media.resolve(run.dir, {"path": "media/image/nope.png"})


def test_disabled_run_accepts_media_and_save() -> None:
    run = tracker.init(mode="disabled")
    run.log({"img": tracker.Image(np.zeros((2, 2), np.uint8))})
    assert run.save("*.txt") == []
    run.finish()


def test_missing_extras_fail_at_construction(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from tracker import _optional

    _optional._find.cache_clear()
    monkeypatch.setitem(sys.modules, "PIL", None)
    monkeypatch.setitem(sys.modules, "pandas", None)
    try:
        with pytest.raises(MissingExtraError, match=r"pip install 'tracker\[media\]'"):
            tracker.Image(np.zeros((2, 2), np.uint8), file_type="jpg")
        with pytest.raises(MissingExtraError, match=r"pip install 'tracker\[data\]'"):
            tracker.Table(columns=["a"]).get_dataframe()
        tracker.Image(np.zeros((2, 2), np.uint8))  # PNG from arrays needs no Pillow
    finally:
        _optional._find.cache_clear()


def test_public_names() -> None:
    for name in ("Image", "Audio", "Video", "Html", "Histogram", "Table", "plot", "save"):
        assert name in tracker.__all__
    assert tracker.Image is media.Image
    assert tracker.plot is media.plot
    assert media.__all__ == sorted(media.__all__)
    # Public names load lazily (PEP 562): each resolves, is listed by dir(), and nothing
    # else public is defined in the package module itself.
    for name in media.__all__:
        assert getattr(media, name) is not None
    assert set(media.__all__) <= set(dir(media))
    extra = {n for n in vars(media) if not n.startswith("_")} - {"annotations", "TYPE_CHECKING", "Any"}
    assert extra <= set(media.__all__)
    assert tracker.plot.__all__ == sorted(tracker.plot.__all__)
