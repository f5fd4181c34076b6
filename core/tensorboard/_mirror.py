"""Where mirrored summaries go: rows of the current run, one per TensorBoard step.

Summaries of one step (from every writer) gather in the run's open row (``log(...,
commit=False)``); a summary at another step commits it first, so each TensorBoard step is
one row, as in W&B. Each row carries the step as ``global_step``, and every mirrored key
is defined with ``step_metric="global_step"``, so charts use TensorBoard's x axis. Text
(``add_text``, ``tf.summary.text``) goes to the run's summary under its tag: W&B mirrors
no text into rows, so the rows stay W&B's (cleanrl's hyperparameter table adds no row).

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
        self._step: int | None = None
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
                self._run_id, self._step, self._defined, self._dirs = id(run), None, set(), []
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
            if self._step is not None and step != self._step:
                run.log({STEP_KEY: self._step}, commit=True)  # close the previous step's row
            self._step = step
            row[STEP_KEY] = step
            run.log(row, commit=False)

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
