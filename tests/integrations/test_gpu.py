"""On a real NVIDIA GPU: histograms binned on the device, run.watch on a CUDA model, the NVML
sampler in a real run, and Lightning on ``accelerator="gpu"``.

Every test is marked ``gpu`` and runs only with ``TRACKER_TEST_GPU=1`` on a machine with
CUDA (CI has none; ``benchmarks/gpu_check.py`` and these tests are run on a lent GPU
machine, see benchmarks/README.md).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pytest

import tracker

pytestmark = pytest.mark.gpu
# Read at collection: the autouse isolation fixture clears every TRACKER_* variable.
OPTED_IN = os.environ.get("TRACKER_TEST_GPU") == "1"


@pytest.fixture
def cuda() -> Any:
    if not OPTED_IN:
        pytest.skip("set TRACKER_TEST_GPU=1 to run GPU tests")
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    return torch


def test_device_histograms_equal_host_histograms(cuda: Any) -> None:
    from tracker.integrations.torch import histograms

    torch = cuda
    gen = torch.Generator().manual_seed(0)
    host = [
        torch.randn(1000, generator=gen),
        torch.randn(64, 32, generator=gen) * 5 + 2,
        torch.full((17,), 3.5),
        torch.randn(300, generator=gen).to(torch.bfloat16),
    ]
    host[0][7] = float("nan")
    host[1][0, 0] = float("inf")
    on_gpu = histograms([t.cuda() for t in host])
    on_cpu = histograms(host)
    for g, c, t in zip(on_gpu, on_cpu, host, strict=True):
        assert g is not None
        assert c is not None
        finite = int(torch.isfinite(t.float()).sum())
        assert sum(g.histogram) == sum(c.histogram) == finite
        assert np.allclose(g.bins, c.bins, rtol=1e-6, atol=1e-6)
        # Bin edges can differ by one ulp between devices: a value may move to a neighbour bin.
        diff = np.abs(np.asarray(g.histogram) - np.asarray(c.histogram))
        assert int(diff.sum()) <= 4


def test_watch_cuda_model_with_amp_logs_unscaled_gradients(cuda: Any, read_run: Any) -> None:
    torch = cuda
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.ReLU(), torch.nn.Linear(64, 4)).cuda()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    scaler = torch.amp.GradScaler("cuda", init_scale=2.0**12)
    run = tracker.init(project="gpu-watch")
    run.watch(model, log="all", log_freq=2)
    x = torch.randn(16, 32, device="cuda")
    for _ in range(4):
        opt.zero_grad()
        with torch.autocast("cuda", dtype=torch.float16):
            loss = model(x).float().pow(2).mean()
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        run.log({"loss": loss.detach()})
    last_grad = model[0].weight.grad.detach().float().cpu()
    run.finish()
    _, rows = read_run("gpu-watch", run.id)
    with_hist = [r for r in rows if "gradients/0.weight" in r]
    assert [r["_step"] for r in with_hist] == [1, 3]
    h = with_hist[-1]["gradients/0.weight"]
    assert sum(h["values"]) == model[0].weight.numel()
    # Unscaled: the histogram's range is the real gradient's, not 4096x larger.
    lo, hi = float(last_grad.min()), float(last_grad.max())
    assert h["bins"][0] == pytest.approx(lo, rel=1e-3, abs=1e-6)
    assert h["bins"][-1] == pytest.approx(hi, rel=1e-3, abs=1e-6)
    assert isinstance(rows[-1]["loss"], float)


def test_nvml_sampler_in_a_real_run_records_the_gpu(cuda: Any) -> None:
    import pynvml

    from tracker.storage._system import system_rows
    from tracker.system_metrics._nvml import NvmlSource

    torch = cuda
    src = NvmlSource()
    info = src.describe()
    sample = src.sample()
    src.close()
    pynvml.nvmlInit()
    try:
        total = pynvml.nvmlDeviceGetMemoryInfo(pynvml.nvmlDeviceGetHandleByIndex(0)).total
    finally:
        pynvml.nvmlShutdown()
    assert info["count"] >= 1
    assert info["devices"][0]["memory_total"] == total
    assert sample["system._gpu.0.memoryTotal"] == total
    assert 0.0 <= sample["system.gpu.0.gpu"] <= 100.0
    assert sample["system.gpu.0.powerWatts"] > 0

    run = tracker.init(project="gpu-sampler", settings={"stats_interval": 0.2})
    a = torch.randn(4096, 4096, device="cuda")
    held = torch.empty(256 * 2**20, dtype=torch.uint8, device="cuda")  # 256 MiB held by us
    for step in range(40):
        for _ in range(10):
            a = torch.tanh(a @ a)
        torch.cuda.synchronize()
        run.log({"checksum": float(a[0, 0])}, step=step)
    run.finish()
    rows = system_rows(run.dir)
    gpu_rows = [r for r in rows if "system.gpu.0.memoryAllocatedBytes" in r]
    assert len(gpu_rows) >= 2
    assert max(r["system.gpu.0.memoryAllocatedBytes"] for r in gpu_rows) >= held.numel()
    assert all(0.0 <= r["system.gpu.0.memoryAllocated"] <= 100.0 for r in gpu_rows)
    del held


# Third-party, by name: Lightning 2.6's pytree shim on torch >= 2.11, and its advice about
# DataLoader workers for a 64-sample tensor dataset.
@pytest.mark.filterwarnings(
    "ignore:`isinstance\\(treespec, LeafSpec\\)` is deprecated:FutureWarning",
    "ignore:The 'train_dataloader' does not have many workers",
)
def test_lightning_on_gpu_logs_metrics(cuda: Any, read_run: Any) -> None:
    pytest.importorskip("lightning")
    import lightning

    from tracker.integrations.lightning import TrackerLogger

    torch = cuda

    class Tiny(lightning.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = torch.nn.Linear(8, 1)

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            x, y = batch
            loss = torch.nn.functional.mse_loss(self.net(x), y)
            self.log("train/loss", loss)
            return loss

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=0.1)

    torch.manual_seed(0)
    data = torch.utils.data.TensorDataset(torch.randn(64, 8), torch.randn(64, 1))
    loader = torch.utils.data.DataLoader(data, batch_size=8)
    logger = TrackerLogger(project="gpu-lightning")
    trainer = lightning.Trainer(
        accelerator="gpu",
        devices=1,
        max_epochs=2,
        logger=logger,
        log_every_n_steps=1,
        enable_progress_bar=False,
        enable_checkpointing=False,
        enable_model_summary=False,
    )
    trainer.fit(Tiny(), loader)
    run_id = logger.experiment.id
    tracker.finish()
    _, rows = read_run("gpu-lightning", run_id)
    losses = [r["train/loss"] for r in rows if "train/loss" in r]
    assert len(losses) == 16
    assert all(isinstance(v, float) and np.isfinite(v) for v in losses)
