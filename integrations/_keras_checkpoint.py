"""``TrackerModelCheckpoint``: Keras' ``ModelCheckpoint`` whose saves are logged as artifacts.

Imported through :mod:`tracker.integrations.keras` (which checks the ``keras`` extra first).
W&B's ``WandbModelCheckpoint``: Keras decides when and where to save (``filepath``
placeholders, ``save_freq`` in epochs or batches, ``save_best_only``, ``mode``,
``initial_value_threshold``); each file Keras writes is then logged as a version of the
``run_<id>_model`` artifact with the aliases ``latest`` and ``epoch_<e>`` (or
``epoch_<e>_batch_<b>``, both 0-based as W&B's), plus ``best`` when ``save_best_only`` saved
an improvement. Only Keras' public attributes are read: the path Keras wrote is computed
from ``filepath`` as Keras documents it, and a save is seen as that file changing.
"""

from __future__ import annotations

import os
from typing import Any

import keras

import tracker

__all__ = ["TrackerModelCheckpoint"]


def _stamp(path: str | None) -> tuple[int, int, int] | None:
    if path is None:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size, st.st_ino


class TrackerModelCheckpoint(keras.callbacks.ModelCheckpoint):  # type: ignore[misc]  # keras ships no type hints
    """Save the model (or its weights) with Keras, and log each save as a model artifact.

    Args:
        filepath: Where Keras saves (``.keras``, or ``.weights.h5`` with
            ``save_weights_only``); may hold ``{epoch}``, ``{batch}`` and metric placeholders.
        monitor: The metric ``save_best_only`` compares.
        verbose: Keras' messages (0 or 1).
        save_best_only: Save only when ``monitor`` improves.
        save_weights_only: Save ``model.save_weights`` instead of ``model.save``.
        mode: ``"auto"``, ``"min"`` or ``"max"``.
        save_freq: ``"epoch"`` or a number of batches.
        initial_value_threshold: The value ``monitor`` must beat first.
        run: The run to log to (default: the current run, else one started at ``fit``).

    Example:
        >>> cb = TrackerModelCheckpoint("ckpt/model-{epoch:02d}.keras", save_best_only=True)  # doctest: +SKIP
        >>> model.fit(x, y, validation_split=0.2, epochs=5, callbacks=[cb])  # doctest: +SKIP
    """

    def __init__(
        self,
        filepath: str | os.PathLike[str],
        monitor: str = "val_loss",
        verbose: int = 0,
        save_best_only: bool = False,
        save_weights_only: bool = False,
        mode: str = "auto",
        save_freq: str | int = "epoch",
        initial_value_threshold: float | None = None,
        run: tracker.Run | None = None,
    ) -> None:
        super().__init__(
            filepath=filepath,
            monitor=monitor,
            verbose=verbose,
            save_best_only=save_best_only,
            save_weights_only=save_weights_only,
            mode=mode,
            save_freq=save_freq,
            initial_value_threshold=initial_value_threshold,
        )
        self._run = run
        self._epoch = 0

    @property
    def run(self) -> tracker.Run | None:
        """The run checkpoints are logged to (None before ``fit``)."""
        return self._run

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        """Join the current run, or start one."""
        super().on_train_begin(logs)
        if self._run is None:
            self._run = tracker.run or tracker.init()

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Keep the epoch for batch-mode file names."""
        super().on_epoch_begin(epoch, logs)
        self._epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        """Let Keras save every ``save_freq`` batches; log what it wrote."""
        if self.save_freq == "epoch":
            return
        path = self._path(self._epoch, batch, logs)
        best, before = self.best, _stamp(path)
        super().on_train_batch_end(batch, logs)
        self._log_if_written(path, before, best, [f"epoch_{self._epoch}_batch_{batch}"])

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Let Keras save (each epoch, or on improvement); log what it wrote."""
        if self.save_freq != "epoch":
            super().on_epoch_end(epoch, logs)
            return
        path = self._path(epoch, None, logs)
        best, before = self.best, _stamp(path)
        super().on_epoch_end(epoch, logs)
        self._log_if_written(path, before, best, [f"epoch_{epoch}"])

    def _path(self, epoch: int, batch: int | None, logs: dict[str, Any] | None) -> str | None:
        # Keras' documented naming: epoch and batch 1-based, then the logs' keys.
        logs = dict(logs or {})
        try:
            if batch is None or "batch" in logs:
                return str(self.filepath.format(epoch=epoch + 1, **logs))
            return str(self.filepath.format(epoch=epoch + 1, batch=batch + 1, **logs))
        except (KeyError, IndexError, ValueError):
            return None  # Keras raises its own error for a bad placeholder

    def _log_if_written(self, path: str | None, before: Any, best: Any, aliases: list[str]) -> None:
        run = self._run
        if run is None or path is None or _stamp(path) in (None, before):
            return
        improved = self.save_best_only and self.best != best
        artifact = tracker.Artifact(f"run_{run.id}_model", type="model")
        if os.path.isdir(path):
            artifact.add_dir(path)
        else:
            artifact.add_file(path)
        # wait(): Keras may overwrite the file at the next save while it is being read.
        run.log_artifact(artifact, aliases=["latest", *aliases, *(["best"] if improved else [])]).wait()
