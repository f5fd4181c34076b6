"""tracker.Audio (identical samples), tracker.Video (frame count), tracker.Html."""

from __future__ import annotations

import io
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tracker
from tracker import media
from tracker.errors import MissingExtraError, UsageError


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
def _ffmpeg() -> None:
    pytest.importorskip("imageio_ffmpeg")


@pytest.mark.usefixtures("_ffmpeg")
@pytest.mark.parametrize("layout", ["TCHW", "THWC"])
def test_video_frame_count_and_size(layout: str) -> None:
    frames = RNG.integers(0, 256, (12, 3, 24, 32), dtype=np.uint8)
    data = frames if layout == "TCHW" else frames.transpose(0, 2, 3, 1)
    video = tracker.Video(data, fps=6, caption="rollout")
    assert (video.frames, video.height, video.width, video.format) == (12, 24, 32, "mp4")
    run_dir, ref = _log_one(video)
    assert ref["_type"] == "video-file"
    assert ref["format"] == "mp4"
    assert ref["path"].endswith(".mp4")
    assert (ref["frames"], ref["fps"], ref["width"], ref["height"]) == (12, 6, 32, 24)
    got = media.read_video(run_dir, ref)
    assert got.shape == (12, 24, 32, 3)
    from imageio_ffmpeg import count_frames_and_secs

    nframes, secs = count_frames_and_secs(str(Path(run_dir, ref["path"])))
    assert nframes == 12
    assert secs == pytest.approx(2.0, abs=0.2)


@pytest.mark.usefixtures("_ffmpeg")
def test_video_odd_size_grey_float() -> None:
    data = RNG.random((5, 1, 9, 11))
    run_dir, ref = _log_one(tracker.Video(data, fps=10))
    assert media.read_video(run_dir, ref).shape[0] == 5


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


def test_video_falls_back_to_gif_without_imageio_ffmpeg(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("PIL")
    import sys

    from tracker import _optional

    _optional._find.cache_clear()
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)
    try:
        assert tracker.Video(np.zeros((2, 4, 4, 3), np.uint8)).format == "gif"
        with pytest.raises(MissingExtraError, match=r"tracker\[media\]"):
            tracker.Video(np.zeros((2, 4, 4, 3), np.uint8), format="mp4")
    finally:
        _optional._find.cache_clear()


def test_video_file(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"\x00\x00\x00\x18ftypmp42 not really a video")
    run_dir, ref = _log_one(tracker.Video(path))
    assert ref["format"] == "mp4"
    assert Path(run_dir, ref["path"]).read_bytes() == path.read_bytes()


@pytest.mark.usefixtures("_ffmpeg")
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
