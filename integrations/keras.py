"""``TrackerCallback`` for Keras 3 ``fit``/``evaluate`` on any backend.

Needs ``tracker[keras]``. Imports only ``keras``: on the torch and JAX backends no
TensorFlow is needed (W&B's Keras callbacks subclass ``tf.keras`` classes). Keys and
x axes are W&B's ``WandbMetricsLogger``'s: ``epoch/<metric>`` against ``epoch/epoch``
and, in batch mode, ``batch/<metric>`` against ``batch/batch_step`` (counted over the
whole fit, not restarted each epoch), each with ``*/learning_rate`` (a schedule is
evaluated at the optimizer's current step). Standalone ``evaluate()`` results are
logged as ``eval/<metric>``. Checkpoints are written by this callback itself with
``model.save`` (no private Keras API) and logged as ``run_<id>_model`` artifacts.

W&B's other two Keras callbacks: :class:`TrackerModelCheckpoint` (``WandbModelCheckpoint``:
Keras' ``ModelCheckpoint`` options, ``filepath``, ``save_freq`` in batches,
``save_best_only``, ``initial_value_threshold``; each save logged as an artifact) and
:class:`TrackerEvalCallback` (``WandbEvalCallback``: prediction tables).

Example::

    from tracker.integrations.keras import TrackerCallback

    model.fit(x, y, epochs=5, validation_split=0.2, callbacks=[TrackerCallback(log_model="best")])
"""

from __future__ import annotations

from tracker._optional import require_extra

require_extra("keras", feature="tracker.integrations.keras.TrackerCallback", extra="keras")

import io  # noqa: E402  (after the extra check, on purpose: G5)
import math  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Final  # noqa: E402

import keras  # noqa: E402

import tracker  # noqa: E402
from tracker.errors import UsageError  # noqa: E402
from tracker.integrations._keras_checkpoint import TrackerModelCheckpoint  # noqa: E402
from tracker.integrations._keras_eval import TrackerEvalCallback  # noqa: E402

__all__ = ["TrackerCallback", "TrackerEvalCallback", "TrackerModelCheckpoint"]

_LOG_MODEL: Final = (False, "best", "all")
_MAX_WORDS: Final = ("acc", "auc", "precision", "recall", "f1", "fmeasure")


def _is_rank_zero() -> bool:
    backend = keras.backend.backend()
    if backend == "torch" and "torch" in sys.modules:
        import torch.distributed as dist

        return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0
    if backend == "jax" and "jax" in sys.modules:
        import jax

        return int(jax.process_index()) == 0
    return True


class TrackerCallback(keras.callbacks.Callback):  # type: ignore[misc]  # keras ships no type hints
    """Log a Keras 3 model's training to a tracker run.

    Uses the current run, or starts one at ``on_train_begin`` (``$TRACKER_PROJECT``
    applies). Records ``params``, the optimizer, the parameter count, the model config
    and its text summary. Epoch mode overrides no batch hook, so Keras keeps its fast
    path; batch mode's hook is ``async_safe``.

    Args:
        log_freq: ``"epoch"``, ``"batch"`` (every batch) or N (every N batches).
        log_model: ``False``, ``"best"`` (when ``monitor`` improves) or ``"all"`` (every epoch).
        monitor: The metric that decides ``"best"``.
        mode: ``"min"``, ``"max"`` or ``"auto"`` (max for accuracy-like names).
        save_weights_only: Save ``model.weights.h5`` instead of the whole ``model.keras``.
        run: The run to log to (default: the current run, else a new one).
        log_evaluate: Log standalone ``evaluate()`` results as ``eval/<metric>``.

    Raises:
        UsageError: An invalid ``log_freq``, ``log_model`` or ``mode``.
    """

    def __init__(
        self,
        log_freq: str | int = "epoch",
        log_model: bool | str = False,
        monitor: str = "val_loss",
        mode: str = "auto",
        save_weights_only: bool = False,
        run: tracker.Run | None = None,
        log_evaluate: bool = True,
    ) -> None:
        super().__init__()
        if log_freq == "batch":
            log_freq = 1
        if log_freq != "epoch" and (
            isinstance(log_freq, bool) or not isinstance(log_freq, int) or log_freq < 1
        ):
            raise UsageError(
                f"TrackerCallback(log_freq={log_freq!r}): use 'epoch', 'batch' or a positive int."
            )
        if log_model not in _LOG_MODEL:
            raise UsageError(f"TrackerCallback(log_model={log_model!r}): use False, 'best' or 'all'.")
        if mode not in ("auto", "min", "max"):
            raise UsageError(f"TrackerCallback(mode={mode!r}): use 'auto', 'min' or 'max'.")
        self.log_freq = log_freq
        self.log_model = log_model
        self.monitor = monitor
        self.maximize = mode == "max" or (mode == "auto" and any(w in monitor for w in _MAX_WORDS))
        self.save_weights_only = save_weights_only
        self.log_evaluate = log_evaluate
        self._run = run
        self._in_fit = False
        self._best = -math.inf if self.maximize else math.inf
        self._batches = 0
        self._lock = threading.Lock()
        if log_freq != "epoch":
            # Only batch mode overrides the batch hook (an override costs Keras its fast path).
            self.on_train_batch_end = self._on_train_batch_end
            self.async_safe = True

    @property
    def run(self) -> tracker.Run | None:
        """The run being logged to (None before training starts or off rank 0)."""
        return self._run

    def __getstate__(self) -> dict[str, Any]:
        # Picklable like every adapter: the lock, the run and the model stay behind.
        state = self.__dict__.copy()
        state.pop("_lock", None)
        state["_run"] = None
        state["_model"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ setup
    def _ensure_run(self) -> tracker.Run | None:
        if not _is_rank_zero():
            return None
        if self._run is None:
            self._run = tracker.run or tracker.init()
        return self._run

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        """Start or join the run; record params, optimizer, model config and summary."""
        self._in_fit = True
        run = self._ensure_run()
        if run is None:
            return
        run.define_metric("epoch/epoch")
        run.define_metric("epoch/*", step_metric="epoch/epoch", step_sync=True)
        if self.log_freq != "epoch":
            run.define_metric("batch/batch_step")
            run.define_metric("batch/*", step_metric="batch/batch_step", step_sync=True)
        model = self.model
        info: dict[str, Any] = {
            "params": dict(self.params or {}),
            "class": type(model).__name__,
            "num_parameters": int(model.count_params()),
            "backend": keras.backend.backend(),
        }
        optimizer = getattr(model, "optimizer", None)
        if optimizer is not None:
            info["optimizer"] = type(optimizer).__name__
        try:
            info["config"] = model.get_config()
        except (NotImplementedError, TypeError, ValueError):
            pass  # subclassed models without get_config(): the summary below still describes them
        run.config.update({"keras": info}, allow_val_change=True)
        text = io.StringIO()
        model.summary(print_fn=lambda line, *args, **kwargs: text.write(line + "\n"))
        run.summary["model/summary"] = text.getvalue()

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        """End of ``fit``: standalone ``evaluate()`` calls are logged again from here on."""
        self._in_fit = False

    # ------------------------------------------------------------------ metrics
    def _learning_rate(self) -> float | None:
        optimizer = getattr(self._model, "optimizer", None)
        if optimizer is None:
            return None
        # The property evaluates a LearningRateSchedule at optimizer.iterations.
        return float(keras.ops.convert_to_numpy(optimizer.learning_rate))

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Log ``epoch/*`` (validation metrics included) and save a checkpoint if asked."""
        run = self._run
        if run is None:
            return
        logs = dict(logs or {})
        row: dict[str, Any] = {f"epoch/{k}": v for k, v in logs.items()}
        row["epoch/epoch"] = epoch
        lr = self._learning_rate()
        if lr is not None:
            row["epoch/learning_rate"] = lr
        run.log(row)
        if self.log_model:
            self._maybe_checkpoint(run, epoch, logs)

    def _on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        # May run on Keras' worker thread (async_safe): touches only the run and self._model.
        with self._lock:
            self._batches += 1
            step = self._batches
        run = self._run
        if run is None or step % int(self.log_freq):
            return
        row: dict[str, Any] = {f"batch/{k}": v for k, v in (logs or {}).items()}
        row["batch/batch_step"] = step
        lr = self._learning_rate()
        if lr is not None:
            row["batch/learning_rate"] = lr
        run.log(row)

    def on_test_end(self, logs: dict[str, Any] | None = None) -> None:
        """Log a standalone ``evaluate()`` as ``eval/*`` (inside ``fit`` it arrives as ``val_*``)."""
        if self._in_fit or not self.log_evaluate or not logs:
            return
        run = self._ensure_run()
        if run is not None:
            run.log({f"eval/{k}": v for k, v in logs.items()})

    # ------------------------------------------------------------------ checkpoints
    def _maybe_checkpoint(self, run: tracker.Run, epoch: int, logs: dict[str, Any]) -> None:
        improved = False
        value = logs.get(self.monitor)
        if value is not None and math.isfinite(float(value)):
            value = float(value)
            improved = value > self._best if self.maximize else value < self._best
            if improved:
                self._best = value
        if self.log_model == "best" and not improved:
            return
        aliases = ["latest", f"epoch_{epoch}"] + (["best"] if improved else [])
        metadata = {"epoch": epoch, self.monitor: value, "save_weights_only": self.save_weights_only}
        with tempfile.TemporaryDirectory() as tmp:
            if self.save_weights_only:
                path = Path(tmp) / "model.weights.h5"
                self.model.save_weights(path)
            else:
                path = Path(tmp) / "model.keras"
                self.model.save(path)
            artifact = tracker.Artifact(f"run_{run.id}_model", type="model", metadata=metadata)
            artifact.add_file(path)
            # wait(): the file is read in the background and the folder goes away below.
            run.log_artifact(artifact, aliases=aliases).wait()
