"""Real W&B scripts run unchanged under ``import tracker as wandb`` and log what wandb logged.

Each script of ``scripts/`` (one per kind of script issue 19 found broken) runs in a
subprocess with ``REALSCRIPTS_SDK=tracker`` (its one import line becomes ``import tracker as
wandb``) and a fresh ``TRACKER_DIR``; what tracker recorded is read back through
``tracker.Api`` and compared with ``golden/<script>.json``: what the same script logged under
real wandb 0.31 offline (made by ``make_golden.py``; its docstring has the command). The
goldens' ``notes`` say where W&B's offline mode could not record something and what the
golden holds instead.

The scripts start together (a thread each, stages in order) so that the folder's wall
time is that of the slowest script, not the sum.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

import tracker

HERE = Path(__file__).resolve().parent
SCRIPTS = HERE / "scripts"
GOLDEN = HERE / "golden"
TIMEOUT_S = 240  # a script that hangs (the fold workers of cv_sweep waiting forever) fails, never blocks
TIMING = ("runtime", "per_second", "SPS")  # wall-clock values: compared by presence and step only


def golden(name: str) -> dict[str, Any]:
    return json.loads((GOLDEN / f"{name}.json").read_text())


# ----------------------------------------------------------------------------- running


class Launch:
    """One script's stages, run in order on a thread; ``result()`` waits for them."""

    def __init__(
        self,
        tmp: Path,
        stages: list[list[str]],
        env: dict[str, str] | None = None,
        timeout: float = TIMEOUT_S,
        copies: tuple[str, ...] = (),
    ) -> None:
        self.cwd = tmp
        self.root = tmp / "tracker-root"
        for name in copies:  # scripts run from the folder that holds them (save_code saves them)
            shutil.copyfile(SCRIPTS / name, tmp / name)
        self.stages, self.env, self.timeout = stages, env or {}, timeout
        self.outputs: list[subprocess.CompletedProcess[str]] = []
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._main, daemon=True)
        self.thread.start()

    def _main(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TRACKER_", "WANDB_"))}
        env.update(
            TRACKER_DIR=str(self.root),
            REALSCRIPTS_SDK="tracker",
            MPLBACKEND="Agg",
            PYTHONHASHSEED="0",
            TRACKER_CONSOLE="off",
            TF_CPP_MIN_LOG_LEVEL="3",
            **self.env,
        )
        try:
            for argv in self.stages:
                proc = subprocess.Popen(
                    [sys.executable, *argv],
                    cwd=self.cwd,
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                    stdin=subprocess.DEVNULL,
                )
                try:
                    out, err = proc.communicate(timeout=self.timeout)
                except subprocess.TimeoutExpired:
                    out, err = _kill_tree(proc)
                    raise AssertionError(
                        f"{argv[-1]!r} still running after {self.timeout} s (killed):\n"
                        f"{err[-4000:]}\n{out[-2000:]}"
                    ) from None
                self.outputs.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
                if proc.returncode != 0:
                    break
        except BaseException as exc:  # reported by result()
            self.error = exc

    def result(self) -> Launch:
        """Wait; fail with the script's own traceback if a stage failed."""
        self.thread.join()
        if self.error is not None:
            raise AssertionError(str(self.error))
        last = self.outputs[-1]
        if last.returncode != 0:
            raise AssertionError(
                f"{last.args[1:]} exited {last.returncode}:\n{last.stderr[-4000:]}\n{last.stdout[-2000:]}"
            )
        return self

    def printed(self, tag: str) -> Any:
        """The JSON a stage printed after ``tag`` (``RESULT``)."""
        for proc in self.outputs:
            for line in proc.stdout.splitlines():
                if line.startswith(tag + " "):
                    return json.loads(line[len(tag) + 1 :])
        raise AssertionError(f"no {tag} line in the output: {[p.stdout[-2000:] for p in self.outputs]}")


def _kill_tree(proc: subprocess.Popen[str]) -> tuple[str, str]:
    """Kill a timed-out stage and every process it started (the agent starts its trial in a
    session of its own, whose fold workers wait forever); its output so far."""
    import psutil

    try:
        family = [*psutil.Process(proc.pid).children(recursive=True), psutil.Process(proc.pid)]
    except psutil.NoSuchProcess:
        family = []
    for p in family:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(family, timeout=10)
    return proc.communicate()


def _sweep_agent_code(project: str) -> str:
    """A sweep whose program is cv_sweep.py, and one agent run of it (what `tracker agent` does)."""
    config = {
        "program": str(SCRIPTS / "cv_sweep.py"),
        "method": "grid",
        "parameters": {"alpha": {"values": [0.5]}},
    }
    return (
        "import tracker\n"
        f"sweep_id = tracker.sweep({config!r}, project={project!r})\n"
        "print('SWEEP', '\"' + sweep_id + '\"')\n"
        "tracker.agent(sweep_id, count=1)\n"
    )


def _stages() -> dict[str, tuple[list[list[str]], float, tuple[str, ...]]]:
    """Each script's stages (argv after the interpreter), the time limit of each stage, and
    the scripts that run from a copy in the working folder."""

    def script(name: str, *args: str) -> list[str]:
        return [str(SCRIPTS / name), *args]

    return {
        "hf_callback": ([script("hf_callback.py")], TIMEOUT_S, ()),
        "cleanrl_reinforce": ([["cleanrl_reinforce.py"]], TIMEOUT_S, ("cleanrl_reinforce.py",)),
        "registry_automation": (
            [script("registry_automation.py", "train"), script("registry_automation.py", "promote")],
            TIMEOUT_S,
            (),
        ),
        "model_eval": (
            [script("model_eval.py", "prepare"), script("model_eval.py", "evaluate")],
            TIMEOUT_S,
            (),
        ),
        "cv_sweep": ([["-c", _sweep_agent_code("cv sweep")]], 90, ()),
        "matplotlib_charts": ([script("matplotlib_charts.py")], TIMEOUT_S, ()),
        "api_export": ([script("api_export.py", "train"), script("api_export.py", "export")], TIMEOUT_S, ()),
    }


#: Which script's results each test reads (the fixture starts only those of the selected tests).
SCRIPT_OF = {
    "test_cleanrl_sync_tensorboard": "cleanrl_reinforce",
    "test_registry_automation": "registry_automation",
    "test_model_eval_use_artifact_and_tables": "model_eval",
    "test_cv_sweep_folds_in_child_processes": "cv_sweep",
    "test_matplotlib_pyplot_module": "matplotlib_charts",
    "test_hf_callback_subclass": "hf_callback",
    "test_api_export_write_back": "api_export",
    "test_api_export_rename": "api_export",
}


@pytest.fixture(scope="module")
def launched(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Launch]:
    """Start the scripts of the selected tests of this module, all at once."""
    tests = {getattr(item, "originalname", item.name) for item in request.session.items}
    wanted = {SCRIPT_OF[t] for t in tests if t in SCRIPT_OF}
    return {
        name: Launch(tmp_path_factory.mktemp(name), stages, timeout=timeout, copies=copies)
        for name, (stages, timeout, copies) in _stages().items()
        if name in wanted
    }


def test_every_test_names_its_script() -> None:
    tests = {
        name for name in globals() if name.startswith("test_") and name != "test_every_test_names_its_script"
    }
    assert tests == set(SCRIPT_OF), tests ^ set(SCRIPT_OF)
    assert set(SCRIPT_OF.values()) == set(_stages()) == {p.stem for p in GOLDEN.glob("*.json")}


# ----------------------------------------------------------------------------- reading tracker


def _table(run: Any, value: dict[str, Any]) -> dict[str, Any]:
    from tracker.media._read import resolve

    data = json.loads(resolve(run.dir, value).read_text())
    return {"_type": "table", "columns": data["columns"], "data": data["data"]}


def _media(run: Any, value: Any) -> Any:
    if not (isinstance(value, dict) and "_type" in value):
        return value
    kind = value["_type"]
    if kind == "table-file":
        return _table(run, value)
    if kind == "image-file":
        return {
            "_type": "image",
            "width": value["width"],
            "height": value["height"],
            "format": value["format"],
        }
    return {"_type": kind.removesuffix("-file")}


def shape(run: Any) -> dict[str, Any]:
    """A tracker ``Api`` run in the golden's shape (``make_golden.run_shape``)."""
    rows = [
        {k: _media(run, v) for k, v in sorted(row.items()) if k not in ("_runtime", "_timestamp")}
        for row in run.history(pandas=False)
    ]
    return {
        "project": run.project,
        "name": run.name,
        "group": run.group,
        "job_type": run.job_type,
        "tags": list(run.tags),
        "notes": run.notes,
        "config": {k: v for k, v in run.config.items() if k != "_wandb"},
        "summary": {k: _media(run, v) for k, v in sorted(run.summary.items()) if not k.startswith("_")},
        "history": rows,
        "artifacts": [
            {
                "name": a.source_name,
                "type": a.type,
                "aliases": sorted(a.aliases),
                "metadata": a.metadata,
                "description": a.description,
                "files": sorted(e.path for e in a.files()),
            }
            for a in run.logged_artifacts()
        ],
    }


def runs_of(launch: Launch, project: str) -> list[Any]:
    """The project's runs, oldest first."""
    api = tracker.Api(launch.root)
    return sorted(api.runs(project), key=lambda r: r.created_at)


# ----------------------------------------------------------------------------- comparing


def same(want: Any, got: Any, where: str, rel: float = 1e-6) -> None:
    """Equal, floats to ``rel`` (TensorBoard stores float32; wandb prints them short)."""
    if isinstance(want, bool) or isinstance(got, bool):
        assert want == got, f"{where}: {got!r} != golden {want!r}"
    elif isinstance(want, (int, float)) and isinstance(got, (int, float)):
        assert math.isclose(want, got, rel_tol=rel, abs_tol=1e-9), f"{where}: {got!r} != golden {want!r}"
    elif isinstance(want, dict) and isinstance(got, dict):
        assert sorted(want) == sorted(got), f"{where}: keys {sorted(got)} != golden {sorted(want)}"
        for k in want:
            same(want[k], got[k], f"{where}.{k}", rel)
    elif isinstance(want, list) and isinstance(got, list):
        assert len(want) == len(got), f"{where}: {len(got)} items != golden {len(want)}: {got!r} vs {want!r}"
        for i, (w, g) in enumerate(zip(want, got, strict=True)):
            same(w, g, f"{where}[{i}]", rel)
    else:
        assert want == got, f"{where}: {got!r} != golden {want!r}"


def timing(key: str) -> bool:
    return any(t in key for t in TIMING)


def same_rows(want: list[dict[str, Any]], got: list[dict[str, Any]], where: str) -> None:
    """Row by row: the same keys, the same values (timing values only present)."""
    assert len(got) == len(want), f"{where}: {len(got)} rows != golden {len(want)}:\n{got}\n{want}"
    for i, (w, g) in enumerate(zip(want, got, strict=True)):
        assert sorted(g) == sorted(w), f"{where} row {i}: keys {sorted(g)} != golden {sorted(w)}"
        same(
            {k: v for k, v in w.items() if not timing(k)},
            {k: v for k, v in g.items() if not timing(k)},
            f"{where} row {i}",
        )


def same_run(want: dict[str, Any], got: dict[str, Any], fields: tuple[str, ...], where: str) -> None:
    for field in fields:
        if field == "history":
            same_rows(want["history"], got["history"], f"{where}.history")
        elif field == "summary":
            same(
                {k: v for k, v in want["summary"].items() if not timing(k)},
                {k: v for k, v in got["summary"].items() if not timing(k)},
                f"{where}.summary",
            )
        else:
            same(want[field], got[field], f"{where}.{field}")


RUN_FIELDS = (
    "project",
    "name",
    "group",
    "job_type",
    "tags",
    "notes",
    "config",
    "summary",
    "history",
    "artifacts",
)


# ----------------------------------------------------------------------------- the scripts


def test_cleanrl_sync_tensorboard(launched: dict[str, Launch]) -> None:
    """cleanrl-style: every SummaryWriter scalar lands in the run at its TensorBoard step."""
    launch = launched["cleanrl_reinforce"].result()
    (want,) = golden("cleanrl_reinforce")["runs"]
    (run,) = runs_of(launch, want["project"])
    got = shape(run)
    same_run(want, got, ("project", "name", "config"), "run")

    def series(rows: list[dict[str, Any]]) -> dict[str, list[list[Any]]]:
        out: dict[str, list[list[Any]]] = {}
        for row in rows:
            for key, value in row.items():
                if key not in ("_step", "global_step") and "global_step" in row:
                    out.setdefault(key, []).append([row["global_step"], None if timing(key) else value])
        return out

    # save_code=True: wandb saved the program as a run file; tracker logs it as a code artifact.
    code = [a for a in got["artifacts"] if a["type"] == "code"]
    assert [a["files"] for a in code] == [golden("cleanrl_reinforce")["code_files"]], got["artifacts"]
    want_series, got_series = series(want["history"]), series(got["history"])
    # W&B 0.31 does not mirror add_text; the issue asks for text too, so tracker's extra key is expected.
    assert set(got_series) - set(want_series) <= {"hyperparameters"}, sorted(got_series)
    for key, points in want_series.items():
        same(points, got_series.get(key), f"series {key!r}")
    same(
        {k: v for k, v in want["summary"].items() if not timing(k)},
        {k: v for k, v in got["summary"].items() if k in want["summary"] and not timing(k)},
        "summary",
    )


def test_registry_automation(launched: dict[str, Launch]) -> None:
    """Artifacts with aliases and metadata, edited through Api, linked to a registry name with spaces."""
    launch = launched["registry_automation"].result()
    gold = golden("registry_automation")
    (want,) = gold["runs"]
    train = next(r for r in runs_of(launch, want["project"]) if r.job_type == "train")
    got = shape(train)
    # The train stage's artifact as logged is compared through its train-stage fields; its
    # aliases and metadata were edited by promote since, which promote_result checks.
    same_run(want, got, tuple(f for f in RUN_FIELDS if f != "artifacts"), "train run")
    (art,) = got["artifacts"]
    (want_art,) = want["artifacts"]
    same(
        {k: want_art[k] for k in ("name", "type", "files")},
        {k: art[k] for k in ("name", "type", "files")},
        "artifact",
    )
    same(gold["promote_result"], launch.printed("RESULT"), "promote result")
    linked = tracker.Api(launch.root).artifact("model-registry/MNIST Classifier:staging")
    assert linked.metadata == gold["promote_result"]["linked_metadata"]


def test_model_eval_use_artifact_and_tables(launched: dict[str, Launch]) -> None:
    """use_artifact(name:alias).download()/.get(), Table helpers, the predictions table logged."""
    launch = launched["model_eval"].result()
    gold = golden("model_eval")
    want_prepare, want_eval = gold["runs"]
    runs = runs_of(launch, want_prepare["project"])
    got = {r.job_type: r for r in runs}
    same_run(want_prepare, shape(got["prepare"]), RUN_FIELDS, "prepare run")
    same_run(want_eval, shape(got["evaluate"]), RUN_FIELDS, "evaluate run")
    used = sorted(f"{a.source_name}:{alias}" for a in got["evaluate"].used_artifacts() for alias in a.aliases)
    assert set(gold["used"]) <= set(used), used


def test_cv_sweep_folds_in_child_processes(launched: dict[str, Launch]) -> None:
    """W&B's cross-validation example under a sweep agent: folds clear WANDB_* and start their own runs."""
    launch = launched["cv_sweep"].result()
    gold = golden("cv_sweep")
    sweep_id = launch.printed("SWEEP")
    runs = runs_of(launch, gold["runs"][0]["project"])
    parents = [r for r in runs if r.sweep_id == sweep_id]
    assert len(parents) == 1, [(r.name, r.sweep_id) for r in runs]
    (parent,) = parents
    label = parent.name or parent.id
    folds = sorted((r for r in runs if r is not parent), key=lambda r: r.name)
    names = {sweep_id: "<sweep>", label: "<trial>"}

    def placeholders(value: Any) -> Any:
        if isinstance(value, str):
            for real, placeholder in names.items():
                value = value.replace(real, placeholder)
        elif isinstance(value, list):
            value = [placeholders(v) for v in value]
        elif isinstance(value, dict):
            value = {k: placeholders(v) for k, v in value.items()}
        return value

    want_parent, *want_folds = gold["runs"]
    got_parent = placeholders(shape(parent))
    same_run(
        want_parent,
        got_parent,
        ("project", "group", "job_type", "tags", "notes", "config", "summary", "history", "artifacts"),
        "trial run",
    )
    assert len(folds) == len(want_folds), [r.name for r in folds]
    for i, (w, r) in enumerate(zip(want_folds, folds, strict=True)):
        same_run(w, placeholders(shape(r)), RUN_FIELDS, f"fold {i}")


def test_matplotlib_pyplot_module(launched: dict[str, Launch]) -> None:
    """log({"chart": plt}) logs the current figure at each step; Image(fig) keeps the figure's size."""
    launch = launched["matplotlib_charts"].result()
    (want,) = golden("matplotlib_charts")["runs"]
    (run,) = runs_of(launch, want["project"])
    got = shape(run)

    def charts_as_images(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        # wandb converts pyplot to Plotly where it can; tracker keeps the figure as an image.
        return [{k: ({"_type": "chart"} if k == "chart" else v) for k, v in row.items()} for row in rows]

    assert [row["chart"]["_type"] for row in got["history"] if "chart" in row] == ["image"] * 3
    same_rows(charts_as_images(want["history"]), charts_as_images(got["history"]), "history")
    same_run(want, got, ("project", "name", "config", "tags", "notes", "artifacts"), "run")


def test_hf_callback_subclass(launched: dict[str, Launch]) -> None:
    """A WandbCallback subclass (notebook style) using self._wandb: the Trainer's rows and its table."""
    launch = launched["hf_callback"].result()
    (want,) = golden("hf_callback")["runs"]
    (run,) = runs_of(launch, want["project"])
    got = shape(run)
    same_run(want, got, ("project", "name", "tags", "notes", "artifacts"), "run")
    # WandbCallback's config: every TrainingArguments field and the model config. tracker
    # stores hub_token (a secret's placeholder, "<HUB_TOKEN>" here) redacted.
    same(
        {k: v for k, v in want["config"].items() if k != "hub_token"},
        {k: v for k, v in got["config"].items() if k != "hub_token"},
        "config",
    )
    assert "hub_token" in got["config"]
    same_rows(want["history"], got["history"], "history")
    same(
        {k: v for k, v in want["summary"].items() if not timing(k)},
        {k: v for k, v in got["summary"].items() if k in want["summary"] and not timing(k)},
        "summary",
    )
    assert set(want["summary"]) <= set(got["summary"]), sorted(set(want["summary"]) - set(got["summary"]))


def test_api_export_write_back(launched: dict[str, Launch]) -> None:
    """Api write-back: summary.update(), config + update(), _json_dict, history, files()."""
    launch = launched["api_export"].result()
    gold = golden("api_export")
    runs = runs_of(launch, gold["runs"][0]["project"])
    assert len(runs) == len(gold["runs"])
    # Read back through a fresh Api by the script itself; the rename is the next test's.
    result = [{k: v for k, v in r.items() if k != "name"} for r in launch.printed("RESULT")]
    same(
        [{k: v for k, v in r.items() if k != "name"} for r in gold["export_result"]], result, "export result"
    )
    exported = {e["config"]["lr"]: e for e in json.loads((launch.cwd / "export.json").read_text())}
    for want in gold["runs"]:
        lr = want["config"]["lr"]
        run = next(r for r in runs if r.config["lr"] == lr)
        same_run(want, shape(run), ("project", "tags", "history", "artifacts"), f"run lr={lr}")
        e = exported[lr]
        same(
            [{k: row[k] for k in ("epoch", "val_loss")} for row in want["history"] if "val_loss" in row],
            [{k: row[k] for k in ("epoch", "val_loss")} for row in e["history"]],
            f"exported history lr={lr}",
        )
        same({**want["config"], "exported": True}, e["config"], f"exported config lr={lr}")
        best = next(r for r in gold["export_result"] if r["lr"] == lr)
        same(
            {k: best[k] for k in ("best_val_loss", "best_epoch")},
            {k: e["summary"].get(k) for k in ("best_val_loss", "best_epoch")},
            f"exported summary lr={lr}",
        )
        # W&B's run.files(): the standard files of every run, and the logged table under media/table/.
        assert set(gold["standard_files"]) <= set(e["files"]), e["files"]
        tables = [f for f in e["files"] if f.startswith("media/table/") and f.endswith(".table.json")]
        assert len(tables) == 1, e["files"]


def test_api_export_rename(launched: dict[str, Launch]) -> None:
    """Api write-back of the display name: ``run.name = ...; run.update()`` is seen by a fresh Api."""
    launch = launched["api_export"].result()
    gold = golden("api_export")
    same([r["name"] for r in gold["export_result"]], [r["name"] for r in launch.printed("RESULT")], "names")
