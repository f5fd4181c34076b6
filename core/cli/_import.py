"""``tracker import wandb|tensorboard|mlflow``: bring runs over from another tracker.

Each source has a reader in :mod:`tracker.importers` (behind the ``[import]`` extra) that
yields ``ImportedRun`` objects; :func:`tracker.importers._sink.import_runs` writes them
into the data root, skipping runs imported before and redoing interrupted ones. Progress
goes to stderr (rows imported); the summary and what could not be mapped go to stdout.
The exit code is 1 when a run could not be imported at all.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tracker.importers._model import ImportedRun

__all__: list[str] = []

_PROJECT_HELP = "put every run in this project (default: the source's project)"


def add(commands: Any, common: argparse.ArgumentParser) -> None:
    """Register ``import`` and its sources."""
    imp = commands.add_parser(
        "import",
        help="import runs from W&B, TensorBoard or MLflow (needs tracker[import])",
        description=(
            "Bring runs over from another tool into the data root, with their history, config, "
            "summary, files and artifacts. Running an import again adds nothing; an interrupted "
            "import is completed by running it again. Needs: pip install 'tracker[import]'."
        ),
        parents=[common],
    )
    imp.set_defaults(_parser=imp)
    sources = imp.add_subparsers(title="sources", metavar="SOURCE")

    wandb = sources.add_parser(
        "wandb",
        help="W&B run folders (wandb/offline-run-*, wandb/run-*)",
        description=(
            "Import W&B runs from their folders: a run folder, a wandb/ folder, or any folder "
            "above them. Offline runs (offline-run-*) and synced ones (run-*) are read from their "
            ".wandb record stream with wandb's own reader; artifact files come from W&B's "
            "staging folder ($WANDB_DATA_DIR, default ~/.local/share/wandb)."
        ),
        parents=[common],
    )
    wandb.add_argument(
        "paths", nargs="+", metavar="PATH", help="run folders, wandb/ folders or their parents"
    )
    wandb.add_argument("--project", help=_PROJECT_HELP)
    wandb.set_defaults(_func=run_import, _parser=wandb, _source="wandb")

    tb = sources.add_parser(
        "tensorboard",
        help="a TensorBoard log directory",
        description=(
            "Import a TensorBoard log directory: each run directory under LOGDIR becomes a run "
            "named after its path, with every scalar, histogram, image, text and hparams."
        ),
        parents=[common],
    )
    tb.add_argument("logdir", metavar="LOGDIR", help="what `tensorboard --logdir` takes")
    tb.add_argument("--project", help="put every run in this project (default: LOGDIR's name)")
    tb.set_defaults(_func=run_import, _parser=tb, _source="tensorboard")

    ml = sources.add_parser(
        "mlflow",
        help="an MLflow tracking server, database or mlruns/ folder",
        description=(
            "Import MLflow runs: params (config), every metric point with its step and time, "
            "tags, status, times and artifacts; nested runs share their parent's group."
        ),
        parents=[common],
    )
    ml.add_argument(
        "--tracking-uri",
        metavar="URI",
        help="http(s)://server, sqlite:///mlflow.db, a database URI or an mlruns/ folder "
        "(default: $MLFLOW_TRACKING_URI, else MLflow's default)",
    )
    ml.add_argument("--experiment", metavar="NAME", help="only this experiment (default: all)")
    ml.add_argument("--project", help="put every run in this project (default: the experiment's name)")
    ml.set_defaults(_func=run_import, _parser=ml, _source="mlflow")


def _runs(args: argparse.Namespace, unreadable: list[str]) -> Iterator[ImportedRun]:
    source = args._source
    if source == "wandb":
        from tracker.importers import _wandb

        return _wandb.read(args.paths, unreadable=unreadable)
    if source == "tensorboard":
        from tracker.importers import _tensorboard

        return _tensorboard.read(Path(args.logdir))
    from tracker.importers import _mlflow

    return _mlflow.read(args.tracking_uri, args.experiment)


def run_import(args: argparse.Namespace) -> int:
    """Import, with progress on stderr; print the summary and the problems."""
    from tracker._settings import data_root
    from tracker.cli._progress import progress
    from tracker.importers._sink import import_runs

    root = data_root(getattr(args, "root", None))
    unreadable: list[str] = []
    runs = _runs(args, unreadable)
    with progress(None, f"importing {args._source} runs", unit="rows") as bar:
        report = import_runs(runs, root, project=args.project, bar=bar)
    report.failed.extend(unreadable)
    report.problems.extend(unreadable)
    for line in report.lines():
        print(line)
    return 1 if report.failed else 0
