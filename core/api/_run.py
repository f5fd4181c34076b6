"""``Run`` and ``Runs``: runs as the read side sees them (W&B's ``apis.public.Run``)."""

from __future__ import annotations

import datetime as _dt
import functools
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Final, TypeVar, overload

from tracker._naming import run_page
from tracker.api._artifacts import RunArtifactsMixin
from tracker.api._history import SPECIAL, STEP, Rows, select, to_dicts, to_frame
from tracker.api._media import RunMediaMixin
from tracker.api._writeback import RunSummary, apply_edit, diff
from tracker.errors import TrackerWarning, UsageError
from tracker.storage._liveness import effective_state

if TYPE_CHECKING:
    from tracker.api._api import Api
    from tracker.storage._base import RunEdit, RunRecord

#: Stream names (as tracker.storage._base.STREAMS, without importing it at ``import tracker``).
_EVENTS: Final = frozenset({"events", "system"})
_STREAMS: Final = frozenset({"default"}) | _EVENTS

__all__ = ["Run", "Runs"]


def _iso(ts: float) -> str:
    """W&B's timestamp format: UTC, ISO 8601, seconds, no suffix."""
    return _dt.datetime.fromtimestamp(ts, _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


class Run(RunArtifactsMixin, RunMediaMixin):
    """One run, read from the index. Returned by :meth:`Api.run` and :meth:`Api.runs`.

    Attributes:
        id: Run id.
        name: Display name (W&B's ``display_name``).
        project: Project name.
        entity: Entity (``local`` when none was recorded).
        state: ``running``, ``finished``, ``failed``, ``crashed``, ``killed`` or
            ``preempted`` or ``stopped`` (ended early by a sweep); a run whose process
            died reads as ``crashed``.
        config: Hyperparameters (a dict).
        summary: Last value of each metric, or what the run set (a dict).
        tags: Tags (user edits included).
        group: Group name, or None.
        job_type: Job type, or None.
        notes: Notes (user edits included), or None.
        sweep_id: The sweep the run belongs to, or None.
        exit_code: Process-style exit code once the run ended.
        problems: What could not be read from the run log, as dicts: ``{"kind":
            "corrupt", "offset", "reason"}`` for a record that breaks the format's schema
            (it is left out), ``{"kind": "gap", "offset", "bytes", "reason"}`` for damaged
            bytes skipped. Empty for a healthy run; everything else stays readable.

    Example:
        >>> run = tracker.Api().run("demo/abc123")  # doctest: +SKIP
        >>> run.history(keys=["loss"], samples=500)  # doctest: +SKIP
    """

    def __init__(
        self, api: Api, record: RunRecord, edit: RunEdit | None = None, *, now: float | None = None
    ) -> None:
        self._api = api
        self._record = record
        self.id: str = record.id
        self.name: str = edit.name if edit is not None and edit.name is not None else record.name
        self.project: str = record.project
        self.entity: str = record.entity or "local"
        self.group = record.group
        self.job_type = record.job_type
        self.sweep_id = record.sweep_id
        self.exit_code = record.exit_code
        self.config: dict[str, Any] = apply_edit(record.config, edit.config if edit is not None else None)
        self.summary: dict[str, Any] = RunSummary(
            apply_edit(record.summary, edit.summary if edit is not None else None), self._save_summary
        )
        self.tags: list[str] = list(edit.tags if edit is not None and edit.tags is not None else record.tags)
        self.notes = edit.notes if edit is not None and edit.notes is not None else record.notes
        self.state: str = effective_state(
            record.state,
            host=record.host,
            pid=record.pid,
            start_time=record.start_time,
            last_time=record.last_time,
            now=now,
        )
        self._created = record.created_at
        self._heartbeat = record.last_time
        self.problems: list[dict[str, Any]] = [
            dict(p) for p in record.problems or ()
        ]  # None: an older server

    # ---------------------------------------------------------------- W&B attributes
    @property
    def display_name(self) -> str:
        """The display name (same as :attr:`name`)."""
        return self.name

    @property
    def summary_metrics(self) -> dict[str, Any]:
        """The summary (W&B's older name)."""
        return self.summary

    @property
    def sweep(self) -> Any:
        """The :class:`~tracker.api.Sweep` this run belongs to (W&B's ``Run.sweep``), or None."""
        return self._api.sweep(f"{self.project}/{self.sweep_id}") if self.sweep_id else None

    @property
    def created_at(self) -> str:
        """Creation time, ISO 8601 UTC (``2024-01-31T12:00:00``)."""
        return _iso(self._created)

    @property
    def heartbeat_at(self) -> str:
        """Time of the last record or heartbeat, ISO 8601 UTC."""
        return _iso(self._heartbeat)

    @property
    def path(self) -> list[str]:
        """``[entity, project, id]``, as W&B's ``Run.path``."""
        return [self.entity, self.project, self.id]

    @property
    def url(self) -> str:
        """The run's page in ``tracker ui`` (with the token of a running one, as ``Run.url``)."""
        from tracker._settings import ENV_UI_URL, env
        from tracker._ui_link import run_url

        if self._api._remote is not None:  # the run's page on the team server it was read from
            return f"{self._api._remote.base_url}{run_page(self.project, self.id)}"
        return run_url(self._api.root, self.project, self.id, env(ENV_UI_URL))

    @property
    def metadata(self) -> dict[str, Any]:
        """Run capture: program, argv, git commit, Python, host, packages."""
        capture = self._api.index.details(self.project, self.id).get("capture")
        return capture if isinstance(capture, dict) else {}

    @property
    def max_step(self) -> int:
        """The largest live ``_step`` (``-1`` when nothing was logged)."""
        return self._record.max_step

    def __repr__(self) -> str:
        return f"<Run {self.entity}/{self.project}/{self.id} ({self.state})>"

    def _repr_html_(self) -> str:
        """Jupyter's view: name, state, link, key figures; the dashboard page while one serves it."""
        from tracker._html import run_html

        facts = [("steps", str(self.max_step + 1)), ("created", self.created_at.replace("T", " ") + " UTC"),
                 ("config", f"{len(self.config)} keys"), ("tags", ", ".join(self.tags))]  # fmt: skip
        root = self._api.root if self._api._remote is None else None
        return run_html(name=self.name, run_id=self.id, project=self.project, state=self.state, url=self.url,
                        summary=self.summary, facts=facts, root=root)  # fmt: skip

    # ---------------------------------------------------------------- data
    def alerts(self) -> list[dict[str, Any]]:
        """Alerts recorded by ``run.alert()``, oldest first (title, text, level, ts, step)."""
        self._api._refresh(self.project, self.id)
        alerts = self._api.index.details(self.project, self.id).get("alerts")
        return [dict(a) for a in alerts] if isinstance(alerts, list) else []

    def history(
        self,
        samples: int | None = None,
        keys: list[str] | None = None,
        x_axis: str = STEP,
        pandas: bool = True,
        stream: str = "default",
    ) -> Any:
        """Logged rows with ``_step``, ``_timestamp``, ``_runtime`` and the keys.

        Unlike W&B, every row is returned unless ``samples`` is given, and a sampled
        result keeps each key's first, min, max and last row per bucket (real rows, so a
        spike is never sampled away), always with the first and last row.

        Args:
            samples: At most this many rows (None: all rows).
            keys: Only these keys, and only rows that have all of them.
            x_axis: A key every returned row must have (default ``_step``).
            pandas: Return a ``pandas.DataFrame`` (needs ``tracker[data]``); else a list
                of dicts holding only the keys each row has.
            stream: ``default`` (logged rows) or ``events`` (system metrics; ``system``
                is an alias).

        Returns:
            A DataFrame or a list of dicts, rows in log order.

        Raises:
            UsageError: Invalid arguments.
            MissingExtraError: ``pandas=True`` without pandas installed.
        """
        if samples is not None and (isinstance(samples, bool) or not isinstance(samples, int) or samples < 1):
            raise UsageError(f"history(samples={samples!r}): use a positive integer or None.")
        if stream not in _STREAMS:
            raise UsageError(f"history(stream={stream!r}): use 'default' or 'events' (alias 'system').")
        if pandas:
            from tracker._optional import require_extra

            require_extra("pandas", feature="Run.history(pandas=True)", extra="data")
        return _retry(lambda: self._history(samples, keys, x_axis, pandas, stream))

    def _history(
        self, samples: int | None, keys: list[str] | None, x_axis: str, pandas: bool, stream: str
    ) -> Any:
        rows, out_keys, step = self._history_rows(samples, keys, x_axis, stream)
        if keys is not None and self._api._remote is None and stream not in _EVENTS:
            # Here, not in _history_rows: a team server answering a client must not warn.
            logged = self._api.index.keys(self.project, self.id, stream)
            _warn_unknown_keys(_check_keys(keys, "history"), logged, f"{self.project}/{self.id}")
        if pandas:
            return to_frame(rows, out_keys, self._created, step=step)
        return to_dicts(rows, out_keys, self._created, step=step)

    def _history_rows(
        self, samples: int | None, keys: list[str] | None, x_axis: str, stream: str
    ) -> tuple[Rows, list[str], bool]:
        """The selected rows, the output keys and whether rows have ``_step`` (a team server's too)."""
        api = self._api
        if api._remote is not None:
            remote: tuple[Rows, list[str], bool] = api._remote.history_rows(
                self, samples, keys, x_axis, stream
            )
            return remote
        api._refresh(self.project, self.id)
        if stream in _EVENTS:
            return self._events(samples, keys)
        if keys is None:
            out_keys = list(api.index.keys(self.project, self.id, stream))
            required: list[str] = []
        else:
            out_keys = [k for k in _check_keys(keys, "history") if k not in SPECIAL]
            required = list(out_keys)
        if x_axis not in SPECIAL:
            if not isinstance(x_axis, str):
                raise UsageError(f"history(x_axis={x_axis!r}) must be a key name.")
            if x_axis not in out_keys:
                out_keys.insert(0, x_axis)
            if keys is not None and x_axis not in required:
                required.insert(0, x_axis)
        series = api.index.series(self.project, self.id, out_keys, stream=stream)
        return select(series, out_keys, required=required, samples=samples), out_keys, True

    def _events(self, samples: int | None, keys: list[str] | None) -> tuple[Rows, list[str], bool]:
        from tracker.api._events import NODE, event_series

        series, all_keys = event_series(self)
        if keys is None:
            out_keys, required = all_keys, []
        else:
            required = [k for k in _check_keys(keys, "history") if k not in SPECIAL and k != NODE]
            out_keys = sorted({*required, NODE})
        return select(series, out_keys, required=required, samples=samples), out_keys, False

    def scan_history(
        self,
        keys: list[str] | None = None,
        page_size: int = 1000,
        min_step: int | None = None,
        max_step: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Iterate over every row, page by page, as dicts.

        Args:
            keys: Only these keys, and only rows that have all of them; each dict then
                holds exactly these keys (``_step`` only when asked for, as in W&B).
            page_size: Rows per page read from the index.
            min_step: Skip rows with ``_step`` below this.
            max_step: Skip rows with ``_step`` at or above this.

        Yields:
            One dict per row, in log order.
        """
        if not isinstance(page_size, int) or page_size < 1:
            raise UsageError(f"scan_history(page_size={page_size!r}): use a positive integer.")
        out_keys = None if keys is None else _check_keys(keys, "scan_history")
        return self._scan(out_keys, page_size, min_step, max_step)

    def _scan(
        self, keys: list[str] | None, page_size: int, min_step: int | None, max_step: int | None
    ) -> Iterator[dict[str, Any]]:
        from tracker.storage._ingest import CHUNK_POINTS

        api = self._api
        if api._remote is not None:
            yield from api._remote.scan(self, keys, page_size, min_step, max_step)
            return
        api._refresh(self.project, self.id)
        record = api.index.run(self.project, self.id)
        if record is None:
            return
        window = max(page_size, CHUNK_POINTS)
        for lo in range(0, record.rows_logged, window):
            yield from _retry(functools.partial(self._scan_window, keys, lo, window, min_step, max_step))

    def _scan_window(
        self, keys: list[str] | None, lo: int, window: int, min_step: int | None, max_step: int | None
    ) -> list[dict[str, Any]]:
        """The rows at positions ``[lo, lo + window)`` of the log with ``min_step <= _step < max_step``."""
        rows, out_keys = self._scan_rows(keys, lo, window)
        return scan_dicts(rows, keys, out_keys, self._created, min_step, max_step)

    def _scan_rows(self, keys: list[str] | None, lo: int, window: int) -> tuple[Rows, list[str]]:
        """The rows at positions ``[lo, lo + window)`` and the keys of their dicts (a team server's too)."""
        api = self._api
        if keys is None:
            data_keys = list(api.index.keys(self.project, self.id))
            out_keys = data_keys
            required: list[str] = []
        else:
            data_keys = [k for k in keys if k not in SPECIAL]
            out_keys = keys
            required = data_keys
        series = api.index.series(self.project, self.id, data_keys, min_seq=lo, max_seq=lo + window)
        return select(series, data_keys, required=required), out_keys

    # ---------------------------------------------------------------- edits
    def update(self) -> None:
        """Save edits of :attr:`name`, :attr:`tags`, :attr:`notes`, :attr:`config` and :attr:`summary`.

        Kept in the state store, not the run log (see :mod:`tracker.api._writeback`); a
        new ``Api()`` and the dashboard show them. A run read from a team server is edited
        there.

        Raises:
            UsageError: Invalid tags or notes, a config or summary that is not a dict.
            CommError: A team server the run was read from refused the edit (the editor
                role is needed).
        """
        if not isinstance(self.tags, (list, tuple)) or not all(isinstance(t, str) for t in self.tags):
            raise UsageError("run.tags must be a list of strings.")
        if self.notes is not None and not isinstance(self.notes, str):
            raise UsageError("run.notes must be a string.")
        if not isinstance(self.name, str) or not self.name:
            raise UsageError("run.name must be a non-empty string.")
        self._save(
            name=self.name if self.name != self._record.name else None,
            tags=list(self.tags),
            notes=self.notes if self.notes is not None else ("" if self._record.notes else None),
            config=self._checked("config"),
            summary=self._checked("summary"),
        )

    def _save_summary(self) -> None:
        self._save(summary=self._checked("summary"))

    def _save(self, **fields: Any) -> None:
        """Keep edits: locally in the state store, or through the team server the run came from.

        ``config`` and ``summary`` are whole; what is kept is their difference from the log.
        """
        remote = self._api._remote
        if remote is not None:
            remote.edit_run(self.project, self.id, {k: v for k, v in fields.items() if v is not None})
            return
        for key in ("config", "summary"):
            if key in fields:
                fields[key] = diff(getattr(self._record, key), fields[key])
        self._api.state.edit_run(self.project, self.id, **fields)

    def _checked(self, what: str) -> dict[str, Any]:
        value = getattr(self, what)
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise UsageError(f"run.{what} must be a dict with string keys to save it.")
        return value

    def delete(self) -> None:
        """Hide the run from listings (a user edit; the run log stays on disk)."""
        self._api.state.edit_run(self.project, self.id, deleted=True)


_T = TypeVar("_T")


def _retry(read: Callable[[], _T]) -> _T:
    """Run a read again when the index was rewritten under it (a rewind, a rebuild)."""
    from tracker.storage._base import IndexChangedError

    for _attempt in range(4):
        try:
            return read()
        except IndexChangedError:
            continue
    return read()


def scan_dicts(
    rows: Rows,
    keys: list[str] | None,
    out_keys: list[str],
    created: float,
    min_step: int | None,
    max_step: int | None,
) -> list[dict[str, Any]]:
    """``scan_history``'s dicts of ``rows`` with ``min_step <= _step < max_step``."""
    dicts = to_dicts(rows, out_keys, created, special=keys is None)
    return [
        row
        for row, step in zip(dicts, rows.step.tolist(), strict=True)
        if (min_step is None or step >= min_step) and (max_step is None or step < max_step)
    ]


def _warn_unknown_keys(asked: list[str], logged: Any, run: str) -> None:
    """history(keys=["trian/loss"]) would return no rows: say which key and what is close."""
    from tracker._human import did_you_mean

    known = list(logged)
    for key in asked:
        if key not in known and key not in SPECIAL:
            warnings.warn(
                f"history(keys=...): run {run} has no key {key!r}, so no row has all the keys"
                f"{did_you_mean(key, known) or '.'}",
                TrackerWarning,
                stacklevel=6,  # history() -> _retry -> lambda -> _history -> here
            )


def _check_keys(keys: Any, what: str) -> list[str]:
    if (
        isinstance(keys, str)
        or not isinstance(keys, (list, tuple))
        or not all(isinstance(k, str) for k in keys)
    ):
        raise UsageError(f"{what}(keys={keys!r}): pass a list of key names.")
    return list(dict.fromkeys(keys))


class Runs(Sequence[Run]):
    """The runs matched by :meth:`Api.runs`, in order; a sequence (``len``, index, iterate)."""

    def __init__(
        self, runs: list[Run], *, project: str, filters: Any = None, order: str | None = None
    ) -> None:
        self._runs = runs
        self.project = project
        self.filters = filters
        self.order = order

    @overload
    def __getitem__(self, index: int) -> Run: ...

    @overload
    def __getitem__(self, index: slice) -> list[Run]: ...

    def __getitem__(self, index: int | slice) -> Run | list[Run]:
        return self._runs[index]

    def __len__(self) -> int:
        return len(self._runs)

    def __iter__(self) -> Iterator[Run]:
        return iter(self._runs)

    def __repr__(self) -> str:
        return f"<Runs {self.project} ({len(self._runs)})>"
