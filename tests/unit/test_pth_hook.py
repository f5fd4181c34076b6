"""The startup hook (``tracker-hook.pth`` + ``_tracker_hook``): ``report_to="tracker"`` in a
script that never imports tracker, its off switch, and its cost at interpreter start."""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SOURCE = REPO / "startup_hook"


def _python(code: str, *args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> str:
    proc = subprocess.run(
        [sys.executable, *args, "-c", code],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        env={**os.environ, "PYTHONWARNINGS": "ignore", **(env or {})},
        cwd=cwd,
    )
    assert proc.returncode == 0, f"stdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-5000:]}"
    return proc.stdout + proc.stderr


def test_installed_files_match_the_source() -> None:
    site = Path(sysconfig.get_paths()["purelib"])
    assert (site / "tracker-hook.pth").read_text() == (SOURCE / "tracker-hook.pth").read_text()
    spec = importlib.util.find_spec("_tracker_hook")
    assert spec is not None
    assert spec.origin is not None
    assert Path(spec.origin).read_text() == (SOURCE / "_tracker_hook.py").read_text(), (
        "the installed _tracker_hook.py is a stale copy: rerun `pip install -e . "
        "--config-settings editable_mode=strict`"
    )


def test_startup_arms_one_finder_and_imports_nothing_else() -> None:
    code = (
        "import sys\n"
        "print([type(f).__module__ + '.' + type(f).__name__ for f in sys.meta_path][0])\n"
        "print(sorted(m for m in sys.modules if m.startswith(('tracker', 'transformers', '__future__'))))\n"
    )
    on = _python(code).splitlines()
    assert on[:2] == ["_tracker_hook._Finder", "[]"]
    off = _python(code, env={"TRACKER_NO_HOOK": "1"}).splitlines()
    assert off[0] != "_tracker_hook._Finder"
    # Arming imports nothing: the same modules are loaded with the hook on and off, and the
    # hook module's own imports are os and sys, which site has loaded before any .pth line.
    modules = "import sys; print(sorted(sys.modules))"
    with_hook = set(ast.literal_eval(_python(modules)))
    assert with_hook == set(ast.literal_eval(_python(modules, env={"TRACKER_NO_HOOK": "true"})))
    assert {"_tracker_hook", "os", "sys"} <= with_hook
    tree = ast.parse((SOURCE / "_tracker_hook.py").read_text())
    top = {a.name for n in tree.body if isinstance(n, ast.Import) for a in n.names}
    assert top == {"os", "sys"}
    assert not any(isinstance(n, ast.ImportFrom) for n in tree.body)


def test_startup_cost_is_under_a_millisecond() -> None:
    # -X importtime: the hook module's own import (site runs the .pth line during startup).
    best = min(
        int(
            re.search(
                r"import time:\s+(\d+) \|\s+\d+ \|\s+_tracker_hook$",
                _python("pass", "-X", "importtime"),
                re.M,
            )[1]
        )
        for _ in range(5)
    )
    assert best < 1000, f"_tracker_hook took {best} us at interpreter start"


_TRAIN = """
import sys
import torch, transformers

class Data(torch.utils.data.Dataset):
    def __init__(self):
        g = torch.Generator().manual_seed(0)
        self.x = torch.randint(0, 50, (8, 8), generator=g)
        self.y = torch.randint(0, 2, (8,), generator=g)
    def __len__(self):
        return 8
    def __getitem__(self, i):
        return {"input_ids": self.x[i], "labels": self.y[i]}

torch.manual_seed(0)
cfg = transformers.BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                              intermediate_size=32, max_position_embeddings=16)
model = transformers.BertForSequenceClassification(cfg)
def trainer(report_to):
    args = transformers.TrainingArguments("out", max_steps=4, logging_steps=2, per_device_train_batch_size=4,
                                          save_strategy="no", use_cpu=True, disable_tqdm=True,
                                          report_to=report_to)
    return transformers.Trainer(model=model, args=args, train_dataset=Data())

try:
    everything = trainer("all")
    print("ALL", sorted(type(c).__name__ for c in everything.callback_handler.callbacks))
    trainer("tracker").train()
except ValueError as exc:
    print("REFUSED", exc)
print("IMPORTED_BY_HOOK", "tracker" in sys.modules)
"""


def test_report_to_tracker_and_all_without_import_tracker(tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    pytest.importorskip("accelerate")
    script = tmp_path / "train.py"
    script.write_text(_TRAIN)
    env = {"TRACKER_PROJECT": "hook", "TRACKER_FINISH_ON_TRAIN_END": "1"}
    out = _run_script(script, env=env, cwd=tmp_path)
    assert "'TrackerCallback'" in out.split("ALL", 1)[1].splitlines()[0]
    assert "IMPORTED_BY_HOOK True" in out

    import tracker

    (run,) = tracker.Api().runs("hook")
    assert run.state == "finished"
    rows = run.history(pandas=False)
    assert [r["train/global_step"] for r in rows if "train/loss" in r] == [2, 4]


def test_no_hook_env_turns_it_off() -> None:
    pytest.importorskip("transformers")
    code = (
        "import sys\n"
        "from transformers.integrations import integration_utils as iu\n"
        "names = iu.get_available_reporting_integrations()\n"
        "print('tracker' in iu.INTEGRATION_TO_CALLBACK, 'tracker' in names, 'tracker' in sys.modules)\n"
    )
    # The registry loads (it imports torch, as Trainer does) and tracker stays out of it.
    assert _python(code, env={"TRACKER_NO_HOOK": "1"}).split() == ["False", "False", "False"]


def _run_script(script: Path, *, env: dict[str, str], cwd: Path) -> str:
    proc = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        env={**os.environ, "PYTHONWARNINGS": "ignore", **env},
        cwd=cwd,
    )
    assert proc.returncode == 0, f"stdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-5000:]}"
    return proc.stdout
