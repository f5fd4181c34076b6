"""Where mirrored summaries go: rows of the current run, cut at TensorBoard's steps as W&B cuts them.

Summaries gather in the run's open row (``log(..., commit=False)``). The row is committed
when a writer (a log directory) goes past the step it last wrote, unless the new step is
the largest step seen so far by another writer: summaries of one step from several writers
share a row, and a writer catching up does not cut one. A run with one writer gets one row
per TensorBoard step. Each row carries ``global_step``: the summary's step, or for a writer
with a prefix (below) the largest step seen, as in W&B; every mirrored key is defined with
``step_metric="global_step"``, so charts use TensorBoard's x axis. A script that also calls
``run.log`` itself commits the open row with its own call.

Text (``add_text``, ``tf.summary.text``) goes to the run's summary under its tag: W&B
mirrors no text into rows, so the rows stay W&B's (cleanrl's hyperparameter table adds none).

Keys are the summaries' tags. Writers to several log directories (Keras writes
``logs/train`` and ``logs/validation``) get the directory as a prefix: its path under
``root_logdir`` (``patch(root_logdir=...)``), else under the directories' common parent;
a single directory gets none, unless it is named ``train`` or ``validation``.
"""

from __future__ import annotations

import os
import threading
from typing import Any, Final

__all__: list[str] = []

STEP_KEY: Final = "global_step"
_NAMED: Final = ("train", "validation")


class Mirror:
    """The state of mirroring into one run (reset when the current run changes)."""

    def __init__(self, root_logdir: str | None = None) -> None:
        self.root_logdir = os.path.abspath(root_logdir) if root_logdir else None
        self._lock = threading.RLock()
        self._run_id: int | None = None
        self._reset()

    def _reset(self) -> None:
        self._last: dict[str, int] = {}  # prefix -> the step its writer last wrote
        self._max = 0  # the largest step seen
        self._row: int | None = None  # the run's step of the row we left open (run.step)
        self._defined: set[str] = set()
        self._dirs: list[str] = []

    def emit(self, logdir: Any, step: Any, values: dict[str, Any]) -> None:
        """Log ``values`` (``{tag: value}``) written at ``step`` to ``logdir`` into the current run."""
        from tracker import _process

        run: Any = _process.current()
        if run is None or run.finished or not values:
            return
        step = int(step) if step is not None else 0
        with self._lock:
            if self._run_id != id(run):
                self._run_id = id(run)
                self._reset()
            prefix = self._prefix(logdir)
            row = {f"{prefix}/{k}" if prefix else k: v for k, v in values.items()}
            for key in [k for k, v in row.items() if isinstance(v, str)]:
                run.summary[key] = row.pop(key)  # text: in the summary, as no row of its own
            if not row:
                return
            for key in row:
                if key not in self._defined:
                    self._defined.add(key)
                    run.define_metric(key, step_metric=STEP_KEY)
            cut = self._last.get(prefix, 0) < step and step != self._max
            self._max = max(self._max, step)
            self._last[prefix] = step
            if cut and self._row == run.step:  # still open: the script's own log() did not commit it
                run.log({}, commit=True)  # close the row of the steps before
            row[STEP_KEY] = self._max if prefix else step
            run.log(row, commit=False)
            self._row = run.step

    def _prefix(self, logdir: Any) -> str:
        if logdir is None:
            return ""
        path = os.path.abspath(os.fsdecode(logdir) if isinstance(logdir, bytes) else str(logdir))
        if path not in self._dirs:
            self._dirs.append(path)
        root = self.root_logdir or (
            os.path.commonpath(self._dirs) if len(self._dirs) > 1 else os.path.dirname(path)
        )
        rel = os.path.relpath(path, root) if os.path.commonpath([root, path]) == root else path
        rel = "" if rel == "." else rel.replace(os.sep, "/")
        if len(self._dirs) == 1 and self.root_logdir is None and rel not in _NAMED:
            return ""
        return rel
