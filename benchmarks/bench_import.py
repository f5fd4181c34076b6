"""bench_import: ``tracker import`` against each source tool's own reader (issue 20).

For each source, one run of ``--steps`` steps x ``--keys`` keys (100k x 20 by default) is
made by the real tool, cached under ``$TMPDIR/tracker-bench-import/`` (making it takes
minutes; later runs reuse it):

* W&B: an offline run logged by ``wandb`` (``wandb.init(mode="offline")``);
* TensorBoard: a logdir written by tensorboardX's ``SummaryWriter.add_scalar``;
* MLflow: a run in an sqlite store (``sqlite:///mlflow.db``), logged with ``log_batch``.

Then, side by side in this process, each source's own reader just reading everything
(the baseline) and tracker's importer reading it and writing the tracker run into a fresh
data root (median of ``--repeat``):

* W&B: ``wandb.sdk.internal.datastore.DataStore`` scanning the ``.wandb`` file,
  ``wandb_internal_pb2.Record.ParseFromString`` on every record, and each history item's
  key and ``json.loads`` of its value (the history as W&B's reader gives it); the parse
  alone (what ``wandb sync`` reads before uploading) is printed too, as ``wandb-parse``;
* TensorBoard: ``EventAccumulator`` told to keep every scalar (``size_guidance`` 0),
  ``Reload()`` and ``Scalars(tag)`` for every tag;
* MLflow: ``MlflowClient.get_metric_history`` for every metric of the run.

Target: the import takes at most 2x the baseline. Needs the ``[import]`` extra and
tensorboardX (to write the logdir).

Usage::

    python benchmarks/bench_import.py            # 100k steps x 20 keys
    python benchmarks/bench_import.py --smoke    # 5k x 20; exit 1 when a ratio is above 3x the target
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

TARGET = 2.0
T0 = 1_700_000_000.0

_MAKE_WANDB = """
import os, sys
os.environ["WANDB_SILENT"] = "true"
import wandb
out, steps, keys = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
settings = wandb.Settings(x_disable_stats=True, console="off")
run = wandb.init(project="bench", mode="offline", dir=out, settings=settings)
names = [f"key{k}" for k in range(keys)]
for step in range(steps):
    run.log({name: step * 0.001 + k for k, name in enumerate(names)}, step=step)
run.finish()
"""

_MAKE_TB = """
import sys
from tensorboardX import SummaryWriter
out, steps, keys = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
writer = SummaryWriter(out + "/run")
for step in range(steps):
    for k in range(keys):
        writer.add_scalar(f"key{k}", step * 0.001 + k, step, walltime=1_700_000_000.0 + step)
writer.close()
"""

_MAKE_MLFLOW = """
import sys
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient
out, steps, keys = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
client = MlflowClient(tracking_uri=f"sqlite:///{out}/mlflow.db")
exp = client.create_experiment("bench")
run = client.create_run(exp)
batch = []
for step in range(steps):
    for k in range(keys):
        batch.append(Metric(f"key{k}", step * 0.001 + k, 1_700_000_000_000 + step, step))
        if len(batch) == 1000:
            client.log_batch(run.info.run_id, metrics=batch)
            batch = []
if batch:
    client.log_batch(run.info.run_id, metrics=batch)
client.set_terminated(run.info.run_id)
"""


def _made(folder: Path, script: str, steps: int, keys: int) -> Path:
    """Make one source's data with the real tool, once (a ``.done`` file marks it whole)."""
    if (folder / ".done").is_file():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    began = time.perf_counter()
    subprocess.run([sys.executable, "-c", script, str(folder), str(steps), str(keys)], check=True)
    (folder / ".done").write_text(f"{time.perf_counter() - began:.1f} s\n")
    return folder


# --------------------------------------------------------------------------- baselines
def wandb_reader(folder: Path, decode: bool = True) -> int:
    """Scan and parse every record; with ``decode``, each history item's key and JSON value too."""
    from wandb.proto.wandb_internal_pb2 import Record
    from wandb.sdk.internal.datastore import DataStore

    (log,) = folder.glob("wandb/offline-run-*/run-*.wandb")
    ds = DataStore()
    ds.open_for_scan(str(log))
    n = 0
    loads = json.loads
    while (data := ds.scan_data()) is not None:
        rec = Record()
        rec.ParseFromString(data)
        if rec.WhichOneof("record_type") == "history":
            n += 1
            if decode:
                {".".join(i.nested_key) or i.key: loads(i.value_json) for i in rec.history.item}
    ds.close()
    return n


def tensorboard_reader(folder: Path) -> int:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(folder / "run"), size_guidance={"scalars": 0})
    acc.Reload()
    return sum(len(acc.Scalars(tag)) for tag in acc.Tags()["scalars"])


def mlflow_reader(folder: Path) -> int:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{folder}/mlflow.db")
    exp = client.get_experiment_by_name("bench")
    n = 0
    for run in client.search_runs([exp.experiment_id]):
        for key in run.data.metrics:
            n += len(client.get_metric_history(run.info.run_id, key))
    return n


# --------------------------------------------------------------------------- importers
def _import(runs: Any, scratch: Path) -> int:
    from tracker.importers._sink import import_runs

    root = scratch / "root"
    shutil.rmtree(root, ignore_errors=True)
    report = import_runs(runs, root)
    assert not report.failed, report.problems
    return report.rows


def wandb_import(folder: Path, scratch: Path) -> int:
    from tracker.importers import _wandb

    return _import(_wandb.read([folder / "wandb"]), scratch)


def tensorboard_import(folder: Path, scratch: Path) -> int:
    from tracker.importers import _tensorboard

    return _import(_tensorboard.read(folder), scratch)


def mlflow_import(folder: Path, scratch: Path) -> int:
    from tracker.importers import _mlflow

    return _import(_mlflow.read(f"sqlite:///{folder}/mlflow.db", "bench"), scratch)


def _median(fn: Callable[[], int], repeat: int) -> tuple[float, int]:
    times = []
    n = 0
    for _ in range(repeat):
        began = time.perf_counter()
        n = fn()
        times.append(time.perf_counter() - began)
    return statistics.median(times), n


def main() -> int:
    """Make the data (cached), time each baseline and import; return 1 when a ratio misses."""
    parser = argparse.ArgumentParser(prog="bench_import.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="5k steps; fail at 3x the target")
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--keys", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=None)
    parser.add_argument("--only", choices=["wandb", "tensorboard", "mlflow"], action="append")
    args = parser.parse_args()
    steps = args.steps or (5_000 if args.smoke else 100_000)
    repeat = args.repeat or (1 if args.smoke else 3)
    limit = TARGET * (3.0 if args.smoke else 1.0)
    cache = Path(tempfile.gettempdir()) / "tracker-bench-import" / f"{steps}x{args.keys}"
    sources: dict[str, tuple[str, Callable[[Path], int], Callable[[Path, Path], int]]] = {
        "wandb": (_MAKE_WANDB, wandb_reader, wandb_import),
        "tensorboard": (_MAKE_TB, tensorboard_reader, tensorboard_import),
        "mlflow": (_MAKE_MLFLOW, mlflow_reader, mlflow_import),
    }
    results: dict[str, dict[str, Any]] = {}
    failed = False
    print(f"{steps} steps x {args.keys} keys, median of {repeat}; target: import <= {TARGET:g}x the reader")
    print(f"{'source':<12} {'reader s':>9} {'import s':>9} {'ratio':>6}  rows")
    for name, (script, reader, importer) in sources.items():
        if args.only and name not in args.only:
            continue
        folder = _made(cache / name, script, steps, args.keys)
        reader(folder), importer(folder, cache / "scratch")  # warm: imports, page cache
        base, points = _median(lambda: reader(folder), repeat)  # noqa: B023 - called at once
        took, rows = _median(lambda: importer(folder, cache / "scratch"), repeat)  # noqa: B023
        ratio = took / base
        failed |= ratio > limit
        results[name] = {"reader_s": round(base, 3), "import_s": round(took, 3), "ratio": round(ratio, 2),
                         "rows": rows, "points_read": points}  # fmt: skip
        print(f"{name:<12} {base:9.2f} {took:9.2f} {ratio:6.2f}  {rows}{'  MISSED' if ratio > limit else ''}")
        if name == "wandb":  # for the record: the parse alone, without decoding the history
            parse, _n = _median(lambda: wandb_reader(folder, decode=False), repeat)  # noqa: B023
            results["wandb-parse"] = {"reader_s": round(parse, 3), "ratio": round(took / parse, 2)}
            print(
                f"{'wandb-parse':<12} {parse:9.2f} {took:9.2f} {took / parse:6.2f}  (not the target figure)"
            )
    shutil.rmtree(cache / "scratch", ignore_errors=True)
    print(json.dumps(results))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
