"""``Run``: W&B's step/commit semantics, metric definitions, alerts, files, artifacts.

The calling thread only validates cheaply, snapshots and appends to the writer's
deque; everything else (encoding, summary, I/O) happens in :mod:`tracker._writer`.
Identity, config, summary, finishing and the services' port are in
:mod:`tracker._run_base`.
"""

from __future__ import annotations

import enum
import os
import sys
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from tracker._run_base import RunBase
from tracker._values import FAST_TYPES, log_value
from tracker._writer import Ctl, Writer
from tracker.errors import TrackerWarning, UsageError
from tracker.storage._format import R

if TYPE_CHECKING:
    from collections.abc import Callable

    from tracker._port import ArtifactOps

__all__ = ["AlertLevel", "Run"]

_SUMMARY_MODES: Final = frozenset({"min", "max", "mean", "last", "best", "none", "first"})
_GOALS: Final = {"minimize": "minimize", "min": "minimize", "maximize": "maximize", "max": "maximize"}
_ALERT_LEVELS: Final = frozenset({"INFO", "WARN", "ERROR"})


class AlertLevel(str, enum.Enum):
    """Levels of :meth:`Run.alert` (W&B's ``wandb.AlertLevel``); plain strings work too."""

    INFO = "INFO"
    WARN = "WARN"
    ERROR = "ERROR"


_now = time.time
#: Serves the artifact methods: loads ``tracker.artifacts._ops`` on first use; wired by
#: ``tracker._init`` (the write path does not import the artifacts domain).
_artifact_ops: Callable[[], ArtifactOps] | None = None


def serve_artifacts(load: Callable[[], ArtifactOps]) -> None:
    """Set what serves ``Run.log_artifact``/``use_artifact``/``link_artifact`` (``tracker._init``)."""
    global _artifact_ops
    _artifact_ops = load


def _is_matplotlib(value: Any) -> bool:
    """``matplotlib.pyplot`` itself (W&B logs its current figure) or a matplotlib ``Figure``."""
    if type(value).__module__.startswith("matplotlib"):
        return hasattr(value, "savefig")
    return getattr(value, "__name__", None) == "matplotlib.pyplot" and type(value).__name__ == "module"


def _artifacts() -> ArtifactOps:
    if _artifact_ops is None:
        raise RuntimeError("tracker._init wires the artifact operations; import tracker first.")
    return _artifact_ops()


class Run(RunBase):
    """One tracked run, returned by :func:`tracker.init`.

    Attributes:
        id: The run id (unique within its project).
        name: Display name.
        project: Project name.
        entity: Entity (recorded, as W&B's).
        dir: The run's directory under the data root.
        config: Hyperparameters (:class:`tracker.Config`).
        summary: Last value of each metric unless overridden (:class:`tracker.Summary`).
        resumed: True when this run continues an earlier one.

    Use it as a context manager to finish it (failed on an exception)::

        with tracker.init(project="demo") as run:
            run.log({"loss": 0.5})
    """

    # ------------------------------------------------------------------ logging
    def log(self, data: dict[str, Any], step: int | None = None, commit: bool | None = None) -> None:
        """Log a row of metrics (W&B semantics).

        Each call without ``step``/``commit`` commits one row at the current ``_step`` and
        advances it. ``commit=False`` accumulates into the current row. ``step=N``
        (N above the current step) commits any pending row and opens row N, which stays
        open until a higher step or ``commit=True``. A step lower than the current one is
        kept in log order and counted in the summary (``_tracker.out_of_order_rows``),
        never dropped. Values are snapshotted at call time.

        Args:
            data: ``{name: value}``; nested dicts become ``outer.inner`` keys.
            step: Explicit step (a non-negative int).
            commit: False to keep accumulating into the current row.

        Raises:
            UsageError: ``data`` is not a dict, a key is not a string, or a value type
                is unsupported. Nothing from the call is logged then.

        Example:
            >>> run.log({"loss": 0.25, "acc": 0.9})  # doctest: +SKIP
        """
        if type(data) is not dict:
            data = self._coerce(data)
        for k, v in data.items():
            if type(k) is not str or not k or type(v) not in FAST_TYPES:
                row = self._normalise(data)
                break
        else:
            row = dict(data)
        if commit is None:
            if step is None:
                if self._pending is None:
                    s = self._step
                    self._append((s, _now(), row))
                    self._step = s + 1
                else:
                    self._log_slow(row, step, commit)
            elif type(step) is int and self._step < step < 1 << 63:  # else _log_slow checks it
                # log(d, step=i) each iteration: commit the open row, open row i.
                pending = self._pending
                if pending is not None:
                    self._append((self._step, self._pending_ts, pending))
                self._pending = row
                self._pending_ts = _now()
                self._step = step
            else:
                self._log_slow(row, step, commit)
        else:
            self._log_slow(row, step, commit)
        if len(self._queue) > self._max_rows:
            self._backpressure()
        if self._problems:
            self._surface_problems()

    def _durable_step(self) -> int:
        """The largest step of the rows the writer has handed to the OS (private, kept stable).

        Rows are written in log order, so with increasing steps every row up to this step
        is durable: in the page cache, where killing the process cannot lose it (``fsync``
        follows within a second). -1 (or a resumed run's last step) before the first write.
        A lock-free read of :attr:`tracker._writer.Writer.durable_step`, for crash tests and
        benchmarks.
        """
        writer = self._writer
        return writer.durable_step if writer is not None else -1

    def _coerce(self, data: Any) -> dict[str, Any]:
        if isinstance(data, Mapping):
            return dict(data)
        raise UsageError(
            f"log() takes a dict of metrics, not {type(data).__name__}; e.g. run.log({{'loss': loss}})."
        )

    def _normalise(self, data: dict[str, Any]) -> dict[str, Any]:
        row: dict[str, Any] = {}
        for key, value in data.items():
            if _is_matplotlib(value):
                from tracker.media import Image

                value = Image(value)  # W&B logs the (current) figure; rendered now, as an image
            log_value(key, value, row)
        writer = self._writer
        if writer is not None:
            # Media snapshots count against queue_max_bytes (rows of scalars never get here).
            mine = writer.media.account(row)
            if mine:
                self._media_backpressure(writer, mine)
        return row

    def _media_backpressure(self, writer: Writer, mine: int) -> None:
        budget = writer.media.budget
        if "media-backpressure" not in self._warned:
            self._warned.add("media-backpressure")
            warnings.warn(
                f"log(): media are queued faster than the writer encodes them ({budget.pending >> 20} "
                f"MiB queued; the bound is a fraction of a second of encoding, at most queue_max_bytes "
                f"= {budget.limit >> 20} MiB); log() now waits for the writer to catch up so rows "
                "reach the disk within a second, memory stays bounded and nothing is dropped.",
                TrackerWarning,
                stacklevel=4,
            )
        writer.wake.set()
        budget.wait(budget.bound // 2 + mine, lambda: writer.alive and bool(self._queue))

    def _log_slow(self, row: dict[str, Any], step: Any, commit: bool | None) -> None:
        if step is not None:
            step = self._check_step(step)
            if step < self._step:
                # W&B drops these; we keep them (in log order) and the writer counts them.
                if "step-backwards" not in self._warned:
                    self._warn_step_backwards(step)
                self._append((step, _now(), row))
                return
            if step > self._step:
                self._commit_pending()
                self._step = step
            if self._pending is None:
                self._pending = row
                self._pending_ts = _now()
            else:
                self._pending.update(row)
            if commit:
                self._commit_pending()
            return
        if self._pending is None:
            self._pending = row
            self._pending_ts = _now()
        else:
            self._pending.update(row)
        if commit is not False:
            self._commit_pending()

    def _warn_step_backwards(self, step: int) -> None:
        self._warned.add("step-backwards")
        warnings.warn(
            f"log(step={step}) is below the current step {self._step}: the row is kept in log order "
            "and counted in summary['_tracker.out_of_order_rows'] (W&B drops it). Steps should not "
            "go back; for another x axis use define_metric(name, step_metric=...). Warned once per run.",
            TrackerWarning,
            stacklevel=4,
        )

    @staticmethod
    def _check_step(step: Any) -> int:
        if type(step) is not int:
            if isinstance(step, bool) or not hasattr(step, "__index__"):
                raise UsageError(f"log(step=...) must be an int, not {type(step).__name__} {step!r}.")
            step = int(step.__index__())
        if step < 0:
            raise UsageError(f"log(step=...) must not be negative (got {step}).")
        if step >= 1 << 63:  # readers keep steps as int64 (docs/format.md 3.14)
            raise UsageError(f"log(step=...) must be below 2**63 (got {step}).")
        return int(step)

    def _backpressure(self) -> None:
        writer = self._writer
        assert writer is not None
        if not self._backpressure_warned:
            self._backpressure_warned = True
            self._warn(
                "backpressure",
                f"log() is producing faster than the disk takes it ({len(self._queue)} rows "
                "queued); log() now waits for the writer so nothing is dropped.",
            )
        low = self._max_rows // 2
        writer.wake.set()
        with writer.drained:
            while len(self._queue) > low and writer.alive:
                writer.drained.wait(0.5)

    def save(
        self,
        glob_str: str | os.PathLike[str] | None = None,
        base_path: str | os.PathLike[str] | None = None,
        policy: str = "live",
    ) -> list[str]:
        """Copy files into the run's ``files/`` folder (W&B's ``wandb.save``).

        The writer thread copies them, so a large checkpoint does not block training.
        A relative glob keeps its folders (relative to ``base_path``, default the current
        directory); an absolute glob without ``base_path`` saves the files flat.

        Args:
            glob_str: A file path or glob (``"checkpoints/*.pt"``, ``"**/*.yaml"``).
            base_path: The folder the stored paths are relative to.
            policy: ``"live"`` (copy now and again whenever a matching file changes or
                appears, until ``finish()``), ``"now"`` (copy once, now) or ``"end"``
                (copy at ``finish()``).

        Returns:
            Where the files matching now will be stored (``<run.dir>/files/...``).

        Raises:
            UsageError: A bad policy, a URL, a glob above ``base_path``, or the run finished.

        Example:
            >>> run.save("checkpoints/*.pt", policy="end")  # doctest: +SKIP
        """
        self.require_live("save()")
        from tracker._files import matches, save_spec

        spec = save_spec(glob_str, base_path, policy)
        if self._writer is None:
            return []
        self._append(Ctl("save", spec))
        run_dir = Path(self.dir)
        return [str(run_dir / "files" / rel) for _src, rel in matches(spec, run_dir.resolve())]

    def define_metric(
        self,
        name: str,
        step_metric: str | None = None,
        step_sync: bool | None = None,
        hidden: bool | None = None,
        summary: str | None = None,
        goal: str | None = None,
        overwrite: bool | None = None,
    ) -> None:
        """Customise a metric (or a glob of metrics such as ``"val/*"``), as in W&B.

        Args:
            name: Metric name or glob pattern.
            step_metric: Another metric to use as this metric's x axis.
            step_sync: Carry the latest ``step_metric`` value into rows that lack it
                (default True when ``step_metric`` is given).
            hidden: Hide the metric in the dashboard.
            summary: Comma-separated aggregates kept in the summary:
                ``min``, ``max``, ``mean``, ``last``, ``best``, ``first`` or ``none``.
            goal: ``minimize`` or ``maximize`` (what ``best`` means).
            overwrite: Accepted for W&B compatibility.

        Raises:
            UsageError: An empty name, an unknown summary mode or goal.
        """
        self.require_live("define_metric()")
        if not isinstance(name, str) or not name:
            raise UsageError("define_metric() needs a non-empty metric name.")
        modes: tuple[str, ...] | None = None
        if summary is not None:
            modes = tuple(m.strip() for m in summary.split(",") if m.strip())
            bad = [m for m in modes if m not in _SUMMARY_MODES]
            if bad or not modes:
                raise UsageError(
                    f"define_metric(summary={summary!r}): unknown mode(s) {bad}; use a "
                    f"comma-separated subset of {sorted(_SUMMARY_MODES)}."
                )
            if "none" in modes and len(modes) > 1:
                raise UsageError("define_metric(summary=...): 'none' cannot be combined with other modes.")
        norm_goal: str | None = None
        if goal is not None:
            norm_goal = _GOALS.get(str(goal).lower())
            if norm_goal is None:
                raise UsageError(f"define_metric(goal={goal!r}): use 'minimize' or 'maximize'.")
        if modes and "best" in modes and norm_goal is None:
            norm_goal = "minimize"
        spec: dict[str, Any] = {"name": name}
        if step_metric is not None:
            if not isinstance(step_metric, str) or not step_metric:
                raise UsageError(f"define_metric(step_metric={step_metric!r}) must be a metric name.")
            spec["step_metric"] = step_metric
            spec["step_sync"] = True if step_sync is None else bool(step_sync)
        if hidden is not None:
            spec["hidden"] = bool(hidden)
        if modes is not None:
            spec["summary"] = modes
        if norm_goal is not None:
            spec["goal"] = norm_goal
        self._append(Ctl("define_metric", spec))

    def alert(self, title: str, text: str, level: Any = "INFO", wait_duration: Any = None) -> None:
        """Record an alert (listed by ``Api`` ``run.alerts()`` and shown in the dashboard).

        Args:
            title: Short title.
            text: Body text.
            level: ``INFO``, ``WARN`` or ``ERROR`` (a string or an enum with ``.value``).
            wait_duration: Accepted for W&B compatibility.

        Raises:
            UsageError: Unknown level or non-string title/text.
        """
        self.require_live("alert()")
        lvl = str(getattr(level, "value", level)).upper()
        if lvl == "WARNING":
            lvl = "WARN"
        if lvl not in _ALERT_LEVELS:
            raise UsageError(f"alert(level={level!r}): use INFO, WARN or ERROR.")
        if not isinstance(title, str) or not isinstance(text, str):
            raise UsageError("alert() title and text must be strings.")
        alert = {"title": title, "text": text, "level": lvl, "ts": _now(), "step": self._step}
        self._append(Ctl("record", [R.ALERT, alert]))

    # ------------------------------------------------------------------ torch models
    def watch(
        self,
        models: Any,
        criterion: Any = None,
        log: str | None = "gradients",
        log_freq: int = 1000,
        idx: int | None = None,
        log_graph: bool = False,
        **options: Any,
    ) -> None:
        """Log gradient and/or parameter histograms of torch models (W&B's ``run.watch``).

        Implemented by :func:`tracker.integrations.torch.watch` (needs ``tracker[torch]``);
        every hook is removed by :meth:`unwatch` or when the run finishes.

        Args:
            models: A ``torch.nn.Module`` or a sequence of them.
            criterion: Accepted for W&B compatibility.
            log: ``"gradients"``, ``"parameters"``, ``"all"`` or None.
            log_freq: Log every this many optimizer steps.
            idx: Index of the first model (keys of index > 0 get ``graph_<idx>/``).
            log_graph: Record the model's structure in the summary.
            **options: ``mode`` (``"step"`` or ``"hook"``), ``optimizer``, ``scaler``.

        Raises:
            UsageError: Not a module, an unknown ``log``, or the run finished.
            MissingExtraError: torch is not installed.

        Example:
            >>> run.watch(model, log="all", log_freq=100)  # doctest: +SKIP
        """
        if self.disabled:
            return
        self.require_live("watch()")
        from tracker.integrations.torch import watch  # imports torch: only when used (G2)

        watch(self, models, criterion, log, log_freq, idx, log_graph, **options)
        if self._unwatch_all not in self._on_finish:
            self._on_finish.append(self._unwatch_all)

    def unwatch(self, models: Any = None) -> None:
        """Remove the hooks :meth:`watch` attached (for ``models``, default all)."""
        if self.disabled:
            return
        from tracker.integrations.torch import unwatch

        unwatch(self, models)

    def _unwatch_all(self) -> None:
        if "tracker.integrations.torch" in sys.modules:
            self.unwatch()

    # ------------------------------------------------------------------ artifacts
    def log_artifact(
        self,
        artifact_or_path: Any,
        name: str | None = None,
        type: str | None = None,
        aliases: list[str] | None = None,
        tags: list[str] | None = None,
    ) -> Any:
        """Log an artifact as this run's output; returns at once (``artifact.wait()`` for the version).

        Hashing and storing happen in the run's artifact worker; ``latest`` moves to the
        new version; unchanged content gets the existing version back. A path logs a file
        or folder as a new artifact named ``name`` (default: the base name).

        Returns:
            The :class:`tracker.Artifact`.

        Raises:
            UsageError: An invalid artifact, alias or path, or the run finished.
        """
        return _artifacts().log_artifact(self, artifact_or_path, name=name, type=type, aliases=aliases)

    def use_artifact(
        self, artifact_or_name: Any, type: str | None = None, aliases: list[str] | None = None,
        use_as: str | None = None,
    ) -> Any:  # fmt: skip
        """Record that this run uses an artifact (``"name:latest"``, ``"name:v3"``, ``"project/name:alias"``).

        Returns:
            The :class:`tracker.Artifact` (its files download on demand).

        Raises:
            UsageError: A malformed reference or a type mismatch.
            StorageError: No such artifact version.
        """
        return _artifacts().use_artifact(self, artifact_or_name, type=type, aliases=aliases, use_as=use_as)

    def link_artifact(self, artifact: Any, target_path: str, aliases: list[str] | None = None) -> Any:
        """Link an artifact into a registry collection (``"model-registry/<collection>"``).

        Returns:
            ``artifact`` (a :class:`tracker.Artifact`).

        Raises:
            UsageError: Not a registry path, or an invalid alias.
        """
        return _artifacts().link_artifact(self, artifact, target_path, aliases=aliases)

    def log_model(self, path: Any, name: str | None = None, aliases: list[str] | None = None) -> Any:
        """Log a file or folder as a ``model`` artifact (named ``run-<id>-<file name>`` by default).

        Returns:
            The :class:`tracker.Artifact` (``wait()`` for its version).
        """
        return _artifacts().log_model(self, path, name=name, aliases=aliases)

    def use_model(self, name: str) -> str:
        """Use a ``model`` artifact (``"name:alias"``) and download it.

        Returns:
            The downloaded file's path when the model is one file, else the folder's.

        Raises:
            UsageError: The artifact's type is not ``model``.
        """
        return str(_artifacts().use_model(self, name))

    def link_model(
        self, path: Any, registered_model_name: str, name: str | None = None, aliases: list[str] | None = None
    ) -> Any:
        """Log a model (as :meth:`log_model`) and link it into ``model-registry/<registered_model_name>``."""
        return _artifacts().link_model(self, path, registered_model_name, name=name, aliases=aliases)

    def log_code(
        self,
        root: str | None = ".",
        name: str | None = None,
        include_fn: Callable[..., Any] | None = None,
        exclude_fn: Callable[..., Any] | None = None,
    ) -> Any:
        """Log the code under ``root`` as a ``code`` artifact (W&B's ``run.log_code``).

        ``include_fn(path[, root])`` picks files (default: ``.py``, ``requirements.txt``,
        ``Dockerfile*``), ``exclude_fn`` drops some; hidden folders, virtual environments
        and the data root are never entered.

        Returns:
            The :class:`tracker.Artifact`, or None when no file matched.
        """
        return _artifacts().log_code(self, root, name=name, include_fn=include_fn, exclude_fn=exclude_fn)
