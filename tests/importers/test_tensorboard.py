"""The TensorBoard reader against logdirs written by tf.summary, tensorboardX and torch.

The logdirs under ``fixtures/tensorboard/`` were made by the real tools with the scripts next
to them; values are recomputed from those scripts' functions, and wall times, histogram
buckets and image bytes are compared with what TensorBoard's own reader (its
``EventAccumulator``, told to keep everything) returns for the same files.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any
from unittest.mock import patch

import pytest

if os.environ.get("TRACKER_IMPORT_TESTS") == "1":
    import tensorboard  # noqa: F401 - the import venv of CI: a missing extra is a failure there
else:
    pytest.importorskip("tensorboard", reason="the [import] extra is not installed")

import numpy as np

from tracker.errors import MissingExtraError, UsageError
from tracker.importers import _tensorboard
from tracker.importers._model import ImportedRun

FIXTURES = Path(__file__).parent / "fixtures" / "tensorboard"


def _script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"_fixture_{name}", FIXTURES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _read(logdir: Path) -> dict[str, tuple[ImportedRun, list[dict[str, Any]]]]:
    out = {}
    for run in _tensorboard.read(logdir):
        out[run.name or ""] = (run, list(run.rows()))  # rows first: config etc. fill in then
    return out


def _tensors(run_dir: Path) -> dict[str, list[Any]]:
    """TensorBoard's own reading of a run directory, nothing sampled away: tag -> events."""
    from tensorboard.backend.event_processing import plugin_event_accumulator as pea

    acc = pea.EventAccumulator(str(run_dir), size_guidance={pea.TENSORS: 0})
    acc.Reload()
    return {tag: acc.Tensors(tag) for tag in acc.Tags()["tensors"]}


def _column(rows: list[dict[str, Any]], key: str) -> dict[int, Any]:
    return {r["_step"]: r[key] for r in rows if key in r}


def _f32(x: float) -> float:
    return float(np.float32(x))


def _png_pixels(image: Any) -> Any:
    from PIL import Image as PILImage

    raw, ext = image._file
    assert ext == "png"
    return np.asarray(PILImage.open(io.BytesIO(raw)))


def _histogram_of(event: Any) -> tuple[list[float], list[float]]:
    from tensorboard.util import tensor_util

    buckets = tensor_util.make_ndarray(event.tensor_proto)
    return [float(b[0]) for b in buckets] + [float(buckets[-1][1])], [float(b[2]) for b in buckets]


def test_tf_summary_logdir_every_scalar_step_and_wall_time() -> None:
    script = _script("make_tf_summary")
    logdir = FIXTURES / "tf_summary"
    runs = _read(logdir)
    assert sorted(runs) == ["eval/clean", "train"]
    train, rows = runs["train"]
    assert (train.source, train.source_key, train.project) == ("tensorboard", "train", "tf_summary")
    plan = script.plan()["train"]
    # every one of the 10,500 scalars per tag (TensorBoard's default keeps 10,000)
    assert [r["_step"] for r in rows] == plan["loss"]
    assert _column(rows, "loss") == {s: _f32(script.loss(s)) for s in plan["loss"]}
    assert _column(rows, "lr") == {s: _f32(script.lr(s)) for s in plan["lr"]}
    evaluation, eval_rows = runs["eval/clean"]
    assert _column(eval_rows, "acc") == {s: _f32(script.acc(s)) for s in script.plan()["eval/clean"]["acc"]}
    # wall times: the latest of the row's events, as TensorBoard read them
    for run_rel, got in (("train", rows), ("eval/clean", eval_rows)):
        latest: dict[int, float] = {}
        for events in _tensors(logdir / run_rel).values():
            for e in events:
                latest[e.step] = max(latest.get(e.step, 0.0), e.wall_time)
        assert {r["_step"]: r["_timestamp"] for r in got} == latest
    window = json.loads((FIXTURES / "tf_summary.window.json").read_text())
    assert window["start"] - 1 <= train.created <= rows[0]["_timestamp"]
    assert train.ended == rows[-1]["_timestamp"] <= window["end"]
    assert train.problems == []
    assert evaluation.problems == []


def test_tf_summary_histograms_images_text_and_hparams() -> None:
    script = _script("make_tf_summary")
    logdir = FIXTURES / "tf_summary"
    train, rows = _read(logdir)["train"]
    oracle = _tensors(logdir / "train")
    hists = _column(rows, "weights")
    assert sorted(hists) == script.plan()["train"]["weights"]
    for event in oracle["weights"]:
        edges, counts = _histogram_of(event)
        assert (hists[event.step].bins, hists[event.step].histogram) == (edges, counts)
        assert sum(hists[event.step].histogram) == 500
    images = _column(rows, "samples")
    assert sorted(images) == [0, 10_000]
    for step, pair in images.items():
        assert len(pair) == 2
        for k, image in enumerate(pair):
            assert (image.width, image.height) == (6, 8)
            np.testing.assert_array_equal(_png_pixels(image), script.pixels(step, k))
    assert _column(rows, "note") == {0: "first **run** of the fixture"}
    assert train.config == script.HPARAMS


def test_tensorboardx_logdir_values_wall_times_and_runs() -> None:
    script = _script("make_tensorboardx")
    runs = _read(FIXTURES / "tensorboardx")
    assert sorted(runs) == ["run_a", "run_a/hp", "torch/seed-0"]
    run, rows = runs["run_a"]
    assert [r["_step"] for r in rows] == list(range(script.STEPS))
    assert all(r["_timestamp"] == script.walltime(r["_step"]) for r in rows)
    assert _column(rows, "train/loss") == {s: _f32(script.loss(s)) for s in range(script.STEPS)}
    assert _column(rows, "train/acc") == {s: _f32(script.acc(s)) for s in range(0, script.STEPS, 50)}
    assert _column(rows, "notes") == {0: "tensorboardX run"}  # add_text's "/text_summary" dropped
    assert (run.created, run.ended) == (script.walltime(0), script.walltime(script.STEPS - 1))
    hp, hp_rows = runs["run_a/hp"]  # add_hparams writes a run of its own, as TensorBoard shows
    assert hp.config == script.HPARAMS
    assert [{k: v for k, v in r.items() if k != "_timestamp"} for r in hp_rows] == [
        {"_step": 0, "hp/best_acc": _f32(0.875)}
    ]
    torch_run, torch_rows = runs["torch/seed-0"]
    assert _column(torch_rows, "val/loss") == {s: _f32(script.loss(s)) for s in range(0, 300, 3)}
    assert _column(torch_rows, "val/acc") == {s: _f32(script.acc(s)) for s in range(0, 300, 3)}
    np.testing.assert_array_equal(
        _png_pixels(_column(torch_rows, "input")[7]), script.picture(7).transpose(1, 2, 0)
    )
    assert torch_run.problems == ["audio has no tracker mapping, not imported: sound (1)"]


def test_tensorboardx_histograms_keep_stored_buckets_and_images_their_bytes() -> None:
    script = _script("make_tensorboardx")
    run, rows = _read(FIXTURES / "tensorboardx")["run_a"]
    oracle = _tensors(FIXTURES / "tensorboardx" / "run_a")
    bias = _column(rows, "fc.bias")
    for event in oracle["fc.bias"]:  # kept as stored (TensorBoard's own copy is float32)
        edges, counts = _histogram_of(event)
        assert [_f32(e) for e in bias[event.step].bins] == edges
        assert bias[event.step].histogram == counts
        assert sum(counts) == 64
    weight = _column(rows, "fc.weight")
    for event in oracle["fc.weight"]:  # ~560 buckets: merged two by two, counts kept
        edges, counts = _histogram_of(event)
        got = weight[event.step]
        assert len(got.histogram) <= 512
        assert sum(got.histogram) == sum(counts) == 400
        assert len(counts) > 512
        assert _f32(got.bins[0]) == edges[0]
        assert _f32(got.bins[-1]) == edges[-1]
        assert {_f32(e) for e in got.bins} <= set(edges)
    assert any("fc.weight: histograms of up to" in p for p in run.problems)
    inputs = _column(rows, "input")
    assert sorted(inputs) == [0, 10_000]
    for step, image in inputs.items():
        np.testing.assert_array_equal(_png_pixels(image), script.picture(step).transpose(1, 2, 0))
    (batch,) = _column(rows, "batch").values()  # add_images: one grid image, bytes as stored
    (stored,) = oracle["batch"]
    assert batch._file[0] == stored.tensor_proto.string_val[2]


def test_missing_extra_names_the_pip_command(tmp_path: Path) -> None:
    with patch.dict(sys.modules, {"tensorboard": None}):
        with pytest.raises(MissingExtraError, match=r"pip install 'tracker\[import\]'"):
            next(_tensorboard.read(tmp_path))


def test_a_path_without_event_files_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not a directory"):
        next(_tensorboard.read(tmp_path / "missing"))
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    with pytest.raises(UsageError, match="holds no event files"):
        next(_tensorboard.read(tmp_path / "empty"))


def _stored(value: Any) -> Any:
    """What the tracker run's history holds for a value the reader yielded."""
    if isinstance(value, list):
        return [_stored(v) for v in value]
    if type(value).__name__ == "Histogram":
        return {"_type": "histogram", "values": value.histogram, "bins": value.bins}
    if type(value).__name__ == "Image":
        return ("image", value._file[0])
    return value


@pytest.mark.parametrize("logdir", ["tf_summary", "tensorboardx"])
def test_cli_import_then_api_reads_back_the_same_and_reimport_adds_nothing(
    root: Path, capsys: pytest.CaptureFixture[str], logdir: str
) -> None:
    import tracker
    from tracker._naming import run_dir_for
    from tracker.cli import main

    direct = _read(FIXTURES / logdir)
    assert main(["import", "tensorboard", str(FIXTURES / logdir)]) == 0
    first = capsys.readouterr().out
    assert f"imported {len(direct)} run(s)" in first
    runs = {r.name: r for r in tracker.Api().runs(logdir)}
    assert sorted(runs) == sorted(direct)
    for name, (imported, rows) in direct.items():
        run = runs[name]
        assert (run.state, run.config) == ("finished", imported.config)
        run_dir = run_dir_for(root, logdir, run.id)

        def media(value: Any, run_dir: Path = run_dir) -> Any:
            if isinstance(value, list):
                return [media(v) for v in value]
            if isinstance(value, dict) and value.get("_type") == "image-file":
                return ("image", (run_dir / value["path"]).read_bytes())
            return value

        got = [{k: media(v) for k, v in r.items() if k != "_runtime"} for r in run.scan_history()]
        assert got == [{k: _stored(v) for k, v in r.items()} for r in rows]
    assert main(["import", "tensorboard", str(FIXTURES / logdir)]) == 0
    assert (
        f"imported 0 run(s), 0 row(s), 0 file(s), 0 artifact version(s); {len(direct)} already imported"
        in (capsys.readouterr().out)
    )
    assert len(tracker.Api().runs(logdir)) == len(direct)


def test_root_run_repeated_steps_and_a_torn_tail(tmp_path: Path) -> None:
    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.compat.proto.summary_pb2 import Summary
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    logdir = tmp_path / "exp"
    w = EventFileWriter(str(logdir))  # tensorboard's own writer; events in LOGDIR itself: the run "."
    for i, step in enumerate((0, 1, 2, 1)):  # a restart logs step 1 again
        value = Summary.Value(tag="loss", simple_value=step + 0.5 + (10 if i == 3 else 0))
        w.add_event(Event(wall_time=100.0 + i, step=step, summary=Summary(value=[value])))
    w.close()
    (event_file,) = logdir.iterdir()
    with event_file.open("ab") as f:
        f.write(b"\x10\x00\x00")  # a record cut short, as a writer killed mid-write leaves
    (run,) = _tensorboard.read(logdir, project="mine")
    rows = list(run.rows())
    assert (run.name, run.source_key, run.project) == ("exp", ".", "mine")
    assert rows == [
        {"_step": 0, "_timestamp": 100.0, "loss": 0.5},
        {"_step": 1, "_timestamp": 103.0, "loss": 11.5},  # the later value of step 1 is kept
        {"_step": 2, "_timestamp": 102.0, "loss": 2.5},
    ]
    assert run.problems == ["loss: 1 value(s) written again at a step already seen; the last one is kept"]


def test_text_tensors_of_rank_1_and_2_and_a_graph(tmp_path: Path) -> None:
    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.compat.proto.summary_pb2 import Summary, SummaryMetadata
    from tensorboard.summary.writer.event_file_writer import EventFileWriter
    from tensorboard.util import tensor_util

    text = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name="text"))
    w = EventFileWriter(str(tmp_path / "run"))
    for step, array in ((0, np.array(["one", "two"])), (1, np.array([["a", "b"], ["c", "d"]]))):
        value = Summary.Value(tag="notes", metadata=text, tensor=tensor_util.make_tensor_proto(array))
        w.add_event(Event(wall_time=5.0, step=step, summary=Summary(value=[value])))
    w.add_event(Event(wall_time=6.0, graph_def=b"\x0a\x00"))
    w.close()
    (run,) = _tensorboard.read(tmp_path)
    rows = list(run.rows())
    assert rows[0] == {"_step": 0, "_timestamp": 5.0, "notes": ["one", "two"]}
    table = rows[1]["notes"]
    assert (table.columns, table.data) == (["0", "1"], [["a", "b"], ["c", "d"]])
    assert run.problems == ["graph has no tracker mapping, not imported: graph_def (1)"]
