"""TrackerCallback with a real Trainer on a tiny randomly initialised BERT; report_to registration."""

from __future__ import annotations

import subprocess
import sys

import pytest

transformers = pytest.importorskip("transformers")
torch = pytest.importorskip("torch")
pytest.importorskip("accelerate")

import tracker  # noqa: E402

pytestmark = pytest.mark.filterwarnings(
    "ignore::UserWarning", "ignore::FutureWarning", "ignore::DeprecationWarning"
)


class _Data(torch.utils.data.Dataset):
    def __init__(self, n: int) -> None:
        g = torch.Generator().manual_seed(0)
        self.x = torch.randint(0, 50, (n, 8), generator=g)
        self.y = torch.randint(0, 2, (n,), generator=g)

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> dict:
        return {"input_ids": self.x[i], "labels": self.y[i]}


def _model():  # type: ignore[no-untyped-def]
    cfg = transformers.BertConfig(
        vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32, max_position_embeddings=16,
    )  # fmt: skip
    return transformers.BertForSequenceClassification(cfg)


def _args(tmp_path, **kw):  # type: ignore[no-untyped-def]
    base = dict(
        max_steps=4, logging_steps=2, eval_strategy="steps", eval_steps=2, per_device_train_batch_size=4,
        save_strategy="no", use_cpu=True, disable_tqdm=True, report_to="tracker",
    )  # fmt: skip
    base.update(kw)
    return transformers.TrainingArguments(str(tmp_path / "out"), **base)


def test_report_to_tracker_trains_and_logs(tmp_path, read_run, monkeypatch) -> None:
    monkeypatch.setenv("TRACKER_PROJECT", "hf")
    monkeypatch.setenv("TRACKER_WATCH", "gradients")
    trainer = transformers.Trainer(
        model=_model(),
        args=_args(tmp_path, learning_rate=1e-3),
        train_dataset=_Data(16),
        eval_dataset=_Data(8),
    )
    names = [type(c).__name__ for c in trainer.callback_handler.callbacks]
    assert "TrackerCallback" in names
    trainer.train()
    trainer.evaluate()  # lands in the same run: train end does not finish it
    run_id = tracker.run.id
    tracker.finish()
    run, rows = read_run("hf", run_id)
    assert run.state == "finished"
    assert run.config["learning_rate"] == 1e-3
    assert run.config["hidden_size"] == 16
    assert run.config["model/num_parameters"] > 0
    assert [r["train/global_step"] for r in rows if "train/loss" in r] == [2, 4]
    assert [r["train/global_step"] for r in rows if "eval/loss" in r] == [2, 4, 4]
    assert "train_runtime" in run.summary
    assert not any("train/train_runtime" in r for r in rows)
    assert all("train/global_step" in r for r in rows)


def test_report_to_all_includes_tracker_and_cli_flag() -> None:
    assert "tracker" in transformers.TrainingArguments("x", report_to="all").report_to
    parser = transformers.HfArgumentParser(transformers.TrainingArguments)
    (args,) = parser.parse_args_into_dataclasses(["--output_dir", "x", "--report_to", "tracker"])
    assert args.report_to == ["tracker"]


def test_registration_happens_on_transformers_import_without_importing_it() -> None:
    code = (
        "import sys, tracker\n"
        "assert 'transformers' not in sys.modules\n"
        "from transformers.integrations import integration_utils as iu\n"
        "print(iu.INTEGRATION_TO_CALLBACK['tracker'].__module__)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "tracker.integrations.huggingface"


def test_non_zero_process_logs_nothing(tmp_path) -> None:
    from tracker.integrations.huggingface import TrackerCallback

    cb = TrackerCallback()
    state = transformers.TrainerState()
    state.is_world_process_zero = False
    cb.on_train_begin(_args(tmp_path), state, transformers.TrainerControl(), model=_model())
    cb.on_log(_args(tmp_path), state, transformers.TrainerControl(), logs={"loss": 1.0})
    assert tracker.run is None
    assert cb.run is None


def test_bad_env_value_names_the_variable(tmp_path, monkeypatch) -> None:
    from tracker.integrations.huggingface import TrackerCallback

    monkeypatch.setenv("TRACKER_WATCH", "weights")
    with pytest.raises(tracker.errors.UsageError, match="TRACKER_WATCH"):
        TrackerCallback().setup(_args(tmp_path), transformers.TrainerState(), _model())
