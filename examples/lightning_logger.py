"""Lightning with ``TrackerLogger`` (needs ``tracker[lightning]``); a few seconds on CPU."""

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from tracker.integrations.lightning import TrackerLogger


class Regressor(pl.LightningModule):
    def __init__(self, lr: float = 0.05) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.layer = torch.nn.Linear(8, 1)

    def training_step(self, batch, batch_idx):  # type: ignore[no-untyped-def]
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.layer(x), y)
        self.log("train/loss", loss)
        return loss

    def validation_step(self, batch, batch_idx):  # type: ignore[no-untyped-def]
        x, y = batch
        self.log("val/loss", torch.nn.functional.mse_loss(self.layer(x), y))

    def configure_optimizers(self):  # type: ignore[no-untyped-def]
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


if __name__ == "__main__":
    x = torch.randn(128, 8)
    loader = DataLoader(TensorDataset(x, x.sum(1, keepdim=True)), batch_size=16)
    logger = TrackerLogger(project="examples", save_dir="lightning_ckpts")
    model = Regressor()
    logger.watch(model, log="gradients", log_freq=10)
    trainer = pl.Trainer(
        logger=logger,
        max_epochs=2,
        log_every_n_steps=4,
        accelerator="cpu",
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
    )
    trainer.fit(model, loader, loader)
    trainer.validate(model, loader)  # same run: finalize() does not finish it
    logger.finish()
    print(f"logged run {logger.version}")
