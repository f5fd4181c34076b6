"""The MLflow reader against a file store and an sqlite store made by MLflow itself.

``fixtures/mlflow/make_mlflow.py`` writes both stores (in a temporary folder, once per
session: they are ~13 MB); every value, step, timestamp and artifact is compared with what
that script logged.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any
from unittest.mock import patch

import pytest

from tracker.errors import MissingExtraError, StorageError, UsageError
from tracker.importers import _mlflow
from tracker.importers._model import ImportedRun

if os.environ.get("TRACKER_IMPORT_TESTS") == "1":
    import mlflow  # noqa: F401 - the import venv of CI: a missing extra is a failure there
else:
    pytest.importorskip("mlflow", reason="the [import] extra is not installed")
# MLflow 3.17's sqlite store maps a relationship with SQLAlchemy 2.1's deprecated ``noload``.
pytestmark = pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning")

SCRIPT = Path(__file__).parent / "fixtures" / "mlflow" / "make_mlflow.py"


@pytest.fixture(scope="session")
def script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("_fixture_make_mlflow", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def stores() -> Iterator[Path]:
    """The two stores, made by MLflow in two subprocesses at once (tracking URIs are process
    state), in memory where there is a tmpfs: sqlite's fsyncs are most of the time."""
    shm = Path("/dev/shm")
    out = Path(tempfile.mkdtemp(prefix="tracker-mlflow-", dir=shm if shm.is_dir() else None))
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    makers = [
        subprocess.Popen([sys.executable, str(SCRIPT), str(out), kind], env=env, stderr=subprocess.PIPE)
        for kind in ("file", "sqlite")
    ]
    try:
        for proc in makers:
            _, err = proc.communicate(timeout=300)
            assert proc.returncode == 0, err.decode()
        yield out
    finally:
        shutil.rmtree(out, ignore_errors=True)


def _read(uri: str, **kwargs: Any) -> dict[str, tuple[ImportedRun, list[dict[str, Any]], dict[str, bytes]]]:
    out = {}
    for run in _mlflow.read(uri, **kwargs):
        rows = list(run.rows())  # rows first: files are downloaded meanwhile
        out[run.name or ""] = (run, rows, {f.name: f.path.read_bytes() for f in run.files})
    return out


def _uris(stores: Path) -> dict[str, str]:
    return {
        "mlruns folder": str(stores / "mlruns"),
        "file URI": (stores / "mlruns").as_uri(),
        "sqlite URI": f"sqlite:///{stores / 'mlflow.db'}",
        ".db path": str(stores / "mlflow.db"),
    }


@pytest.mark.parametrize("kind", ["mlruns folder", "file URI", "sqlite URI", ".db path"])
def test_every_metric_point_with_its_step_and_timestamp(stores: Path, script: ModuleType, kind: str) -> None:
    runs = _read(_uris(stores)[kind], experiment="vision")
    assert sorted(runs) == ["fold-0", "fold-1", "train"]
    _, rows, _ = runs["train"]
    t0 = script.T0_MS / 1000
    # step 0: loss, acc and the first lr share a row; lr's two later points at step 0
    # (MLflow's default step) get rows of their own, in time order
    assert rows[:3] == [
        {"_step": 0, "_timestamp": t0, "loss": script.loss(0), "acc": script.acc(0), "lr": 0.1},
        {"_step": 0, "_timestamp": t0 + 1, "lr": 0.01},
        {"_step": 0, "_timestamp": t0 + 2, "lr": 0.001},
    ]
    assert rows[3:] == [
        {
            "_step": s,
            "_timestamp": script.timestamp_ms(s) / 1000,
            "loss": script.loss(s),
            "acc": script.acc(s),
        }
        for s in range(1, script.STEPS)
    ]
    for fold in (0, 1):
        _, fold_rows, _ = runs[f"fold-{fold}"]
        assert fold_rows == [
            {"_step": s, "_timestamp": script.timestamp_ms(s) / 1000, "loss": script.fold_loss(fold, s)}
            for s in range(10)
        ]


@pytest.mark.parametrize("kind", ["mlruns folder", "sqlite URI"])
def test_params_tags_status_times_artifacts_and_nesting(stores: Path, script: ModuleType, kind: str) -> None:
    ids = json.loads((stores / f"ids-{'file' if kind == 'mlruns folder' else 'sqlite'}.json").read_text())
    runs = _read(_uris(stores)[kind])
    assert sorted(runs) == ["fold-0", "fold-1", "train", "wav2vec"]
    train, _, files = runs["train"]
    assert (train.source, train.source_key, train.id, train.project) == (
        "mlflow",
        ids["train"],
        ids["train"],
        "vision",
    )
    assert train.config == {**script.PARAMS, "mlflow.tags": script.TAGS}  # "007" stays a string
    assert train.tags == ["baseline", "team:vision"]
    assert train.notes == script.NOTE
    assert (train.state, train.created, train.ended) == (
        "finished",
        1_700_000_000.0,
        script.timestamp_ms(20_000) / 1000,
    )
    assert files == script.ARTIFACTS
    assert list(train.system()) == [  # MLflow's system metrics, under tracker's sampler names
        {
            "_timestamp": script.timestamp_ms(10 * k) / 1000,
            "system.cpu": 50.0 + k,
            "system.gpu.0.gpu": 90.0 - k,
            "system.mlflow.network_receive_megabytes": 1.5 * k,
        }
        for k in range(3)
    ]
    (model,) = train.artifacts_logged  # MLflow 3's logged model, a tracker "model" artifact
    assert (model.name, model.type, model.metadata["model_type"]) == ("classifier", "model", "demo")
    fold0, fold1 = runs["fold-0"][0], runs["fold-1"][0]
    assert train.group == fold0.group == fold1.group == "train"  # nested runs: one group
    assert (fold0.state, fold1.state) == ("finished", "failed")
    assert fold0.config == {"fold": 0}
    assert fold0.created is not None
    assert fold0.ended is not None
    assert fold0.created <= fold0.ended
    assert fold0.meta["program"] == str(SCRIPT)
    other = runs["wav2vec"][0]
    assert (other.project, other.state, other.group, other.ended) == (
        "audio",
        "killed",
        None,
        1_700_000_005.0,
    )
    assert "MLFLOW_ALLOW_FILE_STORE" not in os.environ  # set only while the store opened


def test_project_and_experiment_choice(stores: Path) -> None:
    runs = _read(str(stores / "mlflow.db"), experiment="audio", project="speech")
    assert [(r.name, r.project) for r, _, _ in runs.values()] == [("wav2vec", "speech")]
    rows = runs["wav2vec"][1]
    assert [r["_step"] for r in rows] == [1, 2, 3]
    assert math.isnan(rows[0]["loss"])  # MLflow's is_nan column, read back as NaN
    assert rows[1:] == [
        {"_step": 2, "_timestamp": 1_700_000_000.01, "loss": 0.5},
        {"_step": 3, "_timestamp": 1_700_000_000.0, "wer": 0.25},
    ]
    with pytest.raises(UsageError, match=r"no experiment 'vison'; existing: Default, audio, vision"):
        next(_mlflow.read(str(stores / "mlflow.db"), experiment="vison"))


def test_a_database_is_read_in_bulk_with_the_same_points_as_get_metric_history(
    stores: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uri = f"sqlite:///{stores / 'mlflow.db'}"

    def rows() -> str:
        return repr({name: rows for name, (_, rows, _) in _read(uri).items()})  # nan == nan in a repr

    bulk = rows()
    assert _mlflow._sql_store(_mlflow._client(uri)) is not None
    monkeypatch.setattr(_mlflow, "_sql_store", lambda client: None)
    assert rows() == bulk


def test_no_uri_means_mlflow_s_own_default(
    stores: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """./mlruns when it holds runs (MLflow keeps legacy users there), else ./mlflow.db."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(stores)  # both: mlruns wins
    assert (
        next(_mlflow.read(None, "audio")).source_key
        == json.loads((stores / "ids-file.json").read_text())["wav2vec"]
    )
    (tmp_path / "mlflow.db").symlink_to(stores / "mlflow.db")
    monkeypatch.chdir(tmp_path)  # MLflow 3's default, sqlite:///mlflow.db
    assert (
        next(_mlflow.read(None, "audio")).source_key
        == json.loads((stores / "ids-sqlite.json").read_text())["wav2vec"]
    )
    monkeypatch.setenv("MLFLOW_TRACKING_URI", (stores / "mlruns").as_uri())
    assert (
        next(_mlflow.read(None, "audio")).source_key
        == json.loads((stores / "ids-file.json").read_text())["wav2vec"]
    )


def test_a_missing_store_is_refused_and_not_created(tmp_path: Path) -> None:
    db = tmp_path / "mlflow.db"
    with pytest.raises(UsageError, match="does not exist"):
        next(_mlflow.read(f"sqlite:///{db}"))
    assert not db.exists()
    with pytest.raises(UsageError, match="does not exist"):
        next(_mlflow.read(str(tmp_path / "mlruns")))


def test_a_server_that_does_not_answer_is_a_storage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    with pytest.raises(StorageError, match=r"MLflow store http://user:\*\*\*@127\.0\.0\.1:9: API request"):
        next(_mlflow.read("http://user:secret@127.0.0.1:9"))


def test_missing_extra_names_the_pip_command() -> None:
    with patch.dict(sys.modules, {"mlflow": None}):
        with pytest.raises(MissingExtraError, match=r"pip install 'tracker\[import\]'"):
            next(_mlflow.read(None))


def test_experiment_paths_become_project_names() -> None:
    assert _mlflow._project("/Users/ann@corp.com/churn v2") == "Users-ann-corp.com-churn v2"
    assert _mlflow._project("vision") == "vision"
    assert _mlflow._project("///") == "mlflow"


def test_params_come_back_as_the_values_python_printed() -> None:
    cases = {"0.001": 0.001, "1e-05": 1e-05, "20": 20, "-3": -3, "True": True, "None": None}
    cases |= {"007": "007", "1.50": "1.50", "1e3": "1e3", "adam": "adam", "NaN": "NaN", "": ""}
    assert {k: _mlflow._param(k) for k in cases} == cases
    assert math.isnan(_mlflow._param("nan"))


@pytest.mark.parametrize("kind", ["mlruns folder", "sqlite URI"])
def test_cli_import_then_api_reads_back_the_same_and_reimport_adds_nothing(
    stores: Path, script: ModuleType, root: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    import tracker
    from tracker._naming import run_dir_for
    from tracker.cli import main

    uri = _uris(stores)[kind]
    direct = _read(uri, experiment="vision")
    argv = ["import", "mlflow", "--tracking-uri", uri, "--experiment", "vision"]
    assert main(argv) == 0
    assert "imported 3 run(s), 20022 row(s), 2 file(s), 1 artifact version(s)" in capsys.readouterr().out
    runs = {r.name: r for r in tracker.Api().runs("vision")}
    assert sorted(runs) == ["fold-0", "fold-1", "train"]
    for name, (imported, rows, files) in direct.items():
        run = runs[name]
        assert run.id == imported.id  # MLflow's run id is kept
        assert (run.state, run.group, run.tags, run.notes) == (
            imported.state,
            "train",
            imported.tags,
            imported.notes,
        )
        assert dict(run.config) == imported.config
        assert [{k: v for k, v in r.items() if k != "_runtime"} for r in run.scan_history()] == rows
        run_dir = run_dir_for(root, "vision", run.id)
        assert {n: (run_dir / "files" / n).read_bytes() for n in files} == files
    assert runs["train"].summary_metrics["loss"] == script.loss(script.STEPS - 1)
    model = tracker.Api().artifact("vision/classifier:latest")
    assert model.logged_by().id == runs["train"].id
    folder = Path(model.download(root / "dl"))
    assert {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()} == (
        script.MODEL_FILES
    )
    assert main(argv) == 0
    assert "imported 0 run(s), 0 row(s), 0 file(s), 0 artifact version(s); 3 already imported" in (
        capsys.readouterr().out
    )
    assert len(tracker.Api().runs("vision")) == 3
