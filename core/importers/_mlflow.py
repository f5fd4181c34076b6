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
  MLflow 3's logged models (``search_logged_models``, stored beside the run) -> tracker
  artifacts of type ``model`` logged by the run, with the model's id, type, params and
  tags as metadata;
* nested runs (``mlflow.parentRunId``) -> the group of the top-level run's name, shared
  by the parent and all its descendants.

The project defaults to the experiment's name (characters a project name cannot hold,
such as the ``/`` of Databricks' experiment paths, become ``-``).
"""

from __future__ import annotations

import contextlib
import operator
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tracker._optional import require_extra
from tracker.errors import StorageError, UsageError
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
        StorageError: MLflow could not read the store (a server that does not answer...);
            while a run's ``rows`` are read: that run could not be read.
    """
    require_extra("mlflow", feature="tracker import mlflow", extra="import")
    from mlflow.exceptions import MlflowException

    uri = _resolve(tracking_uri)
    try:
        client = _client(uri)
        experiments = _experiments(client, uri, experiment)
    except MlflowException as exc:
        raise StorageError(f"MLflow store {_redact(uri)}: {exc.message}") from exc
    for exp in experiments:
        try:
            runs = _runs(client, exp.experiment_id)
            groups = _groups(runs)
            models = _logged_models(client, exp.experiment_id)
        except MlflowException as exc:
            raise StorageError(f"MLflow store {_redact(uri)}, experiment {exp.name}: {exc.message}") from exc
        name = project or _project(exp.name)
        for run in runs:
            with tempfile.TemporaryDirectory(prefix="tracker-mlflow-") as tmp:
                imported = _imported(client, run, name, groups, models, Path(tmp))
                if name != (project or exp.name):
                    imported.problems.append(
                        f"experiment {exp.name!r} is not a valid project name: imported into {name!r}"
                    )
                yield imported


def _project(experiment: str) -> str:
    """A tracker project name for an experiment's (Databricks' are paths: ``/Users/ann/x``)."""
    return re.sub(r"[^A-Za-z0-9._ -]+", "-", experiment).strip(" -._")[:128].rstrip(" ") or "mlflow"


def _experiments(client: Any, uri: str, experiment: str | None) -> list[Any]:
    if experiment is not None:
        found = client.get_experiment_by_name(experiment)
        if found is None:
            names = sorted(e.name for e in _all_experiments(client))
            listed = ", ".join(names) or "none"
            raise UsageError(
                f"MLflow store {_redact(uri)} has no experiment {experiment!r}; existing: {listed}."
            )
        return [found]
    return _all_experiments(client)


def _all_experiments(client: Any) -> list[Any]:
    from mlflow.entities import ViewType

    found: list[Any] = []
    token = None
    while True:
        page = client.search_experiments(view_type=ViewType.ACTIVE_ONLY, max_results=_PAGE, page_token=token)
        found.extend(page)
        token = page.token
        if not token:
            return found


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


def _redact(uri: str) -> str:
    """The URI for a message: a password in it (``postgresql://user:pw@host/db``) masked."""
    return re.sub(r"(//[^/:@]*:)[^/@]*@", r"\1***@", uri)


def _client(uri: str) -> Any:
    """An ``MlflowClient`` whose store is open (file stores: with MLflow's opt-in set meanwhile)."""
    from mlflow import MlflowClient

    with _allow_file_store() if uri.startswith("file:") else contextlib.nullcontext():
        return MlflowClient(tracking_uri=uri)  # builds the store, which MLflow caches per URI


@contextlib.contextmanager
def _allow_file_store() -> Iterator[None]:
    from tracker._settings import set_env  # the one module that touches the environment

    previous = set_env({"MLFLOW_ALLOW_FILE_STORE": "true"})
    try:
        yield
    finally:
        set_env(previous)


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


def _logged_models(client: Any, experiment_id: str) -> dict[str, list[Any]]:
    """MLflow 3's logged models of the experiment, by the run that logged them."""
    from mlflow.exceptions import MlflowException

    search = getattr(client, "search_logged_models", None)  # MLflow >= 3
    if search is None:
        return {}
    found: dict[str, list[Any]] = {}
    token = None
    while True:
        try:
            page = search([experiment_id], max_results=_PAGE, page_token=token)
        except MlflowException:  # a store (or server) without logged models
            return found
        for model in page:
            if model.source_run_id:
                found.setdefault(model.source_run_id, []).append(model)
        token = page.token
        if not token:
            return found


def _imported(
    client: Any, run: Any, project: str, groups: dict[str, str], models: dict[str, list[Any]], tmp: Path
) -> ImportedRun:
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
    system: dict[int, Row] = {}  # step -> sample

    def rows() -> Iterator[Row]:
        from mlflow.exceptions import MlflowException

        table: dict[int, list[Row]] = {}
        try:
            for key, points in _histories(client, rid, sorted(data.metrics)):
                if key.startswith(_SYSTEM_PREFIX):
                    _fold_system(system, _system_key(key[len(_SYSTEM_PREFIX) :]), points)
                else:
                    _fold(table, key, points)
        except MlflowException as exc:  # this run fails; the sink goes on with the next
            raise StorageError(f"MLflow run {rid}: metrics not read: {exc.message}") from exc
        imported.files.extend(
            _artifacts(info.artifact_uri, client.tracking_uri, tmp / "run", imported.problems)
        )
        for model in models.get(rid, []):
            art = _model(model, client.tracking_uri, tmp / model.model_id, imported.problems)
            if art is not None:
                imported.artifacts_logged.append(art)
        for step in sorted(table):
            yield from table.pop(step)

    inputs = getattr(getattr(run, "inputs", None), "dataset_inputs", None)
    if inputs:
        imported.problems.append(f"{len(inputs)} dataset input(s) (mlflow.log_input) have no tracker mapping")
    imported.rows = rows
    imported.system = lambda: iter(sorted(system.values(), key=lambda r: r["_timestamp"]))
    return imported


Point = tuple[int, int, float]  # step, timestamp (ms), value
_POINT = operator.attrgetter("step", "timestamp", "value")


def _histories(client: Any, run_id: str, keys: list[str]) -> Iterator[tuple[str, list[Point]]]:
    """Each metric's points sorted by (step, timestamp, value): one query per metric.

    A database store is read in bulk through MLflow's own session and ``SqlMetric`` model
    (columns, not entities: ``get_metric_history`` builds an ORM object and an entity per
    point, ~0.1 ms each); any other store through ``get_metric_history``, which pages.
    """
    store = _sql_store(client)
    for key in keys:
        if store is not None:
            yield key, _sql_history(store, run_id, key)
        else:
            points = list(map(_POINT, client.get_metric_history(run_id, key)))
            points.sort()  # linear when already in order, as a file store's usually is
            yield key, points


def _sql_store(client: Any) -> Any:
    store = getattr(getattr(client, "_tracking_client", None), "store", None)  # MLflow private
    if store is None or not type(store).__module__.startswith("mlflow.store.tracking.sqlalchemy"):
        return None  # another store, or MLflow moved it: the public path
    try:
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
    except ImportError:
        return None
    return store if isinstance(store, SqlAlchemyStore) and hasattr(store, "ManagedSessionMaker") else None


def _sql_history(store: Any, run_id: str, key: str) -> list[Point]:
    from mlflow.store.tracking.dbmodels.models import SqlMetric
    from sqlalchemy.exc import SQLAlchemyError

    m = SqlMetric
    try:
        with store.ManagedSessionMaker() as session:
            found = (
                session.query(m.step, m.timestamp, m.value, m.is_nan)
                .filter(m.run_uuid == run_id, m.key == key)
                .order_by(m.step, m.timestamp, m.value)
                .all()
            )
    except SQLAlchemyError as exc:
        raise StorageError(f"MLflow run {run_id}: metric {key!r} not read: {exc}") from exc
    nan = float("nan")
    return [(step, ts, nan if is_nan else value) for step, ts, value, is_nan in found]


def _fold(table: dict[int, list[Row]], key: str, points: list[Point]) -> None:
    """Put one metric's sorted points into rows: the n-th point of a step goes to its n-th row."""
    prev, n = None, 0
    for step, ms, value in points:
        n = n + 1 if step == prev else 0
        prev = step
        ts = ms / 1000
        rows = table.get(step)
        if rows is None:
            table[step] = [{"_step": step, "_timestamp": ts, key: value}]
        elif n == len(rows):
            rows.append({"_step": step, "_timestamp": ts, key: value})
        else:
            row = rows[n]
            row[key] = value
            if ts > row["_timestamp"]:
                row["_timestamp"] = ts


def _fold_system(samples: dict[int, Row], key: str, points: list[Point]) -> None:
    """System metrics: one sample per step (MLflow's sample index), at its latest time."""
    for step, ms, value in points:
        row = samples.get(step)
        if row is None:
            row = samples[step] = {"_timestamp": ms / 1000}
        row[key] = value
        row["_timestamp"] = max(row["_timestamp"], ms / 1000)


def _system_key(name: str) -> str:
    if name in _SYSTEM_KEYS:
        return _SYSTEM_KEYS[name]
    gpu = _GPU_KEY.match(name)
    if gpu:
        return f"system.gpu.{gpu.group(1)}.{_GPU_KEYS[gpu.group(2)]}"
    return f"system.mlflow.{name}"


def _artifacts(artifact_uri: str, tracking_uri: str, tmp: Path, problems: list[str]) -> list[ImportedFile]:
    """Download the run's artifacts into ``tmp`` (by its artifact URI: ``list_artifacts`` by
    run id reads the whole run again, every metric point of a file store included)."""
    from mlflow.artifacts import download_artifacts, list_artifacts
    from mlflow.exceptions import MlflowException

    try:
        if not list_artifacts(artifact_uri=artifact_uri, tracking_uri=tracking_uri):
            return []
        local = Path(
            download_artifacts(artifact_uri=artifact_uri, dst_path=str(tmp), tracking_uri=tracking_uri)
        )
    except (MlflowException, OSError) as exc:
        problems.append(f"artifacts not downloaded: {exc}")
        return []
    return [
        ImportedFile(name=path.relative_to(local).as_posix(), path=path)
        for path in sorted(local.rglob("*"))
        if path.is_file()
    ]


def _model(model: Any, tracking_uri: str, tmp: Path, problems: list[str]) -> Any:
    """A logged model as a tracker ``model`` artifact (its files, MLflow's ids as metadata)."""
    from mlflow.artifacts import download_artifacts
    from mlflow.exceptions import MlflowException

    from tracker.artifacts import Artifact
    from tracker.errors import Error

    what = f"logged model {model.name} ({model.model_id})"
    metadata = {
        "mlflow_model_id": model.model_id,
        "model_type": model.model_type,
        "params": dict(model.params),
    }
    metadata["tags"] = {k: v for k, v in model.tags.items() if not k.startswith("mlflow.")}
    try:
        art = Artifact(model.name, "model", metadata=metadata)
        local = download_artifacts(
            artifact_uri=model.artifact_location, dst_path=str(tmp), tracking_uri=tracking_uri
        )
        art.add_dir(local)
    except (MlflowException, OSError, Error) as exc:
        problems.append(f"{what}: not imported: {exc}")
        return None
    return art


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
