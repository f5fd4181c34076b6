"""Hugging Face notebook-style callback: a subclass of W&B's ``WandbCallback``.

Written for this project after the ``WandbPredictionProgressCallback`` of W&B's Hugging
Face guide and notebook (https://docs.wandb.ai/guides/integrations/huggingface, "custom
callbacks"; no code copied): the subclass keeps the parent's logging
(``super().on_evaluate``), runs ``trainer.predict`` on a few validation samples after each
evaluation, and logs a prediction table through ``self._wandb``. The model is a tiny BERT
built from a config (no hub download), trained for two epochs on synthetic token
sequences.

``REALSCRIPTS_SDK=tracker`` swaps the two imports (the only change a user makes):
``import tracker as wandb`` and tracker's ``TrackerCallback`` in place of ``WandbCallback``.
"""

import os

import torch
from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments

if os.environ.get("REALSCRIPTS_SDK") == "tracker":
    import tracker as wandb
    from tracker.integrations.huggingface import TrackerCallback as WandbCallback
else:
    import wandb
    from transformers.integrations import WandbCallback


class TokenDataset(torch.utils.data.Dataset):
    """Sequences of 6 tokens; the label says whether token 3 appears in the first half."""

    def __init__(self, n: int, seed: int) -> None:
        gen = torch.Generator().manual_seed(seed)
        self.ids = torch.randint(1, 10, (n, 6), generator=gen)
        self.labels = (self.ids[:, :3] == 3).any(dim=1).long()

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict:
        return {
            "input_ids": self.ids[i],
            "attention_mask": torch.ones(6, dtype=torch.long),
            "labels": self.labels[i],
        }


class WandbPredictionProgressCallback(WandbCallback):
    """Log a table of predictions on a few validation samples after each evaluation."""

    def __init__(self, trainer, val_dataset, num_samples=4, freq=1):
        super().__init__()
        self.trainer = trainer
        self.sample_dataset = torch.utils.data.Subset(val_dataset, range(num_samples))
        self.freq = freq

    def on_evaluate(self, args, state, control, **kwargs):
        super().on_evaluate(args, state, control, **kwargs)
        if int(state.epoch) % self.freq == 0:
            predictions = self.trainer.predict(self.sample_dataset)
            preds = predictions.predictions.argmax(-1)
            table = self._wandb.Table(columns=["sample", "label", "prediction", "epoch"])
            for i, (pred, label) in enumerate(
                zip(preds.tolist(), predictions.label_ids.tolist(), strict=True)
            ):
                table.add_data(i, label, pred, int(state.epoch))
            self._wandb.log({"sample_predictions": table})


if __name__ == "__main__":
    torch.manual_seed(0)
    wandb.init(project="hf callback", name="tiny-bert")
    config = BertConfig(
        vocab_size=12, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=16, max_position_embeddings=8, num_labels=2,
    )  # fmt: skip
    model = BertForSequenceClassification(config)
    args = TrainingArguments(
        output_dir="out",
        run_name="tiny-bert",
        num_train_epochs=2,
        per_device_train_batch_size=8,
        per_device_eval_batch_size=8,
        learning_rate=5e-3,
        logging_steps=2,
        eval_strategy="epoch",
        save_strategy="no",
        report_to="none",
        seed=0,
        use_cpu=True,
        disable_tqdm=True,
        dataloader_num_workers=0,
    )
    train_ds, val_ds = TokenDataset(32, seed=1), TokenDataset(8, seed=2)
    trainer = Trainer(model=model, args=args, train_dataset=train_ds, eval_dataset=val_ds)
    trainer.add_callback(WandbPredictionProgressCallback(trainer, val_ds, num_samples=4, freq=1))
    trainer.train()
    wandb.finish()
