"""Gradient and parameter histograms for torch models: ``run.watch`` / ``run.unwatch``.

``tracker.watch(model)`` and ``Run.watch`` delegate here (imported inside the method, so
``import tracker`` never imports torch). Two counting modes:

* ``mode="step"`` (default): histograms are taken right before an optimizer step, from
  an optimizer step pre-hook (the given ``optimizer``'s, else torch's process-wide one,
  filtered to optimizers that own the model's parameters). Gradients are then
  accumulated over micro-batches, already unscaled by ``GradScaler.step`` and, under
  DDP, all-reduced; ``log_freq`` counts optimizer steps. Nothing runs inside a
  compiled graph. ``optimizer.step(closure)`` (every Lightning automatic-optimization
  step, LBFGS) runs the backward inside ``step``, after the pre-hook: the hook then wraps
  the closure and takes the histograms right after its first call returns, so they hold
  the gradients this step applies.
* ``mode="hook"`` (W&B's behaviour): a tensor hook per parameter (the gradient of each
  backward pass, counted per backward) and a forward hook on the model for parameters.
  Gradients are divided by the ``scaler``'s scale when one is given.

Binning happens on the tensor's device: one ``aminmax`` per tensor, the extremes of all
tensors copied to the host at once, one ``histc`` (64 bins) per tensor, the counts of
all tensors copied at once: two host syncs per logged step, whatever the model size.
``histc`` counts in float32, exact only up to 2**24 per bin, so a larger tensor is binned
in slices of 2**24 values whose counts are summed in float64 (exact to 2**53).
NaN and inf values are left out (and counted); sparse gradients count their implicit
zeros in the bin holding 0. Histograms are logged as :class:`tracker.Histogram` under
``gradients/<name>`` and ``parameters/<name>`` (``graph_<i>/`` in front for the second
and later model of a run), joining the run's current row (``commit=False``, as W&B) unless
an adapter takes them (``sink``) to place them in its own rows.
"""

from __future__ import annotations

from tracker._optional import require_extra

require_extra("torch", feature="run.watch() (gradient and parameter histograms)", extra="torch")

import weakref  # noqa: E402  (after the extra check, on purpose: G5)
from collections.abc import Callable, Iterable, Sequence  # noqa: E402
from typing import TYPE_CHECKING, Any, Final  # noqa: E402

import torch  # noqa: E402
from torch.optim.optimizer import register_optimizer_step_pre_hook  # noqa: E402

from tracker.errors import UsageError  # noqa: E402
from tracker.media import Histogram  # noqa: E402  (not the facade: Run.watch imports this module)

if TYPE_CHECKING:
    from tracker import Run

#: What an optimizer step pre-hook may return: replacement ``(args, kwargs)`` for ``step``.
_StepArgs = tuple[tuple[Any, ...], dict[str, Any]]

__all__ = ["NUM_BINS", "Watch", "histograms", "unwatch", "watch"]

#: Bins per histogram (W&B's 64).
NUM_BINS: Final = 64
#: Values per ``histc`` call: float32 counts are exact up to 2**24.
HISTC_SLICE: Final = 1 << 24
_LOG_MODES: Final = ("gradients", "parameters", "all")
_COUNT_MODES: Final = ("step", "hook")

#: Models watched so far per run (W&B numbers them per process; per run keeps keys stable).
_counts: weakref.WeakKeyDictionary[Run, int] = weakref.WeakKeyDictionary()
#: Every watch of every live run, so ``unwatch`` finds the handles to remove.
_watches: weakref.WeakKeyDictionary[Run, list[Watch]] = weakref.WeakKeyDictionary()


def watch(
    run: Run,
    models: Any,
    criterion: Any = None,
    log: str | None = "gradients",
    log_freq: int = 1000,
    idx: int | None = None,
    log_graph: bool = False,
    *,
    mode: str = "step",
    optimizer: torch.optim.Optimizer | None = None,
    scaler: Any = None,
    sink: Callable[[dict[str, Any]], None] | None = None,
) -> list[Watch]:
    """Attach histogram hooks to one or more models (``Run.watch`` delegates here).

    Args:
        run: The run that receives the histograms.
        models: A ``torch.nn.Module`` or a sequence of them.
        criterion: Accepted for W&B compatibility.
        log: ``"gradients"``, ``"parameters"``, ``"all"`` or None (nothing).
        log_freq: Log every this many optimizer steps (``mode="step"``) or backward
            passes (``mode="hook"``).
        idx: Index of the first model (keys of index > 0 get a ``graph_<idx>/`` prefix);
            default: the number of models this run has watched so far.
        log_graph: Record the model's structure (its ``repr``) in the run summary.
        mode: ``"step"`` (at the optimizer step) or ``"hook"`` (W&B's tensor hooks).
        optimizer: The optimizer to hook (``mode="step"``); default: any
            ``torch.optim`` optimizer that owns the model's parameters.
        scaler: A ``torch.amp.GradScaler`` whose scale ``mode="hook"`` divides out.
        sink: Receives each row of histograms instead of the run (an adapter that puts
            them into its own rows, at its own step key).

    Returns:
        The new :class:`Watch` objects (one per model).

    Raises:
        UsageError: A model is not a ``torch.nn.Module``, ``log`` or ``mode`` is unknown,
            or ``log_freq`` is not a positive int.
    """
    if log is not None and log not in _LOG_MODES:
        raise UsageError(f"watch(log={log!r}): use 'gradients', 'parameters', 'all' or None.")
    if mode not in _COUNT_MODES:
        raise UsageError(f"watch(mode={mode!r}): use 'step' or 'hook'.")
    if isinstance(log_freq, bool) or not isinstance(log_freq, int) or log_freq < 1:
        raise UsageError(f"watch(log_freq={log_freq!r}) must be a positive int.")
    module_list = list(models) if isinstance(models, Sequence) else [models]
    for model in module_list:
        if not isinstance(model, torch.nn.Module):
            raise UsageError(f"watch() expects torch.nn.Module objects, got {type(model).__name__}.")
    if log is None or run.disabled:
        return []
    out: list[Watch] = []
    for model in module_list:
        if idx is None:
            index = _counts.get(run, 0)
            _counts[run] = index + 1
        else:
            index = idx + len(out)
        w = Watch(
            run,
            model,
            log=log,
            log_freq=log_freq,
            index=index,
            mode=mode,
            optimizer=optimizer,
            scaler=scaler,
            sink=sink,
        )
        _watches.setdefault(run, []).append(w)
        if log_graph:
            run.summary[f"{w.prefix}graph"] = repr(model)
        out.append(w)
    return out


def unwatch(run: Run, models: Any = None) -> None:
    """Remove every hook ``watch`` attached for ``models`` (default: all models of ``run``).

    Args:
        run: The run the models were watched for.
        models: A module, a sequence of modules, or None for all.
    """
    watches = _watches.get(run, [])
    if models is None:
        chosen = list(watches)
    else:
        wanted = {id(m) for m in (list(models) if isinstance(models, Sequence) else [models])}
        chosen = [w for w in watches if id(w.model) in wanted]
    for w in chosen:
        w.remove()
        watches.remove(w)


class Watch:
    """The hooks attached to one model for one run; :meth:`remove` detaches all of them.

    Attributes:
        model: The watched module.
        prefix: Key prefix (``""`` or ``"graph_<i>/"``).
        steps: Optimizer steps (``mode="step"``) seen so far.
        handles: The removable hook handles currently attached.
    """

    def __init__(
        self,
        run: Run,
        model: torch.nn.Module,
        *,
        log: str,
        log_freq: int,
        index: int,
        mode: str,
        optimizer: torch.optim.Optimizer | None,
        scaler: Any,
        sink: Callable[[dict[str, Any]], None] | None,
    ) -> None:
        self.run = run
        self.model = model
        self.prefix = f"graph_{index}/" if index > 0 else ""
        self.log_freq = log_freq
        self.grads = log in ("gradients", "all")
        self.params = log in ("parameters", "all")
        self.scaler = scaler
        self.sink = sink
        self.steps = 0
        self.handles: list[Any] = []
        self._named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        self._owned = {id(p) for _, p in self._named}
        self._optimizers: dict[int, bool] = {}
        if mode == "step":
            if optimizer is not None:
                self.handles.append(optimizer.register_step_pre_hook(self._on_step))
            else:
                hook = register_optimizer_step_pre_hook(self._on_any_step)
                self.handles.append(hook)
        else:
            self._backwards: dict[str, int] = {}
            if self.grads:
                for name, p in self._named:
                    self.handles.append(p.register_hook(self._grad_hook(name)))  # type: ignore[no-untyped-call]  # untyped in torch
            if self.params:
                self._forwards = 0
                self.handles.append(model.register_forward_hook(self._on_forward))

    # ------------------------------------------------------------------ step mode
    def _on_any_step(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> _StepArgs | None:
        owns = self._optimizers.get(id(optimizer))
        if owns is None:
            owns = any(id(p) in self._owned for g in optimizer.param_groups for p in g["params"])
            self._optimizers[id(optimizer)] = owns
        return self._on_step(optimizer, args, kwargs) if owns else None

    def _on_step(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> _StepArgs | None:
        self.steps += 1
        if self.steps % self.log_freq:
            return None
        # torch passes step()'s own args, the optimizer (self) first.
        pos = 1 if args and args[0] is optimizer else 0
        closure = kwargs.get("closure") if "closure" in kwargs else (args[pos] if len(args) > pos else None)
        if not callable(closure):
            self._log_step()
            return None
        # The closure's backward has not run yet: log right after its first call instead.
        called = False

        def closure_then_log() -> Any:
            nonlocal called
            loss = closure()
            if not called:
                called = True
                self._log_step()
            return loss

        if "closure" in kwargs:
            return tuple(args), {**kwargs, "closure": closure_then_log}
        return (*args[:pos], closure_then_log, *args[pos + 1 :]), dict(kwargs)

    def _log_step(self) -> None:
        names: list[str] = []
        tensors: list[torch.Tensor] = []
        for name, p in self._named:
            if self.grads and p.grad is not None:
                names.append(f"gradients/{self.prefix}{name}")
                tensors.append(p.grad.detach())
            if self.params:
                names.append(f"parameters/{self.prefix}{name}")
                tensors.append(p.detach())
        self._emit(names, tensors)

    # ------------------------------------------------------------------ hook mode (W&B)
    def _grad_hook(self, name: str) -> Callable[[torch.Tensor], None]:
        key = f"gradients/{self.prefix}{name}"

        def hook(grad: torch.Tensor) -> None:
            n = self._backwards.get(name, 0) + 1
            if n < self.log_freq:
                self._backwards[name] = n
                return
            self._backwards[name] = 0
            g = grad.detach()
            if self.scaler is not None and self.scaler.is_enabled():
                g = g.float() / self.scaler.get_scale()
            self._emit([key], [g])

        return hook

    def _on_forward(self, module: torch.nn.Module, args: Any, output: Any) -> None:
        self._forwards += 1
        if self._forwards < self.log_freq:
            return
        self._forwards = 0
        self._emit(
            [f"parameters/{self.prefix}{n}" for n, _ in self._named], [p.detach() for _, p in self._named]
        )

    # ------------------------------------------------------------------ logging
    def _emit(self, names: list[str], tensors: list[torch.Tensor]) -> None:
        with torch.no_grad():
            hists = histograms(tensors)
        row: dict[str, Any] = {k: h for k, h in zip(names, hists, strict=True) if h is not None}
        if not row:
            return
        if self.sink is not None:
            self.sink(row)
        else:
            self.run.log(row, commit=False)

    def remove(self) -> None:
        """Detach every hook of this watch (idempotent)."""
        for handle in self.handles:
            handle.remove()
        self.handles.clear()


def histograms(tensors: Iterable[torch.Tensor], num_bins: int = NUM_BINS) -> list[Histogram | None]:
    """Histogram several tensors on their devices with two host copies in total.

    Args:
        tensors: Dense or sparse tensors, on any device and of any dtype.
        num_bins: Bins per histogram.

    Returns:
        One :class:`tracker.Histogram` per tensor, or None for a tensor with no finite
        value (empty, all NaN/inf).
    """
    import numpy as np

    items: list[tuple[torch.Tensor, int]] = []  # (dense finite-capable values, implicit zeros)
    for t in tensors:
        zeros = 0
        if t.is_sparse:
            t = t.coalesce()
            values = t.values()
            zeros = t.numel() - values.numel()
            t = values
        if not (t.dtype == torch.float32 or t.dtype == torch.float64):
            t = t.float()  # histc needs floating point; CUDA has no bf16/fp16 histc
        items.append((t.reshape(-1), zeros))
    out: list[Histogram | None] = [None] * len(items)
    live = [i for i, (t, _) in enumerate(items) if t.numel() > 0]
    if not live:
        return out
    # Sync 1: every tensor's extremes, copied to the host together (per device).
    ranges = _extremes([items[i][0] for i in live])
    nonfinite: dict[int, tuple[int, int]] = {}
    bounds: dict[int, tuple[float, float]] = {}
    for i, (lo, hi) in zip(live, ranges, strict=True):
        t, zeros = items[i]
        if not (np.isfinite(lo) and np.isfinite(hi)):
            flo, fhi, nan, inf = _finite_extremes(t)  # rare: extra syncs for this tensor only
            nonfinite[i] = (nan, inf)
            if flo is None or fhi is None:
                continue
            lo, hi = flo, fhi
        if zeros:
            lo, hi = min(lo, 0.0), max(hi, 0.0)
        bounds[i] = (float(lo), float(hi))
    counts_dev: list[torch.Tensor] = []
    order: list[int] = []
    for i, (lo, hi) in bounds.items():
        t = items[i][0]
        if lo == hi:
            continue
        counts_dev.append(_histc(t, num_bins, lo, hi))
        order.append(i)
    # Sync 2: all counts in one copy (one per device).
    counts_host = _to_host(counts_dev)
    by_index = dict(zip(order, counts_host, strict=True))
    for i, (lo, hi) in bounds.items():
        t, zeros = items[i]
        nan, inf = nonfinite.get(i, (0, 0))
        if lo == hi:
            finite = t.numel() - nan - inf + zeros
            h = Histogram(np_histogram=([finite], [lo, hi]))
        else:
            counts = by_index[i].astype(np.int64)
            if zeros:
                b = min(int((0.0 - lo) * num_bins / (hi - lo)), num_bins - 1)
                counts[b] += zeros
            h = Histogram(np_histogram=(counts, np.linspace(lo, hi, num_bins + 1)))
        h.nan_count, h.inf_count = nan, inf
        out[i] = h
    return out


def _histc(t: torch.Tensor, bins: int, lo: float, hi: float) -> torch.Tensor:
    """``torch.histc`` with exact counts: slices of :data:`HISTC_SLICE` values, summed in float64."""
    if t.numel() <= HISTC_SLICE:
        return torch.histc(t, bins=bins, min=lo, max=hi)
    total = torch.zeros(bins, dtype=torch.float64, device=t.device)
    for start in range(0, t.numel(), HISTC_SLICE):
        part = t[start : start + HISTC_SLICE]
        total += torch.histc(part, bins=bins, min=lo, max=hi)
    return total


def _extremes(tensors: list[torch.Tensor]) -> list[tuple[float, float]]:
    per_device: dict[torch.device, list[int]] = {}
    for i, t in enumerate(tensors):
        per_device.setdefault(t.device, []).append(i)
    result: list[tuple[float, float]] = [(0.0, 0.0)] * len(tensors)
    for idxs in per_device.values():
        pairs = [torch.stack(torch.aminmax(tensors[i])).to(torch.float64) for i in idxs]
        host = torch.stack(pairs).cpu().numpy()
        for i, (lo, hi) in zip(idxs, host, strict=True):
            result[i] = (float(lo), float(hi))
    return result


def _finite_extremes(t: torch.Tensor) -> tuple[float | None, float | None, int, int]:
    finite = torch.isfinite(t)
    nan = int(torch.isnan(t).sum())
    inf = int(t.numel() - finite.sum()) - nan
    values = t[finite]
    if values.numel() == 0:
        return None, None, nan, inf
    lo, hi = torch.aminmax(values)
    return float(lo), float(hi), nan, inf


def _to_host(tensors: list[torch.Tensor]) -> list[Any]:
    if not tensors:
        return []
    per_device: dict[torch.device, list[int]] = {}
    for i, t in enumerate(tensors):
        per_device.setdefault(t.device, []).append(i)
    result: list[Any] = [None] * len(tensors)
    for idxs in per_device.values():
        host = torch.stack([tensors[i].to(torch.float64) for i in idxs]).cpu().numpy()
        for i, row in zip(idxs, host, strict=True):
            result[i] = row
    return result
