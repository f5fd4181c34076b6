"""Read MLflow runs into :class:`ImportedRun` objects (``tracker import mlflow``).

Everything goes through MLflow's own client (``MlflowClient``), so every backend it opens
works: a tracking server (``http://...``), a database URI (``sqlite:///mlflow.db``,
MLflow 3's default, ``postgresql://...``), and the legacy file store (``mlruns/``), which
MLflow 3 refuses to open unless ``MLFLOW_ALLOW_FILE_STORE`` is set: the reader sets it
while it opens the store (reading is all it does there).

Mapping, per run:

* params -> config (MLflow stores them as strings; one that is exactly how Python prints
  an int, float, bool or None becomes that value again, any other stays a string);
* every metric point (``get_metric_history``, which pages through a server's results)
  -> rows: the points of one step make one row (``_step``; ``_timestamp`` is the latest
  point's time); a key logged more than once at one step (MLflow's default step is 0)
  gives more rows at that step, in time order, so no point is lost. ``system/*`` metrics
  (MLflow's system metrics) -> system samples under tracker's names;
* tags: ``mlflow.runName`` -> name, ``mlflow.note.content`` -> notes, each user tag (not
  ``mlflow.*``) -> a tag ``key`` (empty value) or ``key:value``, and into the config
  under ``mlflow.tags``; ``mlflow.source.*`` -> the run's meta (program, git);
* status -> state (FINISHED finished, FAILED failed, KILLED killed, RUNNING/SCHEDULED
  running), start/end times -> created/ended;
* artifacts -> run files (downloaded to a temporary folder while the sink copies them);
* nested runs (``mlflow.parentRunId``) -> the group of the top-level run's name, shared
  by the parent and all its descendants.

The project defaults to the experiment's name.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tracker._optional import require_extra
from tracker.errors import UsageError
from tracker.importers._model import ImportedFile, ImportedRun, Row

__all__ = ["read"]

_STATES = {"FINISHED": "finished", "FAILED": "failed", "KILLED": "killed", "RUNNING": "running"}
_SYSTEM_PREFIX = "system/"
# MLflow's system metric names -> tracker's sampler keys (system_metrics/_keys.py)
_SYSTEM_KEYS = {
    "cpu_utilization_percentage": "system.cpu",
    "system_memory_usage_percentage": "system.memory_percent",
    "disk_usage_percentage": "system.disk./.usagePercent",
}
_GPU_KEY = re.compile(
    r"gpu_(\d+)_(utilization_percentage|memory_usage_percentage|power_usage_watts|power_usage_percentage)\Z"
)
_GPU_KEYS = {
    "utilization_percentage": "gpu",
    "memory_usage_percentage": "memoryAllocated",
    "power_usage_watts": "powerWatts",
    "power_usage_percentage": "powerPercent",
}
_PAGE = 1000


def read(
    tracking_uri: str | None, experiment: str | None = None, project: str | None = None
) -> Iterator[ImportedRun]:
    """Yield one :class:`ImportedRun` per MLflow run.

    A run's metrics are read and its artifacts downloaded when the sink iterates its
    ``rows``; the downloaded files are deleted when the next run is asked for.

    Args:
        tracking_uri: A tracking server or database URI, a ``file:`` URI, or a path (an
            ``mlruns`` folder or an sqlite ``.db`` file). None: MLflow's own default
            (``MLFLOW_TRACKING_URI``, else ``./mlruns`` if it holds runs, else
            ``sqlite:///mlflow.db``).
        experiment: Only this experiment (its name); default: every active experiment.
        project: The tracker project; default: each experiment's name.

    Raises:
        MissingExtraError: The ``mlflow`` package is not installed.
        UsageError: The store does not exist, or has no such experiment.
    """
    require_extra("mlflow", feature="tracker import mlflow", extra="import")
    from mlflow.entities import ViewType

    uri = _resolve(tracking_uri)
    client = _client(uri)
    if experiment is not None:
        found = client.get_experiment_by_name(experiment)
        if found is None:
            names = sorted(e.name for e in client.search_experiments(view_type=ViewType.ACTIVE_ONLY))
            listed = ", ".join(names) or "none"
            raise UsageError(f"MLflow store {uri} has no experiment {experiment!r}; existing: {listed}.")
        experiments = [found]
    else:
        experiments = list(client.search_experiments(view_type=ViewType.ACTIVE_ONLY))
    for exp in experiments:
        runs = _runs(client, exp.experiment_id)
        groups = _groups(runs)
        for run in runs:
            with tempfile.TemporaryDirectory(prefix="tracker-mlflow-") as tmp:
                yield _imported(client, run, project or exp.name, groups, Path(tmp))


def _resolve(tracking_uri: str | None) -> str:
    """A URI MLflow's client takes; a path becomes a file or sqlite URI. Never creates a store."""
    if tracking_uri is None:
        from mlflow import get_tracking_uri

        uri = str(get_tracking_uri())
    elif "://" in tracking_uri or tracking_uri.startswith(("file:", "databricks")):
        uri = tracking_uri
    else:
        path = Path(tracking_uri).expanduser().resolve()
        if path.is_file():
            uri = f"sqlite:///{path}"
        elif path.is_dir():
            uri = path.as_uri()
        else:
            raise UsageError(
                f"MLflow store {tracking_uri!r} does not exist (an mlruns folder or a .db file)."
            )
    if uri.startswith("sqlite:///"):
        db = Path(uri[len("sqlite:///") :].split("?", 1)[0])
        if not db.is_file():  # MLflow would create an empty database there
            raise UsageError(f"MLflow database {str(db)!r} does not exist.")
    elif uri.startswith("file:"):
        from mlflow.utils.file_utils import local_file_uri_to_path

        if not Path(local_file_uri_to_path(uri)).is_dir():
            raise UsageError(f"MLflow file store {uri!r} does not exist.")
    return uri


def _client(uri: str) -> Any:
    """An ``MlflowClient`` whose store is open (file stores: with MLflow's opt-in set meanwhile)."""
    from mlflow import MlflowClient

    with _allow_file_store() if uri.startswith("file:") else contextlib.nullcontext():
        return MlflowClient(tracking_uri=uri)  # builds the store, which MLflow caches per URI


@contextlib.contextmanager
def _allow_file_store() -> Iterator[None]:
    name = "MLFLOW_ALLOW_FILE_STORE"
    old = os.environ.get(name)
    os.environ[name] = "true"
    try:
        yield
    finally:
        if old is None:
            del os.environ[name]
        else:
            os.environ[name] = old


def _runs(client: Any, experiment_id: str) -> list[Any]:
    """Every active run of the experiment, oldest first, through MLflow's paging."""
    from mlflow.entities import ViewType

    runs: list[Any] = []
    token = None
    while True:
        page = client.search_runs(
            [experiment_id],
            run_view_type=ViewType.ACTIVE_ONLY,
            max_results=_PAGE,
            order_by=["attributes.start_time ASC"],
            page_token=token,
        )
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def _groups(runs: list[Any]) -> dict[str, str]:
    """run id -> group (the top-level ancestor's name) for every run in a nested family."""
    parent = {r.info.run_id: r.data.tags.get("mlflow.parentRunId") for r in runs}
    names = {r.info.run_id: _name(r) for r in runs}
    groups: dict[str, str] = {}
    for rid, up in parent.items():
        if not up:
            continue
        top, seen = up, {rid}
        while parent.get(top) and top not in seen:
            seen.add(top)
            top = parent[top] or top
        groups[rid] = groups[top] = names.get(top) or top
    return groups


def _name(run: Any) -> str:
    return str(run.data.tags.get("mlflow.runName") or run.info.run_name or run.info.run_id)


def _imported(client: Any, run: Any, project: str, groups: dict[str, str], tmp: Path) -> ImportedRun:
    info, data = run.info, run.data
    rid = info.run_id
    user_tags = {k: v for k, v in data.tags.items() if not k.startswith("mlflow.")}
    config: dict[str, Any] = {k: _param(v) for k, v in data.params.items()}
    if user_tags:
        config["mlflow.tags"] = dict(user_tags)
    imported = ImportedRun(
        source="mlflow",
        source_key=rid,
        project=project,
        id=rid,
        name=_name(run),
        group=groups.get(rid),
        tags=[k if v == "" else f"{k}:{v}" for k, v in sorted(user_tags.items())],
        notes=data.tags.get("mlflow.note.content"),
        config=config,
        created=info.start_time / 1000 if info.start_time is not None else None,
        ended=info.end_time / 1000 if info.end_time is not None else None,
        state=_STATES.get(info.status, "running"),
        meta=_meta(data.tags),
    )
    system: list[Row] = []

    def rows() -> Iterator[Row]:
        table: dict[int, list[Row]] = {}
        for key in sorted(data.metrics):
            points = client.get_metric_history(rid, key)
            if key.startswith(_SYSTEM_PREFIX):
                _fold(system, {}, _system_key(key[len(_SYSTEM_PREFIX) :]), points)
            else:
                _fold(None, table, key, points)
        imported.files.extend(_artifacts(client, rid, tmp, imported.problems))
        for step in sorted(table):
            yield from table.pop(step)

    imported.rows = rows
    imported.system = lambda: iter(sorted(system, key=lambda r: r["_timestamp"]))
    return imported


def _fold(flat: list[Row] | None, table: dict[int, list[Row]], key: str, points: list[Any]) -> None:
    """Put one metric's points into rows: the n-th point of a step goes to that step's n-th row."""
    if flat is not None:  # system samples: one row per step, like the rows
        by_step: dict[int, Row] = {}
        for p in points:
            row = by_step.get(p.step)
            ts = p.timestamp / 1000
            if row is None:
                row = by_step[p.step] = {"_timestamp": ts}
                flat.append(row)
            row[key] = p.value
            row["_timestamp"] = max(row["_timestamp"], ts)
        return
    ordered = sorted(points, key=lambda p: (p.step, p.timestamp))
    prev_step, n = None, 0
    for p in ordered:
        step = p.step
        n = n + 1 if step == prev_step else 0
        prev_step = step
        ts = p.timestamp / 1000
        rows = table.get(step)
        if rows is None:
            rows = table[step] = []
        if n == len(rows):
            rows.append({"_step": step, "_timestamp": ts, key: p.value})
        else:
            row = rows[n]
            row[key] = p.value
            if ts > row["_timestamp"]:
                row["_timestamp"] = ts


def _system_key(name: str) -> str:
    if name in _SYSTEM_KEYS:
        return _SYSTEM_KEYS[name]
    gpu = _GPU_KEY.match(name)
    if gpu:
        return f"system.gpu.{gpu.group(1)}.{_GPU_KEYS[gpu.group(2)]}"
    return f"system.mlflow.{name}"


def _artifacts(client: Any, run_id: str, tmp: Path, problems: list[str]) -> list[ImportedFile]:
    from mlflow.exceptions import MlflowException

    if not client.list_artifacts(run_id):
        return []
    try:
        local = Path(client.download_artifacts(run_id, "", dst_path=str(tmp)))
    except (MlflowException, OSError) as exc:
        problems.append(f"artifacts not downloaded: {exc}")
        return []
    return [
        ImportedFile(name=path.relative_to(local).as_posix(), path=path)
        for path in sorted(local.rglob("*"))
        if path.is_file()
    ]


_INT = re.compile(r"-?[1-9][0-9]*\Z|0\Z")


def _param(text: str) -> Any:
    """An MLflow param (a string) as the value Python printed it from, when that is certain."""
    if text in ("True", "False"):
        return text == "True"
    if text == "None":
        return None
    if _INT.match(text):
        return int(text)
    try:
        number = float(text)
    except ValueError:
        return text
    return number if repr(number) == text else text


def _meta(tags: dict[str, str]) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    if tags.get("mlflow.source.name"):
        meta["program"] = tags["mlflow.source.name"]
    git = {
        field: tags[tag]
        for field, tag in (
            ("commit", "mlflow.source.git.commit"),
            ("remote", "mlflow.source.git.repoURL"),
            ("branch", "mlflow.source.git.branch"),
        )
        if tags.get(tag)
    }
    if git:
        meta["git"] = git
    if tags.get("mlflow.user"):
        meta["user"] = tags["mlflow.user"]
    return meta
