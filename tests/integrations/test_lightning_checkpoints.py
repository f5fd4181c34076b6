"""TrackerLogger checkpoints against Lightning's own callbacks: metadata, two callbacks, downloads."""

from __future__ import annotations

from pathlib import Path

import pytest

pl = pytest.importorskip("lightning.pytorch")
torch = pytest.importorskip("torch")

from lightning.pytorch.callbacks import ModelCheckpoint  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

import tracker  # noqa: E402
from tracker.integrations.lightning import TrackerLogger  # noqa: E402

pytestmark = pytest.mark.filterwarnings(
    "ignore::UserWarning", "ignore::DeprecationWarning", "ignore::FutureWarning"
)


class _Tiny(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(4, 1)

    def training_step(self, batch, i):  # type: ignore[no-untyped-def]
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.layer(x), y)
        self.log("train/loss", loss, on_epoch=True)
        return loss

    def validation_step(self, batch, i) -> None:  # type: ignore[no-untyped-def]
        x, y = batch
        self.log("val/loss", torch.nn.functional.mse_loss(self.layer(x), y))

    def configure_optimizers(self):  # type: ignore[no-untyped-def]
        return torch.optim.SGD(self.parameters(), lr=0.1)


def _fit(tmp_path: Path, logger: TrackerLogger, callbacks: list) -> None:
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    loader = DataLoader(
        TensorDataset(torch.randn(16, 4, generator=g), torch.randn(16, 1, generator=g)), batch_size=8
    )
    trainer = pl.Trainer(
        logger=logger, callbacks=callbacks, max_epochs=2, log_every_n_steps=1, enable_progress_bar=False,
        enable_model_summary=False, accelerator="cpu", default_root_dir=tmp_path,
    )  # fmt: skip
    trainer.fit(_Tiny(), loader, loader)


def _versions(run_id: str) -> list:
    return list(tracker.Api().artifact_versions("model", f"lc/model-{run_id}"))


def test_metadata_is_keyed_by_the_callback_class_with_its_monitor(tmp_path) -> None:
    logger = TrackerLogger(project="lc", save_dir=str(tmp_path), log_model="all")
    _fit(tmp_path, logger, [ModelCheckpoint(monitor="val/loss", mode="min", save_top_k=1)])
    run_id = logger.experiment.id
    logger.finish()
    versions = _versions(run_id)
    assert len(versions) == 2
    for v in versions:
        assert "ProxyType" not in v.metadata
        assert v.metadata["ModelCheckpoint"]["monitor"] == "val/loss"
        assert v.metadata["ModelCheckpoint"]["mode"] == "min"


def test_two_checkpoint_callbacks_both_have_their_files_logged(tmp_path) -> None:
    logger = TrackerLogger(project="lc", save_dir=str(tmp_path), log_model=True)
    by_val = ModelCheckpoint(monitor="val/loss", filename="val-{epoch}", save_top_k=1)
    by_train = ModelCheckpoint(monitor="train/loss_epoch", filename="train-{epoch}", save_top_k=1)
    _fit(tmp_path, logger, [by_val, by_train])
    run_id = logger.experiment.id
    logger.finish()
    logged = {
        v.metadata["original_filename"]: v.metadata["ModelCheckpoint"]["monitor"] for v in _versions(run_id)
    }
    # Lightning's own record of what each callback kept:
    assert logged == {
        Path(by_val.best_model_path).name: "val/loss",
        Path(by_train.best_model_path).name: "train/loss_epoch",
    }


def test_download_artifact_and_use_artifact(tmp_path) -> None:
    logger = TrackerLogger(project="lc", save_dir=str(tmp_path), log_model="all")
    ckpt = ModelCheckpoint(monitor="val/loss", save_top_k=1)
    _fit(tmp_path, logger, [ckpt])
    run_id = logger.experiment.id
    logger.finish()
    # No run active: read through the Api (W&B's path for use_artifact=False / no run).
    folder = TrackerLogger.download_artifact(f"lc/model-{run_id}:latest", save_dir=tmp_path / "dl")
    state = torch.load(Path(folder) / "model.ckpt", weights_only=False)
    assert state["global_step"] == 4
    # With a run: recorded as an input of the consumer's run.
    consumer = TrackerLogger(project="lc")
    used = consumer.use_artifact(f"lc/model-{run_id}:latest", artifact_type="model")
    assert used.type == "model"
    again = TrackerLogger.download_artifact(f"lc/model-{run_id}:latest", save_dir=tmp_path / "dl2")
    assert (Path(again) / "model.ckpt").read_bytes() == (Path(folder) / "model.ckpt").read_bytes()
    consumer_id = consumer.experiment.id
    consumer.finish()
    inputs = tracker.Api().run(f"lc/{consumer_id}").used_artifacts()
    assert [a.name.split(":")[0] for a in inputs] == [f"model-{run_id}"]
