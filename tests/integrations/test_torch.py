"""run.watch on real torch models: steps, counts, AMP unscaling, accumulation, unwatch."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from torch.optim import optimizer as torch_optimizer  # noqa: E402

import tracker  # noqa: E402
from tracker.integrations.torch import histograms  # noqa: E402


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))


def _hooks(model: torch.nn.Module) -> int:
    n = len(model._forward_hooks)
    return n + sum(len(p._backward_hooks or {}) for p in model.parameters())


def test_histograms_at_the_right_steps_and_counts_sum_to_parameter_count(read_run) -> None:
    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    run = tracker.init(project="watch")
    run.watch(model, log="all", log_freq=3)
    for _ in range(7):
        loss = model(torch.randn(5, 4)).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        run.log({"loss": loss.item()})
    run.unwatch()
    run.finish()
    _, rows = read_run("watch", run.id)
    with_hist = [r["_step"] for r in rows if "gradients/0.weight" in r]
    assert with_hist == [2, 5]  # optimizer steps 3 and 6 join the rows logged right after them
    row = rows[2]
    for name, p in model.named_parameters():
        for kind in ("gradients", "parameters"):
            h = row[f"{kind}/{name}"]
            assert h["_type"] == "histogram"
            assert len(h["values"]) == 64
            assert len(h["bins"]) == 65
            assert sum(h["values"]) == p.numel()


def test_unwatch_removes_every_hook_and_hook_mode() -> None:
    model = _model()
    run = tracker.init(project="watch")
    before = len(torch_optimizer._global_optimizer_pre_hooks)
    run.watch(model, log="all", log_freq=1)
    assert len(torch_optimizer._global_optimizer_pre_hooks) == before + 1
    run.unwatch()
    assert len(torch_optimizer._global_optimizer_pre_hooks) == before
    run.watch(model, log="all", log_freq=1, mode="hook")
    assert _hooks(model) == 1 + 4
    model(torch.randn(2, 4)).sum().backward()
    tracker.unwatch()
    assert _hooks(model) == 0
    run.watch(model, log="gradients", mode="hook")
    run.finish()  # finishing removes what is still attached
    assert _hooks(model) == 0


def test_watch_rejects_bad_arguments() -> None:
    run = tracker.init(project="watch")
    with pytest.raises(tracker.errors.UsageError, match=r"nn\.Module"):
        run.watch(object())
    with pytest.raises(tracker.errors.UsageError, match="log="):
        run.watch(_model(), log="weights")
    with pytest.raises(tracker.errors.UsageError, match="log_freq"):
        run.watch(_model(), log_freq=0)


def test_binning_nan_inf_constant_sparse_and_dtypes() -> None:
    t = torch.tensor([0.0, 1.0, float("nan"), 2.0, float("inf")])
    (h,) = histograms([t])
    assert h is not None
    assert sum(h.histogram) == 3
    assert (h.nan_count, h.inf_count) == (1, 1)
    assert h.bins[0] == 0.0
    assert h.bins[-1] == 2.0
    (const,) = histograms([torch.full((10,), 3.0)])
    assert const is not None
    assert const.histogram == [10]
    assert const.bins == [3.0, 3.0]
    assert histograms([torch.tensor([float("nan")]), torch.empty(0)]) == [None, None]
    emb = torch.nn.Embedding(100, 8, sparse=True)
    emb(torch.tensor([1, 2, 3])).sum().backward()
    assert emb.weight.grad.is_sparse
    (sp,) = histograms([emb.weight.grad])
    assert sp is not None
    assert sum(sp.histogram) == 800
    zero_bin = next(i for i in range(64) if sp.bins[i] <= 0.0 <= sp.bins[i + 1])
    assert sp.histogram[zero_bin] >= 800 - 24
    for dtype in (torch.bfloat16, torch.float16, torch.int64):
        (hd,) = histograms([torch.arange(10).to(dtype)])
        assert hd is not None
        assert sum(hd.histogram) == 10


def test_amp_gradscaler_histograms_equal_unscaled_grads(read_run) -> None:
    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**16)
    run = tracker.init(project="watch")
    run.watch(model, log="gradients", log_freq=1)
    expected = []
    for _ in range(2):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = model(torch.randn(8, 4)).float().pow(2).mean()
        opt.zero_grad()
        scaler.scale(loss).backward()
        scaler.step(opt)  # unscale_ then optimizer.step: our pre-step hook sees unscaled grads
        grad = model[0].weight.grad
        expected.append(
            (torch.histc(grad, 64, float(grad.min()), float(grad.max())).tolist(), float(grad.max()))
        )
        scaler.update()
        run.log({"loss": loss.item()})
    run.finish()
    _, rows = read_run("watch", run.id)
    got = [r["gradients/0.weight"] for r in rows]
    assert [(h["values"], h["bins"][-1]) for h in got] == [(c, pytest.approx(m)) for c, m in expected]
    assert all(h["bins"][-1] < 100 for h in got)  # not multiplied by the 65536 loss scale


def test_gradient_accumulation_logs_once_per_optimizer_step(read_run) -> None:
    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    run = tracker.init(project="watch")
    run.watch(model, log="gradients", log_freq=1)
    for step in range(3):
        for _ in range(4):
            (model(torch.randn(2, 4)).pow(2).mean() / 4).backward()
        opt.step()
        opt.zero_grad()
        run.log({"step": step})
    run.finish()
    _, rows = read_run("watch", run.id)
    assert len(rows) == 3
    assert all("gradients/0.weight" in r for r in rows)


def test_facade_watch_needs_a_run() -> None:
    with pytest.raises(tracker.errors.UsageError, match="init"):
        tracker.watch(_model())
    tracker.unwatch()  # no run: nothing to do
