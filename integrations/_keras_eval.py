"""``TrackerEvalCallback``: a base for Keras callbacks that log prediction tables.

Imported through :mod:`tracker.integrations.keras` (which checks the ``keras`` extra first).
W&B's ``WandbEvalCallback``, same names and flow: at ``on_train_begin`` the ground truth
goes into :attr:`data_table` (:meth:`add_ground_truth`), which is logged once as the
``val`` dataset artifact, used by the run, and read back as :attr:`data_table_ref`; at each
``on_epoch_end`` the predictions go into a fresh :attr:`pred_table`
(:meth:`add_model_predictions`), logged as a new version of ``run_<id>_pred``.
"""

from __future__ import annotations

import abc
from typing import Any

import keras

import tracker

__all__ = ["TrackerEvalCallback"]


class TrackerEvalCallback(keras.callbacks.Callback, abc.ABC):  # type: ignore[misc]  # keras ships no type hints
    """Log the validation data once and the model's predictions each epoch, as tables.

    Subclass it and implement :meth:`add_ground_truth` and :meth:`add_model_predictions`.

    Args:
        data_table_columns: Columns of :attr:`data_table`.
        pred_table_columns: Columns of :attr:`pred_table`.
        run: The run to log to (default: the current run, else one started at ``fit``).

    Example:
        >>> class Preds(TrackerEvalCallback):  # doctest: +SKIP
        ...     def add_ground_truth(self, logs=None):
        ...         for i, label in enumerate(y_val):
        ...             self.data_table.add_data(i, int(label))
        ...     def add_model_predictions(self, epoch, logs=None):
        ...         preds = self.model.predict(x_val, verbose=0).argmax(-1)
        ...         for i, row in zip(self.data_table_ref.get_index(), self.data_table_ref.data):
        ...             self.pred_table.add_data(epoch, row[0], row[1], int(preds[i]))
    """

    def __init__(
        self,
        data_table_columns: list[str],
        pred_table_columns: list[str],
        *args: Any,
        run: tracker.Run | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.data_table_columns = data_table_columns
        self.pred_table_columns = pred_table_columns
        self._run = run
        self.data_table: tracker.Table | None = None
        self.data_table_ref: Any = None
        self.pred_table: tracker.Table | None = None

    @property
    def run(self) -> tracker.Run:
        """The run the tables are logged to (the current one, else a new one)."""
        if self._run is None:
            self._run = tracker.run or tracker.init()
        return self._run

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        """Build and log the ground-truth table."""
        self.init_data_table(column_names=self.data_table_columns)
        self.add_ground_truth(logs)
        self.log_data_table()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Build and log this epoch's prediction table."""
        self.init_pred_table(column_names=self.pred_table_columns)
        self.add_model_predictions(epoch, logs)
        self.log_pred_table()

    @abc.abstractmethod
    def add_ground_truth(self, logs: dict[str, Any] | None = None) -> None:
        """Add the validation data to :attr:`data_table` (``self.data_table.add_data(...)``)."""

    @abc.abstractmethod
    def add_model_predictions(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Add predictions to :attr:`pred_table`, referring to rows of :attr:`data_table_ref`."""

    def init_data_table(self, column_names: list[str]) -> None:
        """Start an empty :attr:`data_table`."""
        self.data_table = tracker.Table(columns=column_names, allow_mixed_types=True)

    def init_pred_table(self, column_names: list[str]) -> None:
        """Start an empty :attr:`pred_table`."""
        self.pred_table = tracker.Table(columns=column_names)

    def log_data_table(self, name: str = "val", type: str = "dataset", table_name: str = "val_data") -> None:
        """Log :attr:`data_table` as artifact ``name``, use it, and read it back as :attr:`data_table_ref`."""
        artifact = tracker.Artifact(name, type=type)
        artifact.add(self.data_table, table_name)
        used: Any = self.run.use_artifact(artifact)
        used.wait()
        self.data_table_ref = artifact.get(table_name)

    def log_pred_table(
        self, type: str = "evaluation", table_name: str = "eval_data", aliases: list[str] | None = None
    ) -> None:
        """Log :attr:`pred_table` as a new version of ``run_<id>_pred``."""
        artifact = tracker.Artifact(f"run_{self.run.id}_pred", type=type)
        artifact.add(self.pred_table, table_name)
        self.run.log_artifact(artifact, aliases=aliases or ["latest"]).wait()
