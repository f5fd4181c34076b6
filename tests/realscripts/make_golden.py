"""Make the goldens of the real-scripts tests: what each script logged under real wandb, offline.

The goldens in ``golden/`` were produced by this command, from the repository root::

    python3 -m venv /work/venvs/wandb
    /work/venvs/wandb/bin/pip install -c .ci/constraints.txt wandb==0.31.0 torch==2.13.0 \
        tensorboard matplotlib numpy transformers==5.25.0 accelerate==1.16.0 plotly
    /work/venvs/wandb/bin/python tests/realscripts/make_golden.py

Each script of ``scripts/`` runs in a fresh temporary folder with ``import wandb`` and
``WANDB_MODE=offline`` (``WANDB_DIR``, ``WANDB_DATA_DIR`` and ``WANDB_CACHE_DIR`` inside it),
then the ``.wandb`` files are read with wandb's own protobuf ``Record`` (framed as a
LevelDB log, which is what wandb writes) and reduced to the compact shape the test compares
(:func:`run_shape`): project, name, group, job type, tags, notes, config, summary, history
rows (``_step`` kept, ``_runtime``/``_timestamp`` dropped), tables and media reduced to
what two SDKs can agree on, and logged artifacts (name, type, aliases, metadata,
description, file paths).

What W&B's offline mode cannot do is said in each golden's ``notes``, with what the golden
holds instead: ``Api`` and ``use_artifact`` need W&B's server, so the ``promote`` and
``export`` stages are not run under wandb (their expected outcome is derived from the
runs wandb recorded, by the rules of W&B's documentation), and the ``evaluate`` stage of
``model_eval.py`` runs with ``Run.use_artifact`` served from the ``prepare`` stage's
offline records (everything else in it is real wandb). CI never needs wandb.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SCRIPTS = HERE / "scripts"
GOLDEN = HERE / "golden"
COMMAND = "/work/venvs/wandb/bin/python tests/realscripts/make_golden.py"
DROP_ROW_KEYS = {"_runtime", "_timestamp", "_wandb"}
#: Wall-clock values (HF's *runtime / *_per_second, cleanrl's SPS): kept as null so that the
#: goldens are the same on every run of this script; the test compares their keys and steps.
TIMING = ("runtime", "per_second", "SPS")

# ----------------------------------------------------------------------------- reading .wandb


def _frames(path: Path) -> list[bytes]:
    """The records of a ``.wandb`` file: a 7-byte header, then a LevelDB log of 32 KiB blocks."""
    data = path.read_bytes()
    if data[:4] != b":W&B":
        raise ValueError(f"{path}: not a .wandb file")
    out, buf, pos, block = [], b"", 7, 32768
    while pos + 7 <= len(data):
        if block - pos % block < 7:
            pos += block - pos % block
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        chunk = data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind == 1:  # FULL
            out.append(chunk)
        elif kind == 2:  # FIRST
            buf = chunk
        elif kind == 3:  # MIDDLE
            buf += chunk
        elif kind == 4:  # LAST
            out.append(buf + chunk)
            buf = b""
    return out


def _items(items: Any) -> dict[str, Any]:
    """History/summary items (``key`` or ``nested_key``) as a nested dict."""
    out: dict[str, Any] = {}
    for item in items:
        path = [item.key] if item.key else list(item.nested_key)
        node = out
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = json.loads(item.value_json)
    return out


def read_run(run_dir: Path) -> dict[str, Any]:
    """Everything the test compares, from one offline run folder."""
    from wandb.proto import wandb_internal_pb2 as pb

    (log,) = run_dir.glob("*.wandb")
    run: dict[str, Any] = {"history": [], "summary": {}, "artifacts": [], "config": {}}
    for raw in _frames(log):
        rec = pb.Record()
        rec.ParseFromString(raw)
        kind = rec.WhichOneof("record_type")
        if kind == "run":
            r = rec.run
            run.update(
                id=r.run_id,
                project=r.project,
                name=r.display_name,
                group=r.run_group or None,
                job_type=r.job_type or None,
                tags=list(r.tags),
                notes=r.notes or None,
            )
            for u in r.config.update:
                run["config"][u.key] = json.loads(u.value_json)
        elif kind == "config":
            for u in rec.config.update:
                run["config"][u.key] = json.loads(u.value_json)
            for rm in rec.config.remove:
                run["config"].pop(rm.key, None)
        elif kind == "history":
            run["history"].append(_items(rec.history.item))
        elif kind == "summary":
            run["summary"].update(_items(rec.summary.update))
            for rm in rec.summary.remove:
                run["summary"].pop(rm.key, None)
        elif kind == "artifact":
            a = rec.artifact
            run["artifacts"].append(
                {
                    "name": a.name,
                    "type": a.type,
                    "aliases": sorted(a.aliases),
                    "metadata": json.loads(a.metadata or "{}"),
                    "description": a.description or None,
                    "files": {c.path: c.local_path for c in a.manifest.contents},
                }
            )
    run["config"].pop("_wandb", None)
    run["dir"] = str(run_dir)
    return run


def media(value: Any, files: Path) -> Any:
    """A logged value as the test compares it: tables by content, images by size, others by type."""
    if not (isinstance(value, dict) and "_type" in value):
        return value
    kind = value["_type"]
    if kind == "table-file":
        table = json.loads((files / value["path"]).read_text())
        return {"_type": "table", "columns": table["columns"], "data": table["data"]}
    if kind == "image-file":
        return {
            "_type": "image",
            "width": value["width"],
            "height": value["height"],
            "format": value["format"],
        }
    return {"_type": kind.removesuffix("-file")}


def _value(key: str, value: Any, files: Path) -> Any:
    return None if any(t in key for t in TIMING) else media(value, files)


def run_shape(run: dict[str, Any]) -> dict[str, Any]:
    """The compact, SDK-neutral shape of one run (see the module docstring)."""
    files = Path(run["dir"]) / "files"
    rows = [
        {k: _value(k, v, files) for k, v in sorted(row.items()) if k not in DROP_ROW_KEYS}
        for row in run["history"]
    ]
    summary = {k: _value(k, v, files) for k, v in sorted(run["summary"].items()) if not k.startswith("_")}
    return {
        "project": run["project"],
        "name": run["name"],
        "group": run["group"],
        "job_type": run["job_type"],
        "tags": run["tags"],
        "notes": run["notes"],
        "config": run["config"],
        "summary": summary,
        "history": rows,
        "artifacts": [  # wandb's own run_table artifacts (one per logged Table) are its internals
            {k: (sorted(v) if k == "files" else v) for k, v in a.items()}
            for a in run["artifacts"]
            if a["type"] != "run_table"
        ],
    }


# ----------------------------------------------------------------------------- running scripts


def run_script(
    name: str,
    *args: str,
    cwd: Path,
    env: dict[str, str] | None = None,
    runner: str | None = None,
    path: Path | None = None,
) -> str:
    """Run ``scripts/<name>`` (or a copy of it at ``path``) under wandb offline in ``cwd``; its stdout."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    environ.update(
        WANDB_MODE="offline",
        WANDB_DIR=str(cwd),
        WANDB_DATA_DIR=str(cwd / "wandb-data"),
        WANDB_CACHE_DIR=str(cwd / "wandb-cache"),
        WANDB_CONFIG_DIR=str(cwd / "wandb-config"),
        WANDB_SILENT="true",
        MPLBACKEND="Agg",
        PYTHONHASHSEED="0",
        **(env or {}),
    )
    argv = [sys.executable, *([runner] if runner else []), str(path or SCRIPTS / name), *args]
    proc = subprocess.run(argv, cwd=cwd, env=environ, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(f"{name} {args} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def runs_in(cwd: Path, after: set[Path] | None = None) -> list[dict[str, Any]]:
    """The offline runs under ``cwd/wandb``, oldest first (those not in ``after``)."""
    dirs = sorted((cwd / "wandb").glob("offline-run-*"), key=lambda p: (p.stat().st_mtime, p.name))
    return [read_run(d) for d in dirs if d not in (after or set())]


def save(name: str, golden: dict[str, Any]) -> None:
    golden = {"script": f"scripts/{name}.py", "made_by": COMMAND, "wandb": _wandb_version(), **golden}
    (GOLDEN / f"{name}.json").write_text(json.dumps(golden, indent=1, sort_keys=True) + "\n")
    print(f"wrote golden/{name}.json")


def _wandb_version() -> str:
    import wandb

    return str(wandb.__version__)


# ----------------------------------------------------------------------------- one per script


def golden_cleanrl(tmp: Path) -> None:
    # Run from the folder that holds it (as `python dqn.py` in a cleanrl checkout): W&B's
    # save_code saves only a program under the run's root.
    local = tmp / "cleanrl_reinforce.py"
    shutil.copyfile(SCRIPTS / local.name, local)
    run_script("cleanrl_reinforce.py", cwd=tmp, path=local)
    (run,) = runs_in(tmp)
    code = Path(run["dir"]) / "files" / "code"
    save(
        "cleanrl_reinforce",
        {
            "notes": [
                "sync_tensorboard=True: wandb reads the SummaryWriter's event files and logs each "
                "TensorBoard step as one row with global_step = the TensorBoard step.",
                "charts/SPS is wall-clock: compare its steps, not its values.",
                "add_text is not mirrored by wandb 0.31 (no row carries 'hyperparameters').",
                "save_code=True: wandb saved the program as the run file code/<path> ('code_files'); "
                "tracker logs it as a 'code' artifact (named as W&B's run.log_code() names its own).",
            ],
            "runs": [run_shape(run)],
            "code_files": sorted(str(p.relative_to(code)) for p in code.rglob("*") if p.is_file()),
        },
    )


def golden_registry(tmp: Path) -> None:
    run_script("registry_automation.py", "train", cwd=tmp)
    (run,) = runs_in(tmp)
    shape = run_shape(run)
    (art,) = shape["artifacts"]
    confusion = json.loads(Path(run["artifacts"][0]["files"]["confusion.table.json"]).read_text())
    correct = sum(row[2] for row in confusion["data"] if row[0] == row[1])
    # The promote stage needs W&B's server: its outcome follows W&B's documented rules for
    # Artifact.save() (metadata/description/aliases replaced) and link_artifact (the
    # collection's version is the same artifact, with the link's aliases plus latest).
    metadata = {**art["metadata"], "status": "approved", "reviewer": "ci"}
    aliases = sorted({*art["aliases"], "production"} - {"candidate"})
    save(
        "registry_automation",
        {
            "notes": [
                "Stage 'train' ran under wandb offline; 'promote' needs W&B's server (Api, "
                "use_artifact, link_artifact), so 'promote_result' is the documented outcome derived "
                "from the train stage's artifact record, not a wandb recording.",
                "Artifact 'aliases' as recorded offline: the user's plus 'latest'.",
            ],
            "runs": [shape],
            "promote_result": {
                "aliases": aliases,
                "metadata": metadata,
                "description": "approved by the promote job",
                "correct": correct,
                "confusion_columns": confusion["columns"],
                "linked_metadata": metadata,
                "linked_aliases": ["latest", "staging"],
            },
        },
    )


_USE_ARTIFACT_STUB = '''
"""Serve Run.use_artifact from the prepare stage's offline records (W&B offline refuses it)."""
import json, os, runpy, shutil, sys, tempfile
import wandb
from wandb.sdk import wandb_run

ARTIFACTS = json.loads(os.environ["GOLDEN_ARTIFACTS"])
USED = []

class OfflineArtifact:
    def __init__(self, record):
        self.record = record
    def download(self, root=None):
        root = root or tempfile.mkdtemp()
        for path, local in self.record["files"].items():
            os.makedirs(os.path.dirname(os.path.join(root, path)) or root, exist_ok=True)
            shutil.copyfile(local, os.path.join(root, path))
        return root
    def get(self, name):
        with open(self.record["files"][name + ".table.json"]) as f:
            return wandb.Table.from_json(json.load(f), None)

def use_artifact(self, artifact_or_name, type=None, aliases=None, use_as=None):
    name, _, alias = artifact_or_name.partition(":")
    USED.append(artifact_or_name)
    (record,) = [a for a in ARTIFACTS if a["name"] == name and alias in a["aliases"]]
    return OfflineArtifact(record)

wandb_run.Run.use_artifact = use_artifact
script = sys.argv[1]
sys.argv = sys.argv[1:]
runpy.run_path(script, run_name="__main__")
print("USED " + json.dumps(USED))
'''


def golden_model_eval(tmp: Path) -> None:
    run_script("model_eval.py", "prepare", cwd=tmp)
    (prepare,) = runs_in(tmp)
    before = set((tmp / "wandb").glob("offline-run-*"))
    stub = tmp / "use_artifact_stub.py"
    stub.write_text(_USE_ARTIFACT_STUB)
    out = run_script(
        "model_eval.py",
        "evaluate",
        cwd=tmp,
        runner=str(stub),
        env={"GOLDEN_ARTIFACTS": json.dumps(prepare["artifacts"])},
    )
    (evaluate,) = runs_in(tmp, before)
    used = json.loads(next(line for line in out.splitlines() if line.startswith("USED "))[5:])
    save(
        "model_eval",
        {
            "notes": [
                "W&B offline refuses use_artifact: the evaluate stage ran with Run.use_artifact "
                "served from the prepare stage's offline artifact records (download() copies its "
                "files, get() reads its table with wandb.Table.from_json); the rest is real wandb.",
                "'used' lists what the evaluate stage asked use_artifact for.",
            ],
            "runs": [run_shape(prepare), run_shape(evaluate)],
            "used": used,
        },
    )


def golden_cv_sweep(tmp: Path) -> None:
    params = tmp / "sweep-params.yaml"
    params.write_text("alpha:\n  value: 0.5\n")
    # The folds clear WANDB_* (WANDB_MODE too): `wandb offline` keeps them offline, as users do.
    subprocess.run(
        [str(Path(sys.executable).with_name("wandb")), "offline"], cwd=tmp, check=True, capture_output=True
    )
    # What `wandb agent` sets for the trial it starts: sweep id, run id, project, parameters.
    run_script(
        "cv_sweep.py",
        cwd=tmp,
        env={
            "WANDB_SWEEP_ID": "SWEEP",
            "WANDB_RUN_ID": "TRIAL",
            "WANDB_PROJECT": "cv sweep",
            "WANDB_SWEEP_PARAM_PATH": str(params),
        },
    )
    runs = runs_in(tmp)
    parent = next(r for r in runs if r["id"] == "TRIAL")
    folds = sorted((r for r in runs if r is not parent), key=lambda r: r["name"])
    save(
        "cv_sweep",
        {
            "notes": [
                "Made as `wandb agent` starts a trial (WANDB_SWEEP_ID, WANDB_RUN_ID, WANDB_PROJECT, "
                "WANDB_SWEEP_PARAM_PATH with alpha=0.5); the folds run with `wandb offline` set.",
                "'<sweep>' stands for the sweep id and '<trial>' for the trial run's name (or id, "
                "which wandb offline uses: its runs have no generated name).",
            ],
            "sweep_params": {"alpha": 0.5},
            "runs": [
                _placeholders(run_shape(r), {"SWEEP": "<sweep>", "TRIAL": "<trial>"})
                for r in [parent, *folds]
            ],
        },
    )


def _placeholders(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, str):
        for real, placeholder in names.items():
            value = value.replace(real, placeholder)
        return value
    if isinstance(value, list):
        return [_placeholders(v, names) for v in value]
    if isinstance(value, dict):
        return {k: _placeholders(v, names) for k, v in value.items()}
    return value


def golden_matplotlib(tmp: Path) -> None:
    run_script("matplotlib_charts.py", cwd=tmp)
    (run,) = runs_in(tmp)
    save(
        "matplotlib_charts",
        {
            "notes": [
                "wandb logs the pyplot module as a Plotly chart (plotly installed) where matplotlib can "
                "be converted; tracker logs the current figure as an image. Compared: key, step and that "
                "a chart was logged; the Figure passed to Image is compared by size.",
            ],
            "runs": [run_shape(run)],
        },
    )


def golden_hf(tmp: Path) -> None:
    run_script("hf_callback.py", cwd=tmp)
    (run,) = runs_in(tmp)
    save(
        "hf_callback",
        {
            "notes": [
                "Timing keys (*runtime, *_per_second) are compared by presence only.",
                "config: WandbCallback logs all of TrainingArguments and the model config; "
                "hub_token is compared by presence (tracker redacts it).",
            ],
            "runs": [run_shape(run)],
        },
    )


def golden_export(tmp: Path) -> None:
    run_script("api_export.py", "train", cwd=tmp)
    runs = runs_in(tmp)
    sys.path.insert(0, str(SCRIPTS))
    import api_export  # the script's own pure function: what the export stage writes back

    expected = []
    for run in runs:
        history = [{k: row.get(k) for k in ("epoch", "val_loss")} for row in run["history"]]
        history = [row for row in history if row["val_loss"] is not None]
        expected.append(
            {
                "name": run["name"] + " (exported)",
                "exported": True,
                "lr": run["config"]["lr"],
                **api_export.best_of(history),
            }
        )
    save(
        "api_export",
        {
            "notes": [
                "Stage 'train' ran under wandb offline; 'export' needs W&B's Api (a server), so "
                "'export_result' is computed with the script's own best_of() from the history wandb "
                "recorded, as the export stage would write it back.",
                "'standard_files' are the files W&B's run.files() lists for every run besides media.",
            ],
            "runs": [run_shape(r) for r in runs],
            "export_result": sorted(expected, key=lambda r: r["lr"]),
            "standard_files": [
                "config.yaml",
                "output.log",
                "requirements.txt",
                "wandb-metadata.json",
                "wandb-summary.json",
            ],
        },
    )


GOLDENS = {
    "cleanrl_reinforce": golden_cleanrl,
    "registry_automation": golden_registry,
    "model_eval": golden_model_eval,
    "cv_sweep": golden_cv_sweep,
    "matplotlib_charts": golden_matplotlib,
    "hf_callback": golden_hf,
    "api_export": golden_export,
}


def main(names: list[str]) -> None:
    GOLDEN.mkdir(exist_ok=True)
    for name in names or list(GOLDENS):
        tmp = Path(tempfile.mkdtemp(prefix=f"golden-{name}-"))
        try:
            GOLDENS[name](tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1:])
