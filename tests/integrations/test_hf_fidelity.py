"""HF TrackerCallback against the Trainer's own numbers: watch steps, LOG_MODEL=end, W&B subclasses."""

from __future__ import annotations

import pytest

transformers = pytest.importorskip("transformers")
torch = pytest.importorskip("torch")
pytest.importorskip("accelerate")
tokenizers = pytest.importorskip("tokenizers")

import tracker  # noqa: E402
from tracker.integrations.huggingface import STEP_KEY, TrackerCallback  # noqa: E402
from tracker.integrations.torch import histograms  # noqa: E402

pytestmark = pytest.mark.filterwarnings(
    "ignore::UserWarning", "ignore::FutureWarning", "ignore::DeprecationWarning"
)

VOCAB = ["[PAD]", "[UNK]", "the", "cat", "sat", "on", "mat", "dog", "ran", "far"]


class _Data(torch.utils.data.Dataset):
    def __init__(self, n: int) -> None:
        g = torch.Generator().manual_seed(0)
        self.x = torch.randint(0, len(VOCAB), (n, 6), generator=g)
        self.y = torch.randint(0, 2, (n,), generator=g)

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> dict:
        return {"input_ids": self.x[i], "labels": self.y[i]}


def _model():  # type: ignore[no-untyped-def]
    torch.manual_seed(0)
    cfg = transformers.BertConfig(
        vocab_size=len(VOCAB), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32, max_position_embeddings=16,
    )  # fmt: skip
    return transformers.BertForSequenceClassification(cfg)


def _tokenizer():  # type: ignore[no-untyped-def]
    """A word-level tokenizer built here (no hub): 10 tokens."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(VOCAB)}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    return transformers.PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]")


def _args(tmp_path, **kw):  # type: ignore[no-untyped-def]
    base = dict(
        max_steps=4, logging_steps=2, per_device_train_batch_size=4, save_strategy="no", use_cpu=True,
        disable_tqdm=True, report_to="none", learning_rate=1e-3,
    )  # fmt: skip
    base.update(kw)
    return transformers.TrainingArguments(str(tmp_path / "out"), **base)


class _Grads(transformers.TrainerCallback):
    """The Trainer's own view: the gradients each optimizer step applies, by its global_step."""

    def __init__(self, param) -> None:  # type: ignore[no-untyped-def]
        self.param = param
        self.seen: list[tuple[int, list[int]]] = []

    def on_pre_optimizer_step(self, args, state, control, **kwargs):  # type: ignore[no-untyped-def]
        (h,) = histograms([self.param.grad])
        self.seen.append((state.global_step + 1, [int(c) for c in h.histogram]))


def test_watch_histograms_share_the_row_of_their_global_step(tmp_path, read_run, monkeypatch) -> None:
    monkeypatch.setenv("TRACKER_PROJECT", "hfw")
    monkeypatch.setenv("WANDB_WATCH", "gradients")  # W&B's variable, read as the fallback
    model = _model()
    weight = model.classifier.weight
    grads = _Grads(weight)
    cb = TrackerCallback(log_freq=1)
    trainer = transformers.Trainer(
        model=model, args=_args(tmp_path), train_dataset=_Data(16), callbacks=[grads, cb]
    )
    trainer.train()
    run_id = tracker.run.id
    tracker.finish()
    _, rows = read_run("hfw", run_id)
    key = "gradients/classifier.weight"
    logged = [(r[STEP_KEY], [int(v) for v in r[key]["values"]]) for r in rows if key in r]
    assert logged == grads.seen
    assert [step for step, _ in logged] == [1, 2, 3, 4]
    # Steps 2 and 4 are logging steps: their histograms are in the trainer's own rows.
    assert [r[STEP_KEY] for r in rows if key in r and "train/loss" in r] == [2, 4]


def test_log_model_end_logs_what_from_pretrained_needs(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TRACKER_PROJECT", "hfm")
    monkeypatch.setenv("WANDB_LOG_MODEL", "end")
    tokenizer = _tokenizer()
    trainer = transformers.Trainer(
        model=_model(),
        args=_args(tmp_path, learning_rate=3e-3),
        train_dataset=_Data(8),
        processing_class=tokenizer,
        callbacks=[TrackerCallback()],
    )
    trainer.train()
    run_id = tracker.run.id
    tracker.finish()
    folder = tracker.Api().artifact(f"hfm/model-{run_id}:final_model").download(root=str(tmp_path / "dl"))
    loaded = transformers.AutoTokenizer.from_pretrained(folder)
    assert len(loaded) == len(VOCAB)
    assert loaded("the cat sat")["input_ids"] == tokenizer("the cat sat")["input_ids"] == [2, 3, 4]
    config = transformers.AutoConfig.from_pretrained(folder)
    assert config.architectures == ["BertForSequenceClassification"]
    assert transformers.AutoModelForSequenceClassification.from_pretrained(folder).num_parameters() == (
        trainer.model.num_parameters()
    )
    args = torch.load(f"{folder}/training_args.bin", weights_only=False)
    assert args.learning_rate == 3e-3
    assert "BertForSequenceClassification(" in open(f"{folder}/model_architecture.txt").read()


def test_wandb_style_subclass_uses_self_wandb(tmp_path, read_run, monkeypatch) -> None:
    monkeypatch.setenv("TRACKER_PROJECT", "hfs")

    class Predictions(TrackerCallback):
        """The shape of W&B's documented WandbCallback subclasses (sample predictions table)."""

        def __init__(self, trainer) -> None:  # type: ignore[no-untyped-def]
            super().__init__()
            self.trainer = trainer

        def on_evaluate(self, args, state, control, **kwargs):  # type: ignore[no-untyped-def]
            super().on_evaluate(args, state, control, **kwargs)
            if not self._initialized:
                self.setup(args, state, kwargs.get("model"))
            logits = self.trainer.predict(_Data(4)).predictions
            table = self._wandb.Table(columns=["pred"], data=[[int(p)] for p in logits.argmax(-1)])
            self._wandb.log({"sample_predictions": table})

    trainer = transformers.Trainer(model=_model(), args=_args(tmp_path), train_dataset=_Data(8))
    trainer.add_callback(Predictions(trainer))
    trainer.evaluate(_Data(4))
    run_id = tracker.run.id
    tracker.finish()
    _, rows = read_run("hfs", run_id)
    tables = [r["sample_predictions"] for r in rows if "sample_predictions" in r]
    assert len(tables) == 1
    assert tables[0]["_type"] == "table-file"
