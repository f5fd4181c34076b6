"""tracker.Image: every input kind, read back pixel for pixel; masks, boxes; bad input."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tracker
from tracker import media
from tracker.errors import UsageError


def _log_one(value: Any, key: str = "img") -> tuple[str, Any]:
    """Log ``value`` in a fresh run, finish it; return (run dir, the stored reference)."""
    run = tracker.init(project="media")
    run.log({key: value})
    run.finish()
    (entry,) = media.media_entries(run.dir)[key]
    return run.dir, entry.value


def _pixels(value: Any) -> np.ndarray:
    run_dir, ref = _log_one(value)
    assert ref["_type"] == "image-file"
    assert Path(run_dir, ref["path"]).is_file()
    return np.asarray(media.read_image(run_dir, ref))


@pytest.fixture(autouse=True)
def _need_pil() -> None:
    pytest.importorskip("PIL")  # reading PNGs back; writing them needs no Pillow


RNG = np.random.default_rng(4)


# ---------------------------------------------------------------------- numpy


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_uint8_hwc_round_trips_exactly(channels: int) -> None:
    a = RNG.integers(0, 256, (17, 23, channels), dtype=np.uint8)
    got = _pixels(tracker.Image(a))
    assert np.array_equal(got, a[:, :, 0] if channels == 1 else a)


def test_uint8_hw_grey() -> None:
    a = RNG.integers(0, 256, (9, 31), dtype=np.uint8)
    assert np.array_equal(_pixels(tracker.Image(a)), a)


def test_chw_is_transposed_to_hwc() -> None:
    a = RNG.integers(0, 256, (3, 12, 20), dtype=np.uint8)
    img = tracker.Image(a)
    assert (img.width, img.height) == (20, 12)
    assert np.array_equal(_pixels(img), a.transpose(1, 2, 0))


def test_float_in_unit_range_is_scaled_and_rounded() -> None:
    a = RNG.random((8, 8, 3))
    a[0, 0] = [0.0, 1.0, 0.5]
    assert np.array_equal(_pixels(tracker.Image(a)), np.rint(a * 255).astype(np.uint8))


def test_float_0_255_with_normalize_false() -> None:
    a = RNG.integers(0, 256, (5, 6, 3)).astype(np.float32)
    assert np.array_equal(_pixels(tracker.Image(a, normalize=False)), a.astype(np.uint8))


def test_uint16_grey_is_stored_16_bit() -> None:
    a = RNG.integers(0, 65536, (10, 11), dtype=np.uint16)
    assert np.array_equal(_pixels(tracker.Image(a)).astype(np.uint16), a)


def test_bool_and_small_ints() -> None:
    mask = RNG.random((6, 7)) > 0.5
    assert np.array_equal(_pixels(tracker.Image(mask)), mask.astype(np.uint8) * 255)
    ints = RNG.integers(0, 256, (6, 7, 3)).astype(np.int64)
    assert np.array_equal(_pixels(tracker.Image(ints)), ints.astype(np.uint8))


def test_reference_fields_and_caption() -> None:
    a = RNG.integers(0, 256, (4, 5, 3), dtype=np.uint8)
    run_dir, ref = _log_one(tracker.Image(a, caption="a cat"))
    assert ref["width"] == 5
    assert ref["height"] == 4
    assert ref["format"] == "png"
    assert ref["caption"] == "a cat"
    data = Path(run_dir, ref["path"]).read_bytes()
    import hashlib

    assert ref["sha256"] == hashlib.sha256(data).hexdigest()
    assert ref["size"] == len(data)
    assert ref["path"] == f"media/image/{ref['sha256']}.png"


def test_snapshot_mutating_the_array_after_log_changes_nothing() -> None:
    a = np.zeros((8, 8, 3), np.uint8)
    run = tracker.init(project="media")
    run.log({"img": tracker.Image(a)})
    a[:] = 255  # in place, right after log(), before the writer encodes
    run.log({"img": tracker.Image(a)})
    run.finish()
    first, second = media.media_entries(run.dir)["img"]
    assert (media.read_image(run.dir, first.value) == 0).all()
    assert (media.read_image(run.dir, second.value) == 255).all()


def test_identical_images_are_written_once() -> None:
    a = RNG.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    run = tracker.init(project="media")
    for _ in range(3):
        run.log({"img": tracker.Image(a)})
    run.finish()
    refs = [e.value for e in media.media_entries(run.dir)["img"]]
    assert len({r["path"] for r in refs}) == 1
    assert len(list(Path(run.dir, "media", "image").iterdir())) == 1


def test_list_of_images_under_one_key_and_steps() -> None:
    run = tracker.init(project="media")
    for step in range(3):
        imgs = [tracker.Image(np.full((4, 4), step * 10 + i, np.uint8)) for i in range(2)]
        run.log({"examples": imgs, "loss": 1.0 / (step + 1)})
    run.finish()
    entries = media.media_entries(run.dir)["examples"]
    assert media.media_steps(entries) == [0, 1, 2]
    for entry in entries:
        assert len(entry.refs) == 2
        for i, ref in enumerate(entry.refs):
            assert (media.read_image(run.dir, ref) == entry.step * 10 + i).all()


def test_image_in_summary() -> None:
    a = RNG.integers(0, 256, (6, 6, 3), dtype=np.uint8)
    run = tracker.init(project="media")
    run.summary["best"] = tracker.Image(a, caption="best")
    assert run.summary["best"]["_type"] == "image-file"
    run.finish()
    ref = media.summary_media(run.dir)["best"]
    assert ref["caption"] == "best"
    assert np.array_equal(media.read_image(run.dir, ref), a)


def test_last_logged_image_is_the_summary_value() -> None:
    run = tracker.init(project="media")
    run.log({"img": tracker.Image(np.zeros((3, 3), np.uint8))})
    run.log({"img": tracker.Image(np.ones((3, 3), np.uint8))})
    ref = run.summary["img"]
    run.finish()
    assert (media.read_image(run.dir, ref) == 1).all()
    assert media.summary_media(run.dir)["img"] == ref


# ---------------------------------------------------------------------- other inputs


def test_pil_image() -> None:
    from PIL import Image as PILImage

    a = RNG.integers(0, 256, (10, 12, 3), dtype=np.uint8)
    pil = PILImage.fromarray(a)
    img = tracker.Image(pil)
    pil.paste((0, 0, 0), (0, 0, 12, 10))  # the snapshot was taken at construction
    assert np.array_equal(_pixels(img), a)
    rgba = PILImage.fromarray(RNG.integers(0, 256, (5, 5, 4), dtype=np.uint8))
    assert np.array_equal(_pixels(tracker.Image(rgba, mode="RGB")), np.asarray(rgba.convert("RGB")))


def test_file_path_bytes_are_kept(tmp_path: Path) -> None:
    from PIL import Image as PILImage

    a = RNG.integers(0, 256, (7, 9, 3), dtype=np.uint8)
    path = tmp_path / "x.png"
    PILImage.fromarray(a).save(path)
    img = tracker.Image(str(path), caption="from disk")
    path.write_bytes(b"overwritten after construction")
    run_dir, ref = _log_one(img)
    assert (ref["width"], ref["height"]) == (9, 7)
    assert np.array_equal(media.read_image(run_dir, ref), a)


def test_jpeg_file_and_jpg_file_type(tmp_path: Path) -> None:
    from PIL import Image as PILImage

    a = RNG.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    path = tmp_path / "x.jpg"
    PILImage.fromarray(a).save(path, quality=90)
    run_dir, ref = _log_one(tracker.Image(path))
    assert ref["format"] == "jpg"
    assert (ref["width"], ref["height"]) == (16, 16)
    assert Path(run_dir, ref["path"]).read_bytes() == path.read_bytes()
    run_dir, ref = _log_one(tracker.Image(a, file_type="jpg"))
    assert ref["path"].endswith(".jpg")
    assert media.read_image(run_dir, ref).shape == (16, 16, 3)


class _FakeFigure:
    """Stands in for ``matplotlib.figure.Figure`` (matplotlib is not a test dependency)."""

    __module__ = "matplotlib.figure"

    def __init__(self, pixels: np.ndarray) -> None:
        self.pixels = pixels
        self.formats: list[str] = []

    def savefig(self, fname: Any, format: str) -> None:
        from PIL import Image as PILImage

        self.formats.append(format)
        PILImage.fromarray(self.pixels).save(fname, format=format)


def test_matplotlib_figure_is_rendered_at_construction() -> None:
    a = RNG.integers(0, 256, (15, 20, 4), dtype=np.uint8)
    fig = _FakeFigure(a)
    img = tracker.Image(fig, caption="plot")
    assert fig.formats == ["png"]
    assert (img.width, img.height) == (20, 15)
    fig.pixels = np.zeros_like(a)  # drawn on afterwards: not stored
    assert np.array_equal(_pixels(img), a)


def test_matplotlib_pyplot_module_means_its_current_figure() -> None:
    import types

    a = RNG.integers(0, 256, (4, 6, 3), dtype=np.uint8)
    pyplot = types.ModuleType("matplotlib.pyplot")
    pyplot.gcf = lambda: _FakeFigure(a)  # type: ignore[attr-defined]
    assert np.array_equal(_pixels(tracker.Image(pyplot)), a)


def test_torch_cpu_tensor_chw() -> None:
    torch = pytest.importorskip("torch")
    t = torch.randint(0, 256, (3, 10, 14), dtype=torch.uint8)
    img = tracker.Image(t)
    want = t.permute(1, 2, 0).numpy().copy()
    t.zero_()  # in place after construction: not stored
    assert np.array_equal(_pixels(img), want)
    f = torch.rand(1, 5, 6)
    assert np.array_equal(
        _pixels(tracker.Image(f)), np.rint(f[0].numpy().astype(np.float64) * 255).astype(np.uint8)
    )


# Read at collection: the autouse isolation fixture clears every TRACKER_* variable.
GPU_OPTED_IN = os.environ.get("TRACKER_TEST_GPU") == "1"


@pytest.mark.gpu
def test_torch_cuda_tensor_is_cloned_on_device() -> None:
    if not GPU_OPTED_IN:
        pytest.skip("set TRACKER_TEST_GPU=1 to run GPU tests")
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    t = torch.rand(3, 8, 8, device="cuda")
    img = tracker.Image(t)
    assert img._pixels.device.type == "cuda"  # no host copy in the caller
    want = np.rint(t.permute(1, 2, 0).cpu().numpy().astype(np.float64) * 255).astype(np.uint8)
    t.zero_()
    assert np.array_equal(_pixels(img), want)


# ---------------------------------------------------------------------- masks and boxes


def test_masks_are_stored_as_png_with_class_labels() -> None:
    a = RNG.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    mask = RNG.integers(0, 3, (6, 8))
    img = tracker.Image(a, masks={"pred": {"mask_data": mask, "class_labels": {0: "bg", 1: "cat", 2: "dog"}}})
    mask[:] = 0
    run_dir, ref = _log_one(img)
    m = ref["masks"]["pred"]
    assert m["class_labels"] == {"0": "bg", "1": "cat", "2": "dog"}
    stored = media.read_image(run_dir, m)
    assert stored.shape == (6, 8)
    assert stored.max() <= 2
    assert stored.any()


def test_boxes_are_stored_inline() -> None:
    boxes = {
        "truth": {
            "box_data": [
                {"position": {"minX": 0.1, "maxX": 0.5, "minY": 0.2, "maxY": 0.6}, "class_id": 1,
                 "box_caption": "cat", "scores": {"iou": np.float32(0.5)}},
                {"position": {"middle": [3, 4], "width": 2, "height": 2}, "domain": "pixel", "class_id": 0},
            ],
            "class_labels": {0: "bg", 1: "cat"},
        }
    }  # fmt: skip
    _run_dir, ref = _log_one(tracker.Image(np.zeros((8, 8), np.uint8), boxes=boxes))
    data = ref["boxes"]["truth"]["box_data"]
    assert data[0]["class_id"] == 1
    assert data[0]["scores"] == {"iou": 0.5}
    assert data[1]["position"] == {"middle": [3.0, 4.0], "width": 2.0, "height": 2.0}
    assert ref["boxes"]["truth"]["class_labels"] == {"0": "bg", "1": "cat"}


# ---------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (np.zeros((4,), np.uint8), "(4,)"),
        (np.zeros((2, 3, 4, 5), np.uint8), "(2, 3, 4, 5)"),
        (np.zeros((5, 6, 7), np.uint8), "(5, 6, 7)"),
        (np.zeros((0, 4), np.uint8), "(0, 4)"),
        (np.full((2, 2), 1.5), "1.5"),
        (np.full((2, 2), np.nan), "nan"),
        (np.full((2, 2), 300), "300"),
        (np.zeros((2, 2), np.complex64), "complex64"),
        (np.array([["a"]]), "<U1"),
    ],
)
def test_bad_arrays_raise_usage_error_naming_shape_or_value(data: Any, needle: str) -> None:
    with pytest.raises(UsageError, match="Image") as info:
        tracker.Image(data)
    assert needle in str(info.value)


def test_bad_inputs() -> None:
    with pytest.raises(UsageError, match="no such file"):
        tracker.Image("/nonexistent/x.png")
    with pytest.raises(UsageError, match="cannot take"):
        tracker.Image(object())
    with pytest.raises(UsageError, match="caption"):
        tracker.Image(np.zeros((2, 2), np.uint8), caption=3)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="mode"):
        tracker.Image(np.zeros((2, 2, 3), np.uint8), mode="L")
    with pytest.raises(UsageError, match="file_type"):
        tracker.Image(np.zeros((2, 2), np.uint8), file_type="bmp")


def test_mask_errors_name_the_shape_or_class_index() -> None:
    a = np.zeros((4, 5), np.uint8)
    with pytest.raises(UsageError, match=r"\(4, 4\).*4x5"):
        tracker.Image(a, masks={"m": {"mask_data": np.zeros((4, 4), int)}})
    bad = np.zeros((4, 5), int)
    bad[1, 1] = 7
    with pytest.raises(UsageError, match="unknown class index 7"):
        tracker.Image(a, masks={"m": {"mask_data": bad, "class_labels": {0: "bg", 1: "x"}}})
    with pytest.raises(UsageError, match="mask_data"):
        tracker.Image(a, masks={"m": {"path": "x.png"}})
    with pytest.raises(UsageError, match="float"):
        tracker.Image(a, masks={"m": {"mask_data": np.zeros((4, 5))}})


def test_box_errors_name_the_class_index() -> None:
    a = np.zeros((4, 5), np.uint8)
    box = {"position": {"minX": 0, "maxX": 1, "minY": 0, "maxY": 1}, "class_id": 3}
    with pytest.raises(UsageError, match="unknown class index 3"):
        tracker.Image(a, boxes={"b": {"box_data": [box], "class_labels": {0: "a"}}})
    with pytest.raises(UsageError, match="position"):
        tracker.Image(a, boxes={"b": {"box_data": [{"position": {"x": 1}}]}})
    with pytest.raises(UsageError, match="finite"):
        tracker.Image(a, boxes={"b": {"box_data": [{"position": {**box["position"], "minX": float("nan")}}]}})


def test_bad_input_loses_nothing_already_logged() -> None:
    run = tracker.init(project="media")
    run.log({"img": tracker.Image(np.ones((2, 2), np.uint8))})
    with pytest.raises(UsageError):
        run.log({"img": tracker.Image(np.zeros((2, 2, 2, 2), np.uint8))})
    run.log({"loss": 0.5})
    run.finish()
    (entry,) = media.media_entries(run.dir)["img"]
    assert (media.read_image(run.dir, entry.value) == 1).all()
    assert run.step == 2
