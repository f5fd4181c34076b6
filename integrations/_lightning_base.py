"""The implementation shared by both Lightning namespaces' ``TrackerLogger``.

``lightning.pytorch`` and ``pytorch_lightning`` ship the same code under two names whose
classes are distinct objects, so ``tracker.integrations.lightning`` and
``tracker.integrations.pytorch_lightning`` each subclass their namespace's ``Logger``
with :class:`TrackerLoggerBase` in front. This module imports neither framework: a user
with only one of the two packages must be able to use its adapter. The namespace module
supplies its ``rank_zero_only`` (whose ``.rank`` Lightning sets) as a class attribute, which
:func:`_rank_zero` reads on every call; each hook of Lightning's ``Logger`` that this class
implements is marked ``@override`` (against :class:`_LoggerHooks`, so it is checked without
importing a framework), as Lightning's own ``WandbLogger`` marks its hooks.

Behaviour (notes/integrations.md §2.4): the run is created lazily on rank 0 on first
use of :attr:`~TrackerLoggerBase.experiment`; metrics carry ``trainer/global_step``,
declared as every metric's step metric, and are logged without an explicit step so that
train and validation rows of one step are all kept; ``finalize`` records the status but
leaves the run open (``fit``, ``validate`` and ``test`` share it); ``finish()``,
``finish_on_finalize=True`` or process exit finishes it.
"""

from __future__ import annotations

import functools
import math
import os
import warnings
from argparse import Namespace
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar, Final, TypeVar, cast

from typing_extensions import override  # a dependency of both Lightning packages

import tracker
from tracker._optional import adapter_env
from tracker.errors import TrackerWarning, UnsupportedError, UsageError

__all__ = ["STEP_KEY", "TrackerLoggerBase", "logger_doc"]

#: The x axis of every metric a ``TrackerLogger`` logs.
STEP_KEY: Final = "trainer/global_step"
_JOIN: Final = "-"  # Lightning's LOGGER_JOIN_CHAR, used for ``prefix``
_ENV_PROJECT: Final = "TRACKER_PROJECT"
_DEFAULT_PROJECT: Final = "lightning_logs"
_SUCCESS: Final = frozenset({"success", "finished"})


_DOC_BODY: Final = """

    The run is created lazily on global rank 0 (other ranks get a no-op ``experiment``)
    and shared by ``fit``, ``validate`` and ``test``: ``finalize`` records the status
    (``summary["_lightning_status"]``) but does not finish the run. Call :meth:`finish`,
    pass ``finish_on_finalize=True``, or let the process exit. Every metric is plotted
    against ``trainer/global_step``.

    Args:
        name: Run display name.
        save_dir: Folder under which Lightning writes checkpoints
            (``<save_dir>/<project>/<run id>/checkpoints``).
        version: Run id to use or resume (same as ``id``).
        offline: Accepted for W&B compatibility (tracker always writes locally).
        dir: tracker data root for this run (default ``$TRACKER_DIR``).
        id: Run id to use or resume.
        anonymous: Accepted for W&B compatibility.
        project: Project (default ``$TRACKER_PROJECT``, else ``lightning_logs``).
        log_model: ``False``; ``True`` (log the checkpoints kept by ``ModelCheckpoint``
            when training succeeds); ``"all"`` (log every checkpoint when written).
        experiment: An existing :class:`tracker.Run` to log to.
        prefix: Prepended to metric names (joined with ``-``).
        checkpoint_name: Artifact name (default ``model-<run id>``).
        add_file_policy: How checkpoint files are added to artifacts.
        finish_on_finalize: Finish the run at the end of every ``fit``/``validate``/``test``.
        **init_kwargs: More :func:`tracker.init` keywords (``entity``, ``group``, ``tags``, ...).

    Raises:
        UsageError: An invalid ``log_model``.
        UnsupportedError: ``log_model`` without artifact support in this tracker version.
    """


def logger_doc(summary: str | None) -> str:
    """A namespace's ``TrackerLogger`` docstring: its one-line ``summary``, then the shared rest."""
    return (summary or "") + _DOC_BODY


class _NoOp:
    """What ``experiment`` is on ranks other than 0: every attribute chain and call is a no-op.

    ``logger.experiment.config.update(...)`` and ``logger.experiment.summary["x"] = 1``
    work on every rank (Lightning's own dummy returns a function for ``.config``).
    """

    def __getattr__(self, name: str) -> _NoOp:
        if name.startswith("__"):
            raise AttributeError(name)
        return self

    def __call__(self, *args: Any, **kwargs: Any) -> _NoOp:
        return self

    def __getitem__(self, key: Any) -> _NoOp:
        return self

    def __setitem__(self, key: Any, value: Any) -> None:
        pass

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "<tracker no-op run (not rank 0)>"


_NO_OP: Final = _NoOp()


def _plain_params(params: Any) -> dict[str, Any]:
    """Hyperparameters as W&B's logger stores them: Namespace → dict, callables → names."""
    if isinstance(params, Namespace):
        params = vars(params)
    if not isinstance(params, Mapping):
        raise UsageError(
            f"log_hyperparams() takes a dict or argparse.Namespace, not {type(params).__name__}."
        )

    def convert(value: Any) -> Any:
        if isinstance(value, Namespace):
            value = vars(value)
        if isinstance(value, Mapping):
            return {str(k): convert(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [convert(v) for v in value]
        if callable(value) and not hasattr(value, "dtype"):
            return getattr(value, "__name__", None) or repr(value)
        return value

    return {str(k): convert(v) for k, v in params.items()}


_Hook = TypeVar("_Hook", bound=Callable[..., None])


def _rank_zero(method: _Hook) -> _Hook:
    """Run ``method`` on global rank 0 only; elsewhere the call does nothing.

    Lightning's ``rank_zero_only`` reads one namespace's rank; this reads the rank of the
    class's own namespace (``_rank_zero_only.rank``) when called, so a test or launcher
    that sets it after import is obeyed.
    """

    @functools.wraps(method)
    def on_rank_zero(self: TrackerLoggerBase, *args: Any, **kwargs: Any) -> None:
        if self._is_rank_zero():
            method(self, *args, **kwargs)

    return cast(_Hook, on_rank_zero)


class _LoggerHooks:
    """The hooks of Lightning's ``Logger`` that :class:`TrackerLoggerBase` implements.

    Both namespaces' ``Logger`` declare them (``lightning.fabric.loggers.logger`` and
    ``lightning.pytorch.loggers.logger``); they are restated here so that ``@override``
    is checked without importing either framework. Every one is overridden, so nothing
    here runs: Lightning's ``Logger`` keeps providing the hooks this adapter leaves alone.
    """

    @property
    def name(self) -> str | None:
        raise NotImplementedError

    @property
    def version(self) -> int | str | None:
        raise NotImplementedError

    @property
    def save_dir(self) -> str | None:
        raise NotImplementedError

    def log_hyperparams(self, params: dict[str, Any] | Namespace, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError

    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        raise NotImplementedError

    def log_graph(self, model: Any, input_array: Any = None) -> None:
        raise NotImplementedError

    def save(self) -> None:
        raise NotImplementedError

    def finalize(self, status: str) -> None:
        raise NotImplementedError

    def after_save_checkpoint(self, checkpoint_callback: Any) -> None:
        raise NotImplementedError


class TrackerLoggerBase(_LoggerHooks):
    """Everything ``TrackerLogger`` does; see ``tracker.integrations.lightning.TrackerLogger``."""

    #: The namespace's ``rank_zero_only`` (set by the subclass); its ``.rank`` is this process's.
    _rank_zero_only: ClassVar[Any] = None

    def __init__(
        self,
        name: str | None = None,
        save_dir: str | os.PathLike[str] = ".",
        version: str | None = None,
        offline: bool = False,
        dir: str | os.PathLike[str] | None = None,
        id: str | None = None,
        anonymous: bool | None = None,
        project: str | None = None,
        log_model: bool | str = False,
        experiment: tracker.Run | None = None,
        prefix: str = "",
        checkpoint_name: str | None = None,
        add_file_policy: str = "mutable",
        finish_on_finalize: bool = False,
        **init_kwargs: Any,
    ) -> None:
        super().__init__()
        if log_model not in (False, True, "all"):
            raise UsageError(f"TrackerLogger(log_model={log_model!r}): use False, True or 'all'.")
        if log_model and not hasattr(tracker, "Artifact"):
            raise UnsupportedError(
                "TrackerLogger(log_model=...) logs checkpoints as model artifacts, which this "
                "version of tracker does not have yet (tracker.Artifact); use log_model=False "
                "and ModelCheckpoint's own files for now."
            )
        self._name = name
        self._save_dir = os.fspath(save_dir) if save_dir is not None else None
        self._offline = offline
        self._data_dir = dir
        self._run_id: str | None = version or id
        self._project = project or adapter_env(_ENV_PROJECT) or _DEFAULT_PROJECT
        self._log_model = log_model
        self._prefix = prefix
        self._checkpoint_name = checkpoint_name
        self._add_file_policy = add_file_policy
        self._finish_on_finalize = finish_on_finalize
        self._init_kwargs = init_kwargs
        if anonymous is not None:
            init_kwargs["anonymous"] = anonymous
        self._experiment: tracker.Run | None = experiment
        if experiment is not None:
            self._run_id = experiment.id
            self._project = experiment.project
        # Every ModelCheckpoint seen (weak proxies, as Lightning passes them): with two,
        # both callbacks' files are logged.
        self._checkpoint_callbacks: list[Any] = []
        self._logged_checkpoints: dict[str, float] = {}

    # ------------------------------------------------------------------ rank zero
    def _is_rank_zero(self) -> bool:
        return int(getattr(type(self)._rank_zero_only, "rank", 0) or 0) == 0

    # ------------------------------------------------------------------ the run
    @property
    def experiment(self) -> tracker.Run:
        """The :class:`tracker.Run`, created on first use (a no-op object off rank 0)."""
        if not self._is_rank_zero():
            return _NO_OP  # type: ignore[return-value]  # duck-types a Run off rank 0
        if self._experiment is None:
            self._experiment = self._start_run()
        return self._experiment

    def _start_run(self) -> tracker.Run:
        current = tracker.run
        if current is not None and self._run_id in (None, current.id):
            warnings.warn(
                f"TrackerLogger: a run is already active ({current.id}); logging to it. Call "
                "tracker.finish() first to start a new run.",
                TrackerWarning,
                stacklevel=4,
            )
            run = current
        else:
            kwargs: dict[str, Any] = {"resume": "allow", **self._init_kwargs}
            kwargs.setdefault("project", self._project)
            if self._name is not None:
                kwargs.setdefault("name", self._name)
            if self._run_id is not None:
                kwargs.setdefault("id", self._run_id)
            if self._data_dir is not None:
                kwargs.setdefault("dir", self._data_dir)
            if self._offline:
                kwargs.setdefault("mode", "offline")
            if current is not None:
                kwargs.setdefault("reinit", "create_new")
            run = tracker.init(**kwargs)
        run.define_metric(STEP_KEY)
        run.define_metric("*", step_metric=STEP_KEY, step_sync=True)
        self._run_id = run.id
        self._project = run.project
        return run

    @property
    @override
    def name(self) -> str | None:
        """The project (Lightning uses it as a checkpoint path component)."""
        return self._project

    @property
    @override
    def version(self) -> int | str | None:
        """The run id (the constructor's ``version``/``id`` before the run exists)."""
        return self._run_id

    @property
    @override
    def save_dir(self) -> str | None:
        """Where Lightning puts checkpoints: ``<save_dir>/<project>/<run id>/checkpoints``."""
        return self._save_dir

    # ------------------------------------------------------------------ logging
    @override
    @_rank_zero
    def log_hyperparams(self, params: dict[str, Any] | Namespace, *args: Any, **kwargs: Any) -> None:
        """Merge hyperparameters (dict, nested dicts or ``argparse.Namespace``) into the config.

        Idempotent: Lightning calls it at the start of every ``fit``/``validate``/``test``.
        """
        self.experiment.config.update(_plain_params(params), allow_val_change=True)

    @override
    @_rank_zero
    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        """Log one row: the metrics (prefixed) plus ``trainer/global_step`` when ``step`` is given.

        Never passes ``step=`` to ``Run.log``: several calls for one step (train, then
        validation, then a ``LearningRateMonitor``) are all kept.
        """
        row: dict[str, Any] = {}
        for key, value in metrics.items():
            row[f"{self._prefix}{_JOIN}{key}" if self._prefix else key] = value
        if step is not None:
            row[STEP_KEY] = int(step)
        self.experiment.log(row)

    @override
    def log_graph(self, model: Any, input_array: Any = None) -> None:
        """Do nothing (as W&B's logger); use :meth:`watch` for gradient histograms."""

    @override
    def save(self) -> None:
        """Do nothing: the run's writer thread persists rows continuously."""

    @override
    @_rank_zero
    def finalize(self, status: str) -> None:
        """Record how ``fit``/``validate``/``test`` ended; the run stays open.

        On success, checkpoints kept for ``log_model=True`` are logged. The status goes to
        the summary as ``_lightning_status``. With ``finish_on_finalize=True`` the run is
        finished too (failed unless the status is ``success``/``finished``).
        """
        if self._experiment is None:
            return
        if status in _SUCCESS:
            for callback in self._checkpoint_callbacks:
                self._scan_and_log_checkpoints(callback)
        self._experiment.summary["_lightning_status"] = status
        if self._finish_on_finalize:
            self.finish(exit_code=0 if status in _SUCCESS else 1)

    @_rank_zero
    def finish(self, exit_code: int | None = None) -> None:
        """Finish the run now (another ``fit`` with this logger resumes the same run id)."""
        if self._experiment is None:
            return
        run, self._experiment = self._experiment, None
        run.finish(exit_code=exit_code)

    # ------------------------------------------------------------------ torch hooks, media
    @_rank_zero
    def watch(
        self, model: Any, log: str | None = "gradients", log_freq: int = 100, log_graph: bool = True
    ) -> None:
        """Log gradient/parameter histograms of ``model`` every ``log_freq`` optimizer steps.

        Args:
            model: The ``LightningModule`` or any ``torch.nn.Module``.
            log: ``"gradients"``, ``"parameters"``, ``"all"`` or None.
            log_freq: Optimizer steps between histograms.
            log_graph: Record the model's structure in the summary.
        """
        self.experiment.watch(model, log=log, log_freq=log_freq, log_graph=log_graph)

    def _log_media(
        self, make: Callable[..., Any], key: str, items: list[Any], step: int | None, kwargs: dict[str, Any]
    ) -> None:
        if not isinstance(items, list):
            raise UsageError(f"{key!r}: expected a list of items, got {type(items).__name__}.")
        for name, values in kwargs.items():
            if len(values) != len(items):
                raise UsageError(f"{key!r}: {len(values)} values for {name!r}, but {len(items)} items.")
        per_item = [{name: values[i] for name, values in kwargs.items()} for i in range(len(items))]
        self.log_metrics({key: [make(item, **kw) for item, kw in zip(items, per_item, strict=True)]}, step)

    @_rank_zero
    def log_image(self, key: str, images: list[Any], step: int | None = None, **kwargs: Any) -> None:
        """Log a list of images as :class:`tracker.Image` (per-image kwargs as lists: ``caption=[...]``)."""
        self._log_media(tracker.Image, key, images, step, kwargs)

    @_rank_zero
    def log_audio(self, key: str, audios: list[Any], step: int | None = None, **kwargs: Any) -> None:
        """Log a list of clips as :class:`tracker.Audio` (``sample_rate=[...]``, ``caption=[...]``)."""
        self._log_media(tracker.Audio, key, audios, step, kwargs)

    @_rank_zero
    def log_video(self, key: str, videos: list[Any], step: int | None = None, **kwargs: Any) -> None:
        """Log a list of videos as :class:`tracker.Video` (``fps=[...]``, ``caption=[...]``)."""
        self._log_media(tracker.Video, key, videos, step, kwargs)

    @_rank_zero
    def log_table(
        self,
        key: str,
        columns: list[str] | None = None,
        data: list[list[Any]] | None = None,
        dataframe: Any = None,
        step: int | None = None,
    ) -> None:
        """Log a :class:`tracker.Table` from ``columns`` + ``data`` or a ``dataframe``."""
        self.log_metrics({key: tracker.Table(columns=columns, data=data, dataframe=dataframe)}, step)

    def log_text(
        self,
        key: str,
        columns: list[str] | None = None,
        data: list[list[str]] | None = None,
        dataframe: Any = None,
        step: int | None = None,
    ) -> None:
        """Log text as a table (W&B's logger does the same)."""
        self.log_table(key, columns, data, dataframe, step)

    # ------------------------------------------------------------------ artifacts
    @staticmethod
    def download_artifact(
        artifact: str,
        save_dir: str | os.PathLike[str] | None = None,
        artifact_type: str | None = None,
        use_artifact: bool = True,
    ) -> str:
        """Download an artifact (``"name:alias"``, ``"project/name:v3"``); W&B's logger's method.

        Args:
            artifact: The artifact's path.
            save_dir: Where to put its files (default: tracker's artifact cache folder).
            artifact_type: Its type, checked when given.
            use_artifact: Record it as an input of the current run, when one is active.

        Returns:
            The folder holding the files.
        """
        run = tracker.run
        if run is not None and use_artifact:
            found = run.use_artifact(artifact, type=artifact_type)
        else:
            found = tracker.Api().artifact(artifact, type=artifact_type)
        return str(found.download(root=None if save_dir is None else os.fspath(save_dir)))

    def use_artifact(self, artifact: str, artifact_type: str | None = None) -> Any:
        """Record ``artifact`` as an input of this logger's run and return it (W&B's logger's method)."""
        return self.experiment.use_artifact(artifact, type=artifact_type)

    # ------------------------------------------------------------------ checkpoints
    @override
    @_rank_zero
    def after_save_checkpoint(self, checkpoint_callback: Any) -> None:
        """Log the checkpoint just written (``log_model="all"``) or remember the callback (``True``)."""
        if not self._log_model:
            return
        if self._log_model == "all" or getattr(checkpoint_callback, "save_top_k", None) == -1:
            self._scan_and_log_checkpoints(checkpoint_callback)
        elif not any(_same(c, checkpoint_callback) for c in self._checkpoint_callbacks):
            self._checkpoint_callbacks.append(checkpoint_callback)

    def _scan_and_log_checkpoints(self, callback: Any) -> None:
        run = self.experiment
        found: dict[str, Any] = {}
        last = getattr(callback, "last_model_path", "")
        best = getattr(callback, "best_model_path", "")
        if last:
            found[last] = getattr(callback, "current_score", None)
        if best:
            found[best] = getattr(callback, "best_model_score", None)
        for path, score in dict(getattr(callback, "best_k_models", {}) or {}).items():
            found[path] = score
        checkpoints = []
        for path, score in found.items():
            p = Path(path)
            if not p.is_file():
                continue
            mtime = p.stat().st_mtime
            if self._logged_checkpoints.get(path, -math.inf) >= mtime:
                continue
            checkpoints.append((mtime, path, score))
        for mtime, path, score in sorted(checkpoints):
            self._log_checkpoint(run, callback, path, score, is_best=path == best)
            self._logged_checkpoints[path] = mtime

    def _log_checkpoint(
        self, run: tracker.Run, callback: Any, path: str, score: Any, *, is_best: bool
    ) -> None:
        if hasattr(score, "item"):
            score = score.item()
        meta = {
            "score": None if score is None else float(score),
            "original_filename": Path(path).name,
            # __class__, not type(): Lightning passes a weakref.proxy, whose type is ProxyType.
            callback.__class__.__name__: {
                k: getattr(callback, k)
                for k in (
                    "monitor",
                    "mode",
                    "save_last",
                    "save_top_k",
                    "save_weights_only",
                    "_every_n_train_steps",
                )
                if hasattr(callback, k)
            },
        }
        artifact_cls: Any = getattr(tracker, "Artifact")  # noqa: B009  (absent in older versions)
        artifact = artifact_cls(name=self._checkpoint_name or f"model-{run.id}", type="model", metadata=meta)
        artifact.add_file(path, name="model.ckpt", policy=self._add_file_policy)
        run.log_artifact(artifact, aliases=["latest", "best"] if is_best else ["latest"])

    # ------------------------------------------------------------------ pickling
    def __getstate__(self) -> dict[str, Any]:
        # Spawned workers re-attach by id (resume="allow"); live objects stay behind.
        state = self.__dict__.copy()
        state["_experiment"] = None
        state["_checkpoint_callbacks"] = []
        return state


def _same(a: Any, b: Any) -> bool:
    """Whether two (possibly proxied) callbacks are one object; a dead proxy matches nothing."""
    try:
        return bool(a == b)  # a proxy compares its referent: identity for ModelCheckpoint
    except ReferenceError:
        return False
