"""TrackerLogger under real Lightning training (both namespaces), DDP and the Logger contract."""

from __future__ import annotations

import argparse
import pickle
import textwrap

import pytest

pl = pytest.importorskip("lightning.pytorch")
torch = pytest.importorskip("torch")

import tracker  # noqa: E402
from tracker.integrations.lightning import TrackerLogger  # noqa: E402

pytestmark = pytest.mark.filterwarnings(
    "ignore::UserWarning", "ignore::DeprecationWarning", "ignore::FutureWarning"
)

MODEL = """
import torch
from torch.utils.data import DataLoader, TensorDataset

def make(pl):
    class Tiny(pl.LightningModule):
        def __init__(self, lr=0.1, nested=None):
            super().__init__()
            self.save_hyperparameters()
            self.layer = torch.nn.Linear(4, 1)

        def training_step(self, batch, i):
            x, y = batch
            loss = torch.nn.functional.mse_loss(self.layer(x), y)
            self.log("train/loss", loss)
            return loss

        def validation_step(self, batch, i):
            x, y = batch
            self.log("val/loss", torch.nn.functional.mse_loss(self.layer(x), y))

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)

    g = torch.Generator().manual_seed(0)
    data = TensorDataset(torch.randn(32, 4, generator=g), torch.randn(32, 1, generator=g))
    return Tiny, DataLoader(data, batch_size=8)
"""


def _tiny(pl_module):  # type: ignore[no-untyped-def]
    ns: dict = {}
    exec(MODEL, ns)
    return ns["make"](pl_module)


def _trainer(pl_module, logger, tmp_path, **kw):  # type: ignore[no-untyped-def]
    return pl_module.Trainer(
        logger=logger,
        max_epochs=2,
        log_every_n_steps=2,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
        default_root_dir=tmp_path,
        **kw,
    )


@pytest.mark.parametrize("namespace", ["lightning", "pytorch_lightning"])
def test_fit_validate_logs_metrics_hparams_and_shares_the_run(namespace, tmp_path, read_run) -> None:
    if namespace == "lightning":
        module, logger_type = pl, TrackerLogger
    else:
        module = pytest.importorskip("pytorch_lightning")
        from tracker.integrations.pytorch_lightning import TrackerLogger as PlTrackerLogger

        logger_type = PlTrackerLogger
    tiny_cls, loader = _tiny(module)
    logger = logger_type(project="lt", save_dir=str(tmp_path))
    model = tiny_cls(nested={"a": {"b": 1}})
    trainer = _trainer(module, logger, tmp_path)
    trainer.fit(model, loader, loader)
    assert tracker.run is not None  # finalize does not finish the run
    trainer.validate(model, loader)
    run_id = logger.version
    assert isinstance(run_id, str)
    assert logger.name == "lt"
    logger.finish()
    run, rows = read_run("lt", run_id)
    assert run.state == "finished"
    assert run.config == {"lr": 0.1, "nested": {"a": {"b": 1}}}
    assert run.summary["_lightning_status"] == "success"
    steps = [r["trainer/global_step"] for r in rows]
    assert steps == sorted(steps)
    assert steps[-1] == 8
    train = [r for r in rows if "train/loss" in r]
    val = [r for r in rows if "val/loss" in r]
    assert [r["trainer/global_step"] for r in train] == [1, 3, 5, 7]
    assert [r["trainer/global_step"] for r in val] == [3, 7, 8]  # same-step rows are all kept


def test_finish_on_finalize_and_failed_status(tmp_path, read_run) -> None:
    tiny_cls, loader = _tiny(pl)

    class Boom(tiny_cls):  # type: ignore[misc, valid-type]
        def training_step(self, batch, i):  # type: ignore[no-untyped-def]
            raise RuntimeError("boom")

    logger = TrackerLogger(project="lt", save_dir=str(tmp_path), finish_on_finalize=True)
    with pytest.raises(RuntimeError, match="boom"):
        _trainer(pl, logger, tmp_path).fit(Boom(), loader)
    run, _ = read_run("lt", str(logger.version))
    assert run.state == "failed"
    assert run.summary["_lightning_status"] == "failed"
    assert tracker.run is None


def test_hparams_namespace_media_watch_and_prefix(tmp_path, read_run) -> None:
    tiny_cls, loader = _tiny(pl)
    logger = TrackerLogger(project="lt", save_dir=str(tmp_path), prefix="p")
    logger.log_hyperparams(argparse.Namespace(base_lr=0.5, act=torch.relu, inner=argparse.Namespace(k=2)))
    model = tiny_cls()
    logger.watch(model, log="all", log_freq=2, log_graph=False)
    _trainer(pl, logger, tmp_path).fit(model, loader)
    logger.log_table("tbl", columns=["a", "b"], data=[[1, "x"]], step=8)
    logger.log_text("txt", columns=["t"], data=[["hello"]])
    logger.log_image("img", [torch.zeros(3, 4, 4)], caption=["zeros"])
    with pytest.raises(tracker.errors.UsageError, match="caption"):
        logger.log_image("img", [torch.zeros(3, 4, 4)], caption=["a", "b"])
    logger.experiment.summary["extra"] = 1  # experiment is the Run
    assert isinstance(logger.experiment, tracker.Run)
    logger.finish()
    run, rows = read_run("lt", str(logger.version))
    assert run.config["base_lr"] == 0.5
    assert run.config["act"] == "relu"
    assert run.config["inner"] == {"k": 2}
    assert any("p-train/loss" in r for r in rows)
    hist_rows = [r for r in rows if "gradients/layer.weight" in r]
    assert len(hist_rows) == 4
    assert all("parameters/layer.bias" in r for r in hist_rows)
    assert any("p-tbl" in r for r in rows)
    assert any("p-img" in r for r in rows)
    assert any("p-txt" in r for r in rows)


def test_non_zero_rank_is_a_tolerant_no_op(monkeypatch) -> None:
    from lightning.pytorch.utilities.rank_zero import rank_zero_only

    monkeypatch.setattr(rank_zero_only, "rank", 1)
    logger = TrackerLogger(project="lt")
    logger.experiment.config.update({"a": 1})
    logger.experiment.summary["x"] = 1
    logger.log_metrics({"a": 1.0}, step=0)
    logger.log_hyperparams({"a": 1})
    logger.finalize("success")
    assert tracker.run is None


def test_pickle_round_trip_resumes_the_same_run(read_run) -> None:
    logger = TrackerLogger(project="lt")
    logger.log_metrics({"a": 1.0}, step=0)
    clone = pickle.loads(pickle.dumps(logger))
    assert clone.version == logger.version
    assert clone._experiment is None
    logger.finish()
    clone.log_metrics({"a": 2.0}, step=1)
    clone.finish()
    _, rows = read_run("lt", str(logger.version))
    assert [r["a"] for r in rows] == [1.0, 2.0]


def test_log_model_all_logs_one_artifact_per_checkpoint(tmp_path) -> None:
    if not hasattr(tracker, "Artifact"):
        with pytest.raises(tracker.errors.UnsupportedError, match="artifact"):
            TrackerLogger(log_model="all")
        return
    from lightning.pytorch.callbacks import ModelCheckpoint

    tiny_cls, loader = _tiny(pl)
    logger = TrackerLogger(project="lt", save_dir=str(tmp_path), log_model="all")
    ckpt = ModelCheckpoint(monitor="val/loss", save_top_k=1)
    _trainer(pl, logger, tmp_path, callbacks=[ckpt]).fit(tiny_cls(), loader, loader)
    run = logger.experiment
    logger.finish()
    versions = tracker.Api().artifact_versions("model", f"lt/model-{run.id}")  # type: ignore[attr-defined]
    assert len(versions) == 2


def test_ddp_two_processes_make_exactly_one_run(run_script, root) -> None:
    code = MODEL + textwrap.dedent(
        """
        import os
        import lightning.pytorch as pl
        from tracker.integrations.lightning import TrackerLogger

        if __name__ == "__main__":
            tiny_cls, loader = make(pl)
            logger = TrackerLogger(project="ddp")
            trainer = pl.Trainer(logger=logger, max_epochs=1, strategy="ddp", devices=2, accelerator="cpu",
                                 log_every_n_steps=1, enable_progress_bar=False, enable_model_summary=False)
            trainer.fit(tiny_cls(), loader)
            # One write(2) per rank: both ranks share the pipe, and print() writes in pieces.
            os.write(1, f"RANK {trainer.global_rank} {logger.version}\\n".encode())
        """
    )
    proc = run_script(code, env={"TRACKER_STRICT": "1"}, timeout=240)
    assert "RANK 0" in proc.stdout
    runs = tracker.Api().runs("ddp")
    assert len(runs) == 1
    assert runs[0].state == "finished"
    assert any("train/loss" in r for r in runs[0].history(pandas=False))
