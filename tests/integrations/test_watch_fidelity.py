"""``watch`` against the framework's own numbers: closures, Lightning, HF steps, big tensors."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import tracker  # noqa: E402
from tracker.integrations.torch import HISTC_SLICE, histograms  # noqa: E402

pytestmark = pytest.mark.filterwarnings(
    "ignore::UserWarning", "ignore::DeprecationWarning", "ignore::FutureWarning"
)


def _counts(h) -> list[int]:  # type: ignore[no-untyped-def]
    """Counts of a histogram as logged (a dict read back) or made here (a tracker.Histogram)."""
    return [int(v) for v in (h["values"] if isinstance(h, dict) else h.histogram)]


def test_closure_step_logs_the_gradients_that_step_applies(read_run) -> None:
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    run = tracker.init(project="watch")
    run.watch(model, log="gradients", log_freq=1)
    applied = []
    for step in range(4):
        x = torch.randn(8, 4)

        def closure(x=x):  # type: ignore[no-untyped-def]
            opt.zero_grad(set_to_none=True)  # as Lightning does: no gradient before the backward
            loss = model(x).pow(2).mean()
            loss.backward()
            applied.append(histograms([model.weight.grad])[0])
            return loss

        opt.step(closure)
        run.log({"step": step})
    run.finish()
    _, rows = read_run("watch", run.id)
    logged = [r.get("gradients/weight") for r in rows]
    assert all(h is not None for h in logged), "a step without its gradients"
    assert [_counts(h) for h in logged] == [_counts(h) for h in applied]
    assert [h["bins"][0] for h in logged] == pytest.approx([h.bins[0] for h in applied])


def test_counts_stay_exact_past_2_24_values() -> None:
    t = torch.zeros(HISTC_SLICE + 10)
    t[0] = 1.0  # bins span [0, 1]: every other value lands in bin 0
    (h,) = histograms([t])
    counts = np.asarray(h.histogram)
    assert counts.sum() == t.numel()
    assert counts[0] == t.numel() - 1
    assert counts[-1] == 1


def test_lightning_logger_watch_logs_each_steps_own_gradients(tmp_path, read_run) -> None:
    pl = pytest.importorskip("lightning.pytorch")
    from torch.utils.data import DataLoader, TensorDataset

    from tracker.integrations.lightning import TrackerLogger

    seen: list[tuple[int, object]] = []

    class Tiny(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(4, 1)

        def training_step(self, batch, i):  # type: ignore[no-untyped-def]
            x, y = batch
            loss = torch.nn.functional.mse_loss(self.layer(x), y)
            self.log("train/loss", loss)
            return loss

        def on_before_optimizer_step(self, optimizer) -> None:  # type: ignore[no-untyped-def]
            # Lightning's own view: the gradients this optimizer step is about to apply.
            seen.append((self.trainer.global_step, histograms([self.layer.weight.grad])[0]))

        def configure_optimizers(self):  # type: ignore[no-untyped-def]
            return torch.optim.SGD(self.parameters(), lr=0.1)

    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    data = TensorDataset(torch.randn(16, 4, generator=g), torch.randn(16, 1, generator=g))
    logger = TrackerLogger(project="lw", save_dir=str(tmp_path))
    model = Tiny()
    logger.watch(model, log="gradients", log_freq=1, log_graph=False)
    trainer = pl.Trainer(
        logger=logger, max_epochs=2, log_every_n_steps=1, enable_progress_bar=False,
        enable_model_summary=False, enable_checkpointing=False, accelerator="cpu", default_root_dir=tmp_path,
    )  # fmt: skip
    trainer.fit(model, DataLoader(data, batch_size=4))
    logger.finish()
    _, rows = read_run("lw", str(logger.version))
    hist_rows = [r for r in rows if "gradients/layer.weight" in r]
    assert len(hist_rows) == len(seen) == 8  # every step, the first of each epoch included
    assert [_counts(r["gradients/layer.weight"]) for r in hist_rows] == [_counts(h) for _, h in seen]
    # Each step's histograms share the row of that step's metrics.
    assert [r["trainer/global_step"] for r in hist_rows] == [step for step, _ in seen]
    assert all("train/loss" in r for r in hist_rows)
