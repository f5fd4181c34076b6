"""tracker.Audio (identical samples), tracker.Video (frames, lossy pixels), tracker.Html."""

from __future__ import annotations

import importlib.util
import io
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tracker
from tracker import media
from tracker.errors import MissingExtraError, StorageError, UsageError


def _log_one(value: Any, key: str = "x") -> tuple[str, dict[str, Any]]:
    run = tracker.init(project="media")
    run.log({key: value})
    run.finish()
    (entry,) = media.media_entries(run.dir)[key]
    return run.dir, entry.value


RNG = np.random.default_rng(7)


# ---------------------------------------------------------------------- audio


@pytest.mark.parametrize("shape", [(1000,), (500, 2)])
def test_float32_samples_come_back_identical(shape: tuple[int, ...]) -> None:
    a = RNG.standard_normal(shape).astype(np.float32)
    clip = tracker.Audio(a, sample_rate=22050, caption="noise")
    a_copy = a.copy()
    a[:] = 0  # snapshot
    run_dir, ref = _log_one(clip)
    assert ref["_type"] == "audio-file"
    assert ref["format"] == "wav"
    assert ref["sample_rate"] == 22050
    assert ref["frames"] == shape[0]
    assert ref["caption"] == "noise"
    assert ref["channels"] == (1 if len(shape) == 1 else 2)
    got, rate = media.read_audio(run_dir, ref)
    assert rate == 22050
    assert got.dtype == np.float32
    assert np.array_equal(got, a_copy)


def test_float_wav_is_standard(tmp_path: Path) -> None:
    wavfile = pytest.importorskip("scipy.io.wavfile")
    a = RNG.standard_normal((300, 2)).astype(np.float32)
    run_dir, ref = _log_one(tracker.Audio(a, sample_rate=8000))
    rate, got = wavfile.read(Path(run_dir, ref["path"]))
    assert rate == 8000
    assert np.array_equal(got, a)


def test_int16_is_pcm_readable_by_the_wave_module() -> None:
    a = RNG.integers(-32768, 32768, (400, 2), dtype=np.int16)
    run_dir, ref = _log_one(tracker.Audio(a, sample_rate=16000))
    with wave.open(str(Path(run_dir, ref["path"]))) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (2, 2, 16000)
        got = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)
    assert np.array_equal(got, a)
    assert np.array_equal(media.read_audio(run_dir, ref)[0], a)


def test_float64_is_stored_as_float32() -> None:
    a = RNG.standard_normal(100)
    run_dir, ref = _log_one(tracker.Audio(a, sample_rate=100))
    assert np.array_equal(media.read_audio(run_dir, ref)[0], a.astype(np.float32))


def test_audio_file_is_stored_as_is(tmp_path: Path) -> None:
    path = tmp_path / "clip.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(np.arange(100, dtype="<i2").tobytes())
    run_dir, ref = _log_one(tracker.Audio(str(path), caption="file"))
    assert Path(run_dir, ref["path"]).read_bytes() == path.read_bytes()
    assert np.array_equal(media.read_audio(run_dir, ref)[0], np.arange(100))


def test_audio_torch_tensor() -> None:
    torch = pytest.importorskip("torch")
    t = torch.randn(64)
    run_dir, ref = _log_one(tracker.Audio(t, sample_rate=64))
    assert np.array_equal(media.read_audio(run_dir, ref)[0], t.numpy())


@pytest.mark.parametrize(
    ("data", "kwargs", "needle"),
    [
        (np.zeros((2, 16000), np.float32), {"sample_rate": 16000}, "(2, 16000)"),
        (np.zeros((2, 2, 2), np.float32), {"sample_rate": 1}, "(2, 2, 2)"),
        (np.zeros(10, np.complex64), {"sample_rate": 1}, "complex64"),
        (np.zeros(10, np.float32), {}, "sample_rate"),
        (np.zeros(10, np.float32), {"sample_rate": -5}, "-5"),
        (np.zeros(0, np.float32), {"sample_rate": 5}, "empty"),
        ("/nonexistent.wav", {}, "no such file"),
        ("notes.txt", {}, "'txt'"),
    ],
)
def test_audio_bad_input(data: Any, kwargs: dict[str, Any], needle: str) -> None:
    with pytest.raises(UsageError) as info:
        tracker.Audio(data, **kwargs)
    assert needle in str(info.value)


# ---------------------------------------------------------------------- video


@pytest.fixture
def _av() -> None:
    pytest.importorskip("av")


def _ramp(t: int, h: int, w: int) -> np.ndarray:
    """Frames ``TxHxWx3`` that differ per frame and per channel but are flat in space
    (so a lossy codec keeps them within a few levels)."""
    frames = np.empty((t, h, w, 3), np.uint8)
    for i in range(t):
        frames[i] = (20 + 15 * i, 200 - 10 * i, 90 + 5 * i)
    return frames


def _close(got: np.ndarray, want: np.ndarray, tol: float = 6.0) -> None:
    """Lossy video: the mean absolute error per frame stays within ``tol`` levels."""
    assert got.shape == want.shape
    err = np.abs(got.astype(np.int16) - want.astype(np.int16)).mean(axis=(1, 2, 3))
    assert err.max() <= tol, err


@pytest.mark.usefixtures("_av")
@pytest.mark.parametrize("layout", ["TCHW", "THWC"])
def test_video_frame_count_and_size(layout: str) -> None:
    import av

    want = _ramp(12, 24, 32)
    data = want.transpose(0, 3, 1, 2) if layout == "TCHW" else want
    video = tracker.Video(data, fps=6, caption="rollout")
    assert (video.frames, video.height, video.width, video.format) == (12, 24, 32, "mp4")
    run_dir, ref = _log_one(video)
    assert ref["_type"] == "video-file"
    assert ref["format"] == "mp4"
    assert ref["path"].endswith(".mp4")
    assert ref["caption"] == "rollout"
    assert (ref["frames"], ref["fps"], ref["width"], ref["height"]) == (12, 6, 32, 24)
    _close(media.read_video(run_dir, ref), want)
    with av.open(str(Path(run_dir, ref["path"]))) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert stream.codec_context.pix_fmt == "yuv420p"
        assert stream.frames == 12
        assert float(stream.duration * stream.time_base) == pytest.approx(2.0, abs=0.2)
    head = Path(run_dir, ref["path"]).read_bytes()[:4096]
    assert head.find(b"moov") < head.find(b"mdat") or b"mdat" not in head  # faststart


@pytest.mark.usefixtures("_av")
def test_video_webm() -> None:
    import av

    want = _ramp(8, 16, 16)
    run_dir, ref = _log_one(tracker.Video(want, fps=4, format="webm"))
    assert ref["format"] == "webm"
    assert ref["path"].endswith(".webm")
    assert ref["frames"] == 8
    _close(media.read_video(run_dir, ref), want)
    with av.open(str(Path(run_dir, ref["path"]))) as container:
        assert container.streams.video[0].codec_context.name in ("vp9", "vp8")


@pytest.mark.usefixtures("_av")
def test_video_odd_size_grey_float() -> None:
    data = np.empty((5, 1, 9, 11))
    for i in range(5):
        data[i] = 0.1 + 0.2 * i
    run_dir, ref = _log_one(tracker.Video(data, fps=10))
    assert (ref["frames"], ref["width"], ref["height"]) == (5, 11, 9)
    got = media.read_video(run_dir, ref)
    assert got.shape == (5, 10, 12, 3)  # padded to even sizes for yuv420p, edge repeated
    want = np.repeat(np.round(data.transpose(0, 2, 3, 1) * 255), 3, axis=3)
    _close(got[:, :9, :11], want.astype(np.uint8))


@pytest.mark.usefixtures("_av")
@pytest.mark.parametrize("fps", [0.5, 29.97, 1000])
def test_video_unusual_fps(fps: float) -> None:
    run_dir, ref = _log_one(tracker.Video(_ramp(3, 8, 8), fps=fps))
    assert ref["fps"] == fps
    assert media.read_video(run_dir, ref).shape == (3, 8, 8, 3)


@pytest.mark.usefixtures("_av")
@pytest.mark.parametrize("fmt", ["mp4", "webm"])
def test_video_starts_no_child_process(fmt: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """SPEC §3: the short git call is the only child process; video encodes in-process."""
    import os
    import subprocess

    run = tracker.init(project="media")
    # The writer's start-up capture (its one short git call) is done before the trap is set.
    assert run._writer.flush(30)
    assert run._writer.captured.wait(30)
    started: list[Any] = []

    def trap(*args: Any, **kwargs: Any) -> Any:
        started.append(args)
        raise AssertionError(f"a child process was started: {args!r}")

    monkeypatch.setattr(subprocess.Popen, "__init__", trap)
    for name in ("fork", "forkpty", "posix_spawn", "posix_spawnp", "system"):
        if hasattr(os, name):
            monkeypatch.setattr(os, name, trap)
    run.log({"v": tracker.Video(_ramp(6, 16, 16), fps=3, format=fmt)})
    run.finish()
    monkeypatch.undo()
    assert started == []
    (entry,) = media.media_entries(run.dir)["v"]
    assert entry.value["format"] == fmt
    assert media.read_video(run.dir, entry.value).shape == (6, 16, 16, 3)


def test_video_gif() -> None:
    pytest.importorskip("PIL")
    frames = np.zeros((4, 8, 8, 3), np.uint8)
    for i in range(4):
        frames[i] = i * 60
    run_dir, ref = _log_one(tracker.Video(frames, fps=4, format="gif"))
    assert ref["format"] == "gif"
    assert ref["frames"] == 4
    got = media.read_video(run_dir, ref)
    assert got.shape == (4, 8, 8, 3)
    assert [int(f[0, 0, 0]) for f in got] == [0, 60, 120, 180]


def test_video_falls_back_to_gif_without_av(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("PIL")
    import sys

    from tracker import _optional

    _optional._find.cache_clear()
    monkeypatch.setitem(sys.modules, "av", None)
    try:
        assert tracker.Video(np.zeros((2, 4, 4, 3), np.uint8)).format == "gif"
        for fmt in ("mp4", "webm"):
            with pytest.raises(MissingExtraError, match=r"av.*tracker\[media\]"):
                tracker.Video(np.zeros((2, 4, 4, 3), np.uint8), format=fmt)
    finally:
        _optional._find.cache_clear()


def test_video_file(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"\x00\x00\x00\x18ftypmp42 not really a video")
    run_dir, ref = _log_one(tracker.Video(path))
    assert ref["format"] == "mp4"
    assert Path(run_dir, ref["path"]).read_bytes() == path.read_bytes()
    if importlib.util.find_spec("av") is not None:
        with pytest.raises(StorageError, match="cannot decode video"):
            media.read_video(run_dir, ref)


@pytest.mark.usefixtures("_av")
def test_video_torch_tensor() -> None:
    torch = pytest.importorskip("torch")
    t = torch.randint(0, 256, (3, 3, 8, 8), dtype=torch.uint8)
    run_dir, ref = _log_one(tracker.Video(t, fps=3))
    assert ref["frames"] == 3
    assert media.read_video(run_dir, ref).shape == (3, 8, 8, 3)


@pytest.mark.parametrize(
    ("data", "kwargs", "needle"),
    [
        (np.zeros((3, 8, 8), np.uint8), {}, "(3, 8, 8)"),
        (np.zeros((3, 7, 8, 8), np.uint8), {}, "(7, 8, 8)"),
        (np.full((2, 3, 4, 4), 2.0), {}, "2"),
        (np.zeros((2, 3, 4, 4), np.uint8), {"fps": 0}, "fps"),
        (np.zeros((2, 3, 4, 4), np.uint8), {"format": "avi"}, "format"),
        (object(), {}, "cannot take"),
    ],
)
def test_video_bad_input(data: Any, kwargs: dict[str, Any], needle: str) -> None:
    with pytest.raises(UsageError) as info:
        tracker.Video(data, **kwargs)
    assert needle in str(info.value)


# ---------------------------------------------------------------------- html


def test_html_string_file_and_path(tmp_path: Path) -> None:
    text = "<h1>héllo</h1>"
    run_dir, ref = _log_one(tracker.Html(text))
    assert ref["_type"] == "html-file"
    assert media.read_html(run_dir, ref) == text
    path = tmp_path / "report.html"
    path.write_text("<p>from a file</p>", encoding="utf-8")
    run_dir, ref = _log_one(tracker.Html(str(path)))
    assert media.read_html(run_dir, ref) == "<p>from a file</p>"
    run_dir, ref = _log_one(tracker.Html(io.StringIO("<i>io</i>")))
    assert media.read_html(run_dir, ref) == "<i>io</i>"
    run_dir, ref = _log_one(tracker.Html(str(path), data_is_not_path=True))
    assert media.read_html(run_dir, ref) == str(path)


def test_html_bad_input() -> None:
    with pytest.raises(UsageError, match="Html"):
        tracker.Html(42)
