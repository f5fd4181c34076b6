"""``Api()`` against a team server: the HTTP backend behind :class:`tracker.api.Api`.

With ``TRACKER_BASE_URL`` set (and no data root given), or ``Api(base_url=...)``, the
same ``Api``, ``Runs``, ``Run``, ``Project`` and ``Sweep`` objects answer from the
server's ``/api/v1/`` read endpoints (:mod:`tracker.server._remote`). The server runs
the local read side on its own data root (filters, order, history selection and
downsampling) and sends back what the local classes are built from: run records and
selected history rows. The client formats them with the same code, so a query answers
the same from the server as it would on the server's data root.

Transport, errors and wire format are those of :mod:`tracker._client` (:class:`Remote` is a
:class:`~tracker._client.Client`): JSON where a non-finite float travels as
``{"$float": "nan"}``, a ``datetime`` filter operand as ``{"$datetime": ISO}`` and a numeric
history column as base64 of its little-endian bytes, so no value is changed on the way.

Errors: an unreachable server, a refused key (401) and a key without access (403) raise
:class:`~tracker.errors.CommError` saying which; a missing run raises the same
:class:`~tracker.errors.RunNotFoundError` as local reads; a bad request the server's
:class:`~tracker.errors.UsageError`. What needs the local index or state store (files,
media, alerts, metadata, tag edits) raises :class:`~tracker.errors.UnsupportedError`.

Artifact versions, manifests and files come from the server through
:mod:`tracker.artifacts._remote`, sweeps through :mod:`tracker.sweeps._remote`, on the same
client.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from tracker._client import DEFAULT_TIMEOUT, Client, array_from_wire, array_to_wire, dumps, quote, target
from tracker.errors import UnsupportedError, UsageError

if TYPE_CHECKING:
    from tracker.api._api import Api
    from tracker.api._history import Rows
    from tracker.api._run import Run

__all__ = ["Remote", "connect", "rows_from_wire", "rows_to_wire", "run_to_wire"]


def rows_to_wire(rows: Rows) -> dict[str, Any]:
    """Selected history rows (see :mod:`tracker.api._history`), numeric columns as arrays.

    Arrays are :func:`tracker._client.array_to_wire` (base64 of their little-endian bytes).
    """
    import numpy as np

    columns = {}
    m = len(rows)
    for key, (idx, values, is_int) in rows.columns.items():
        # A key on every row (the usual case) sends no positions.
        whole = len(idx) == m and bool(np.array_equal(idx, np.arange(m)))
        columns[key] = {
            "idx": None if whole else array_to_wire(idx),
            "values": values if isinstance(values, list) else array_to_wire(values),
            "is_int": bool(is_int),
        }
    return {
        "seq": array_to_wire(rows.seq),
        "step": array_to_wire(rows.step),
        "ts": array_to_wire(rows.ts),
        "columns": columns,
    }


def rows_from_wire(data: Mapping[str, Any]) -> Rows:
    """The inverse of :func:`rows_to_wire`."""
    import numpy as np

    from tracker.api._history import Rows

    columns: dict[str, Any] = {}
    for key, col in data["columns"].items():
        values = col["values"] if isinstance(col["values"], list) else array_from_wire(col["values"])
        idx = np.arange(len(values), dtype=np.int64) if col["idx"] is None else array_from_wire(col["idx"])
        columns[key] = (idx.astype(np.int64, copy=False), values, bool(col["is_int"]))
    return Rows(
        array_from_wire(data["seq"]).astype(np.int64, copy=False),
        array_from_wire(data["step"]).astype(np.int64, copy=False),
        array_from_wire(data["ts"]).astype(np.float64, copy=False),
        columns,
    )


def run_to_wire(run: Run) -> dict[str, Any]:
    """A run as the server sends it: its index record plus the state, tags and notes it reads as,
    and its config and summary where ``Api`` write-back changed them."""
    wire = {"record": run._record._asdict(), "state": run.state, "tags": list(run.tags), "notes": run.notes}
    if run.name != run._record.name:
        wire["name"] = run.name
    for key in ("config", "summary"):
        value = dict(getattr(run, key))
        if value != getattr(run._record, key):
            wire[key] = value
    return wire


def _run_from_wire(api: Api, data: Mapping[str, Any]) -> Run:
    from tracker.api._run import Run
    from tracker.storage._base import RunRecord

    fields = dict(data["record"])
    fields["tags"] = tuple(fields.get("tags") or ())
    record = RunRecord._make(fields.get(name) for name in RunRecord._fields)
    run = Run(api, record)
    run.state = str(data["state"])
    run.tags = [str(t) for t in data["tags"]]
    run.notes = data["notes"]
    if "name" in data:
        run.name = str(data["name"])
    if "config" in data:
        run.config = dict(data["config"])
    if "summary" in data:
        from tracker.api._writeback import RunSummary

        run.summary = RunSummary(data["summary"], run._save_summary)
    return run


# ---------------------------------------------------------------------------- client
def connect(
    base_url: str | None = None, api_key: str | None = None, timeout: float | None = None
) -> Remote | None:
    """The team server to read from, or None when none is configured (see :func:`tracker._client.target`)."""
    found = target(base_url, api_key)
    if found is None:
        return None
    return Remote(*found, timeout=DEFAULT_TIMEOUT if timeout is None else timeout)


class Remote(Client):
    """The read endpoints of one team server, on the shared client.

    Args:
        base_url: The server, e.g. ``http://127.0.0.1:8080``.
        api_key: Sent as ``Authorization: Bearer <key>``.
        timeout: Seconds per request.
    """

    def __init__(self, base_url: str, api_key: str | None, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        super().__init__(base_url, api_key)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
            raise UsageError(f"Api(timeout={timeout!r}): use a positive number of seconds.", key="timeout")
        self.timeout = float(timeout)

    def unsupported(self, what: str) -> UnsupportedError:
        """The error for a read that needs the local index or state store."""
        return UnsupportedError(
            f"{what} needs a local data root, but this Api reads from the team server {self.base_url}; "
            "use tracker.Api(root=...) for local data (or unset TRACKER_BASE_URL)."
        )

    # ------------------------------------------------------------------ Api
    def projects(self) -> list[dict[str, Any]]:
        """Every project the key can read (``Project`` fields)."""
        return list(self.call("GET", "/projects")["projects"])

    def runs(
        self, api: Api, project: str, filters: Mapping[str, Any] | None, order: str, per_page: int
    ) -> list[Run]:
        """``Api.runs`` on the server, fetched ``per_page`` runs per request."""
        if isinstance(per_page, bool) or not isinstance(per_page, int) or not 1 <= per_page <= 1000:
            raise UsageError(f"runs(per_page={per_page!r}): use an integer from 1 to 1000.")
        params: dict[str, Any] = {"order": order, "limit": per_page}
        if filters:
            params["filters"] = dumps(filters).decode()
        out: list[Run] = []
        while True:
            page = self.call("GET", f"/projects/{quote(project)}/runs", {**params, "offset": len(out)})
            out.extend(_run_from_wire(api, r) for r in page["runs"])
            if not page["runs"] or len(out) >= int(page["total"]):
                return out

    def run(self, api: Api, project: str, run_id: str) -> Run:
        """``Api.run`` on the server."""
        path = f"/projects/{quote(project)}/runs/{quote(run_id)}"
        return _run_from_wire(api, self.call("GET", path, run_id=run_id))

    def edit_run(self, project: str, run_id: str, fields: Mapping[str, Any]) -> None:
        """Save ``Run.update()``/``summary.update()`` edits on the server (the editor role)."""
        path = f"/projects/{quote(project)}/runs/{quote(run_id)}/edit"
        self.call("POST", path, body=dict(fields), run_id=run_id)

    def history_rows(
        self, run: Run, samples: int | None, keys: list[str] | None, x_axis: str, stream: str
    ) -> tuple[Rows, list[str], bool]:
        """The rows ``Run.history`` formats, selected on the server."""
        from tracker.api._run import _check_keys

        if not isinstance(x_axis, str):
            raise UsageError(f"history(x_axis={x_axis!r}) must be a key name.")
        params = {
            "samples": samples,
            "x_axis": x_axis,
            "stream": stream,
            "keys": None if keys is None else json.dumps(_check_keys(keys, "history")),
        }
        data = self.call("GET", f"/projects/{quote(run.project)}/runs/{quote(run.id)}/history", params)
        return rows_from_wire(data["rows"]), [str(k) for k in data["keys"]], bool(data["step"])

    def scan(
        self, run: Run, keys: list[str] | None, page_size: int, min_step: int | None, max_step: int | None
    ) -> Iterator[dict[str, Any]]:
        """``Run.scan_history`` from the server, one page per request."""
        params = {
            "keys": None if keys is None else json.dumps(keys),
            "page_size": page_size,
            "min_step": min_step,
            "max_step": max_step,
        }
        from tracker.api._run import scan_dicts

        cursor: int | None = 0
        path = f"/projects/{quote(run.project)}/runs/{quote(run.id)}/scan"
        while cursor is not None:
            page = self.call("GET", path, {**params, "cursor": cursor})
            for window in page["windows"]:
                rows = rows_from_wire(window["rows"])
                yield from scan_dicts(rows, keys, list(window["keys"]), run._created, min_step, max_step)
            cursor = page["next"]
