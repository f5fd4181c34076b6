"""Hugging Face ``Trainer`` with ``report_to="tracker"`` (needs ``tracker[hf]``).

A tiny BERT built from a config (no download); a few seconds on CPU.
"""

import tempfile

import torch
from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments

import tracker  # importing tracker registers report_to="tracker"


class Toy(torch.utils.data.Dataset):
    def __init__(self, n: int) -> None:
        self.x = torch.randint(0, 64, (n, 12))
        self.y = (self.x[:, 0] > 32).long()

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> dict:
        return {"input_ids": self.x[i], "labels": self.y[i]}


config = BertConfig(
    vocab_size=64,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=64,
    max_position_embeddings=16,
)
with tempfile.TemporaryDirectory() as out:
    args = TrainingArguments(
        out,
        report_to="tracker",
        max_steps=20,
        logging_steps=5,
        eval_strategy="steps",
        eval_steps=10,
        per_device_train_batch_size=8,
        save_strategy="no",
        use_cpu=True,
        disable_tqdm=True,
        learning_rate=1e-3,
    )
    trainer = Trainer(
        model=BertForSequenceClassification(config), args=args, train_dataset=Toy(128), eval_dataset=Toy(32)
    )
    trainer.train()
    trainer.evaluate()
run_id = tracker.run.id
tracker.finish()
print(f"logged run {run_id}")
