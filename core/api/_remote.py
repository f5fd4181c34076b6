"""``Api()`` against a team server: the HTTP backend behind :class:`tracker.api.Api`.

With ``TRACKER_BASE_URL`` set (and no data root given), or ``Api(base_url=...)``, the
same ``Api``, ``Runs``, ``Run``, ``Project`` and ``Sweep`` objects answer from the
server's ``/api/v1/`` read endpoints (:mod:`tracker.server._remote`). The server runs
the local read side on its own data root (filters, order, history selection and
downsampling) and sends back what the local classes are built from: run records and
selected history rows. The client formats them with the same code, so a query answers
the same from the server as it would on the server's data root.

Wire format: JSON, where a non-finite float travels as ``{"$float": "nan"}`` (``inf``,
``-inf``), a ``datetime`` filter operand as ``{"$datetime": ISO}`` and a numeric history
column as base64 of its little-endian bytes, so no value is changed on the way. Only the
standard library (urllib) and, for history, numpy are used, as in :mod:`tracker._upload`.

Errors: an unreachable server, a refused key (401) and a key without access (403) raise
:class:`~tracker.errors.CommError` saying which; a missing run raises the same
:class:`~tracker.errors.RunNotFoundError` as local reads; a bad request the server's
:class:`~tracker.errors.UsageError`. What needs the local index or state store (files,
media, alerts, metadata, tag edits) raises :class:`~tracker.errors.UnsupportedError`.

Artifact files come from the server too: :meth:`Remote.artifact_manifest` and
:meth:`Remote.download_file` (used by :meth:`tracker.Artifact.download` for an artifact
read from the server), each file streamed to a temporary name, checked against its
digest and only then renamed into place.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from tracker.errors import (
    CommError,
    RunNotFoundError,
    StorageError,
    SweepConfigError,
    UnsupportedError,
    UsageError,
)

if TYPE_CHECKING:
    from tracker.api._api import Api
    from tracker.api._history import Rows
    from tracker.api._run import Run
    from tracker.storage._base import ArtifactVersion, SweepRecord
    from tracker.sweeps._base import Observation

__all__ = ["Remote", "connect", "dumps", "loads", "rows_from_wire", "rows_to_wire", "run_to_wire"]

_FLOAT: Final = "$float"
_DATETIME: Final = "$datetime"
DEFAULT_TIMEOUT: Final = 30.0


# ---------------------------------------------------------------------------- wire format
def encode(value: Any) -> Any:
    """A JSON-ready copy of ``value`` (non-finite floats and datetimes tagged)."""
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return {_FLOAT: "nan" if value != value else ("inf" if value > 0 else "-inf")}
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, Mapping):
        return {str(k): encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    if isinstance(value, _dt.datetime):
        return {_DATETIME: value.isoformat()}
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return encode(value.tolist())
    return repr(value)


def _decode(obj: dict[str, Any]) -> Any:
    if len(obj) == 1:
        if isinstance(obj.get(_FLOAT), str):
            return float(obj[_FLOAT])
        if isinstance(obj.get(_DATETIME), str):
            return _dt.datetime.fromisoformat(obj[_DATETIME])
    return obj


def _plain(value: Any) -> Any:
    """``json.dumps``' fallback for what it cannot encode itself."""
    if isinstance(value, _dt.datetime):
        return {_DATETIME: value.isoformat()}
    if isinstance(value, Mapping):
        return dict(value)
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return value.tolist()
    return repr(value)


def dumps(value: Any) -> bytes:
    """Encode for the wire (strict JSON)."""
    try:
        # The C encoder, in one pass, for the usual case of no non-finite float.
        return json.dumps(value, separators=(",", ":"), allow_nan=False, default=_plain).encode()
    except ValueError:  # a NaN or an infinity somewhere: tag them all
        return json.dumps(encode(value), separators=(",", ":"), allow_nan=False).encode()


def loads(raw: str | bytes) -> Any:
    """Decode from the wire.

    Raises:
        ValueError: Not JSON.
    """
    text = raw.decode() if isinstance(raw, (bytes, bytearray)) else raw
    if f'"{_FLOAT}"' in text or f'"{_DATETIME}"' in text:
        return json.loads(text, object_hook=_decode)
    return json.loads(text)  # nothing tagged: no hook to call on every object


def _array(a: Any) -> dict[str, str]:
    """A numpy array as base64 of its little-endian bytes: exact (NaN included) and fast."""
    import base64

    little = a.astype(a.dtype.newbyteorder("<"), copy=False)
    return {"b64": base64.b64encode(little.tobytes()).decode("ascii"), "dtype": little.dtype.str}


def _unarray(data: Mapping[str, Any]) -> Any:
    import base64

    import numpy as np

    dtype = np.dtype(str(data["dtype"]))
    if dtype.kind not in "biuf":
        raise ValueError(f"unexpected array type {dtype}")
    return np.frombuffer(base64.b64decode(data["b64"]), dtype=dtype).astype(dtype.newbyteorder("="))


def rows_to_wire(rows: Rows) -> dict[str, Any]:
    """Selected history rows (see :mod:`tracker.api._history`): numeric columns as :func:`_array`."""
    import numpy as np

    columns = {}
    m = len(rows)
    for key, (idx, values, is_int) in rows.columns.items():
        # A key on every row (the usual case) sends no positions.
        whole = len(idx) == m and bool(np.array_equal(idx, np.arange(m)))
        columns[key] = {
            "idx": None if whole else _array(idx),
            "values": values if isinstance(values, list) else _array(values),
            "is_int": bool(is_int),
        }
    return {"seq": _array(rows.seq), "step": _array(rows.step), "ts": _array(rows.ts), "columns": columns}


def rows_from_wire(data: Mapping[str, Any]) -> Rows:
    """The inverse of :func:`rows_to_wire`."""
    import numpy as np

    from tracker.api._history import Rows

    columns: dict[str, Any] = {}
    for key, col in data["columns"].items():
        values = col["values"] if isinstance(col["values"], list) else _unarray(col["values"])
        idx = np.arange(len(values), dtype=np.int64) if col["idx"] is None else _unarray(col["idx"])
        columns[key] = (idx.astype(np.int64, copy=False), values, bool(col["is_int"]))
    return Rows(
        _unarray(data["seq"]).astype(np.int64, copy=False),
        _unarray(data["step"]).astype(np.int64, copy=False),
        _unarray(data["ts"]).astype(np.float64, copy=False),
        columns,
    )


def run_to_wire(run: Run) -> dict[str, Any]:
    """A run as the server sends it: its index record plus the state, tags and notes it reads as."""
    return {"record": run._record._asdict(), "state": run.state, "tags": list(run.tags), "notes": run.notes}


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
    return run


def _version_from_wire(data: Mapping[str, Any]) -> ArtifactVersion:
    from tracker.storage._base import ArtifactVersion

    fields = dict(data)
    fields["aliases"] = tuple(fields.get("aliases") or ())
    return ArtifactVersion(**{name: fields[name] for name in ArtifactVersion._fields if name in fields})


def _quote(part: str) -> str:
    return urllib.parse.quote(part, safe="")


def _version_path(version: ArtifactVersion) -> str:
    """``/projects/<p>/artifacts/<name>/versions/v<N>``: by number, which no alias move changes."""
    return f"/projects/{_quote(version.project)}/artifacts/{_quote(version.name)}/versions/v{version.version}"


# ---------------------------------------------------------------------------- client
def connect(
    base_url: str | None = None, api_key: str | None = None, timeout: float | None = None
) -> Remote | None:
    """The team server to read from, or None when none is configured.

    The URL is ``base_url`` or ``$TRACKER_BASE_URL``; the key ``api_key``, then
    ``$TRACKER_API_KEY``, then the key ``tracker login`` stored for that same URL (a
    stored key is never sent to another server).
    """
    from tracker._settings import ENV_API_KEY, ENV_BASE_URL, env, read_credentials

    url = base_url or env(ENV_BASE_URL)
    if not url:
        return None
    url = url.rstrip("/")
    key = api_key or env(ENV_API_KEY)
    if not key:
        stored = read_credentials()
        if stored.get("host", "").rstrip("/") == url:
            key = stored.get("key")
    return Remote(url, key, timeout=DEFAULT_TIMEOUT if timeout is None else timeout)


class Remote:
    """The read (and sweep) endpoints of one team server.

    Args:
        base_url: The server, e.g. ``http://127.0.0.1:8080``.
        api_key: Sent as ``Authorization: Bearer <key>``.
        timeout: Seconds per request.
    """

    def __init__(self, base_url: str, api_key: str | None, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        parts = urllib.parse.urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise UsageError(
                f"server URL {base_url!r}: use http://HOST:PORT or https://HOST.", key="base_url"
            )
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
            raise UsageError(f"Api(timeout={timeout!r}): use a positive number of seconds.", key="timeout")
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout = float(timeout)

    def __repr__(self) -> str:
        return f"<Remote {self.base_url}>"

    def unsupported(self, what: str) -> UnsupportedError:
        """The error for a read that needs the local index or state store."""
        return UnsupportedError(
            f"{what} needs a local data root, but this Api reads from the team server {self.base_url}; "
            "use tracker.Api(root=...) for local data (or unset TRACKER_BASE_URL)."
        )

    # ------------------------------------------------------------------ HTTP
    def call(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        *,
        run_id: str | None = None,
        artifact: str | None = None,
    ) -> Any:
        """One request to ``/api/v1<path>``; the decoded JSON answer of a 200.

        Raises:
            CommError: Unreachable, a refused or unauthorised key, or an unexpected answer.
            RunNotFoundError: No such run.
            UsageError: The server refused the request as malformed.
            StorageError: No such artifact version.

        A 404 that names no error (a project the key may not see) is a RunNotFoundError
        when ``run_id`` is given, a StorageError naming ``artifact`` when that is.
        """
        query = {k: v for k, v in (params or {}).items() if v is not None}
        url = f"{self.base_url}/api/v1{path}" + (f"?{urllib.parse.urlencode(query)}" if query else "")
        headers = {"Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        payload = None
        if body is not None:
            payload = dumps(body)
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(url, data=payload, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        except (OSError, ValueError) as exc:  # URLError, refused, reset, timeout
            raise self._unreachable(exc) from exc
        if status == 200:
            return self._json(raw, status, method, path)
        raise self._failure(status, raw, method, path, run_id=run_id, artifact=artifact)

    def _unreachable(self, exc: BaseException) -> CommError:
        reason = getattr(exc, "reason", exc)
        return CommError(
            f"cannot reach the team server at {self.base_url}: {reason}; check TRACKER_BASE_URL "
            "and that `tracker server` is running there."
        )

    def _json(self, raw: bytes, status: int, method: str, path: str) -> Any:
        try:
            return loads(raw or b"{}")
        except ValueError as exc:
            raise CommError(
                f"{method} {self.base_url}{path}: HTTP {status} with a body that is not JSON; "
                "is this a tracker server?"
            ) from exc

    def _failure(
        self, status: int, raw: bytes, method: str, path: str, *, run_id: str | None, artifact: str | None
    ) -> Exception:
        answer = self._json(raw, status, method, path)
        data = answer if isinstance(answer, dict) else {"detail": answer}
        if status == 404 and data.get("error") is None:
            if run_id is not None:
                data = {**data, "error": "RunNotFoundError", "run_id": run_id}
            elif artifact is not None:
                detail = (
                    f"no artifact {artifact} on the team server {self.base_url} (or this API key may "
                    f"not read its project): {data.get('detail', data)}"
                )
                data = {**data, "error": "StorageError", "detail": detail}
        return self._error(status, data, method, path)

    def _error(self, status: int, data: dict[str, Any], method: str, path: str) -> Exception:
        detail = data.get("detail", data)
        kind = data.get("error")
        if status == 401:
            if not self.api_key:
                return CommError(
                    f"the team server {self.base_url} needs an API key (HTTP 401): set TRACKER_API_KEY, "
                    "pass Api(api_key=...) or run `tracker login`."
                )
            return CommError(
                f"the team server {self.base_url} refused the API key (HTTP 401: {detail}): the key is "
                "wrong, unknown there or revoked; get one with `tracker server keys create`."
            )
        if status == 403:
            return CommError(
                f"the team server {self.base_url}: this API key has no access (HTTP 403: {detail})."
            )
        if kind == "RunNotFoundError":
            return RunNotFoundError(str(detail), run_id=str(data.get("run_id") or ""))
        if kind == "SweepConfigError":
            return SweepConfigError(str(detail), problems=[str(p) for p in data.get("problems") or []])
        if kind == "UsageError" or status in (400, 422):
            return UsageError(str(detail))
        if kind == "StorageError":
            return StorageError(str(detail))
        return CommError(f"the team server {self.base_url}: HTTP {status} on {method} {path}: {detail}")

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
            page = self.call("GET", f"/projects/{_quote(project)}/runs", {**params, "offset": len(out)})
            out.extend(_run_from_wire(api, r) for r in page["runs"])
            if not page["runs"] or len(out) >= int(page["total"]):
                return out

    def run(self, api: Api, project: str, run_id: str) -> Run:
        """``Api.run`` on the server."""
        path = f"/projects/{_quote(project)}/runs/{_quote(run_id)}"
        return _run_from_wire(api, self.call("GET", path, run_id=run_id))

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
        data = self.call("GET", f"/projects/{_quote(run.project)}/runs/{_quote(run.id)}/history", params)
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
        path = f"/projects/{_quote(run.project)}/runs/{_quote(run.id)}/scan"
        while cursor is not None:
            page = self.call("GET", path, {**params, "cursor": cursor})
            for window in page["windows"]:
                rows = rows_from_wire(window["rows"])
                yield from scan_dicts(rows, keys, list(window["keys"]), run._created, min_step, max_step)
            cursor = page["next"]

    def artifact_version(self, project: str, name: str, ref: str | int) -> ArtifactVersion:
        """One artifact version by number or alias.

        Raises:
            StorageError: No such version.
        """
        path = f"/projects/{_quote(project)}/artifacts/{_quote(name)}/versions/{_quote(str(ref))}"
        return _version_from_wire(self.call("GET", path, artifact=f"{project}/{name}:{ref}")["version"])

    def artifact_manifest(self, version: ArtifactVersion) -> dict[str, dict[str, Any]]:
        """The manifest entries of a version, checked against its digest.

        Raises:
            StorageError: No such version, or the entries the server sent do not hash
                to the version's digest.
        """
        from tracker.artifacts._store import manifest_digest

        label = f"{version.project}/{version.name}:v{version.version}"
        entries = self.call("GET", _version_path(version) + "/manifest", artifact=label)["entries"]
        if not isinstance(entries, dict) or manifest_digest(entries)[0] != version.digest:
            raise StorageError(
                f"the team server {self.base_url} sent a manifest for {label} that does not match its "
                f"digest {version.digest}; the server's copy is damaged."
            )
        return entries

    def download_file(self, version: ArtifactVersion, name: str, digest: str, dest: Path) -> None:
        """Stream the file ``name`` of a version into ``dest``, checking it against ``digest``.

        The bytes go to a temporary file next to ``dest``, renamed into place only when
        they hash to ``digest``: ``dest`` is never left partial or wrong.

        Raises:
            StorageError: The bytes do not match ``digest``, the file is missing on the
                server, or ``dest`` cannot be written.
            CommError: The server is unreachable or refused the key.
        """
        import hashlib
        import http.client
        import os
        import uuid

        label = f"{version.project}/{version.name}:v{version.version}"
        path = f"{_version_path(version)}/files/{urllib.parse.quote(name)}"
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        req = urllib.request.Request(f"{self.base_url}/api/v1{path}", headers=headers)
        tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.part")
        h = hashlib.sha256()
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as resp, open(tmp, "wb") as out:
                    while chunk := resp.read(1 << 20):
                        h.update(chunk)
                        out.write(chunk)
            except urllib.error.HTTPError as exc:
                raise self._failure(exc.code, exc.read(), "GET", path, run_id=None, artifact=label) from None
            except (urllib.error.URLError, ConnectionError, TimeoutError, http.client.HTTPException) as exc:
                raise self._unreachable(exc) from exc
            got = "sha256:" + h.hexdigest()
            if got != digest:
                raise StorageError(
                    f"artifact file {name!r} of {label}: the team server {self.base_url} sent bytes "
                    f"that hash to {got}, but the manifest says {digest}; nothing was written to "
                    f"{dest} (the server's copy is corrupted, or it changed in transit).",
                    path=name,
                )
            os.replace(tmp, dest)
        except OSError as exc:
            raise StorageError(f"artifact file {name!r}: cannot write {dest}: {exc}", path=str(dest)) from exc
        finally:
            tmp.unlink(missing_ok=True)

    def artifact_versions(self, project: str, name: str) -> list[ArtifactVersion]:
        """Every live version of an artifact, oldest first."""
        data = self.call("GET", f"/projects/{_quote(project)}/artifacts/{_quote(name)}/versions")
        return [_version_from_wire(v) for v in data["versions"]]

    def artifacts(self, project: str | None) -> list[tuple[str, str, str]]:
        """``(project, name, type)`` of a project's artifacts with a live version."""
        if project is None:
            raise self.unsupported("listing the artifacts of every project")
        data = self.call("GET", f"/projects/{_quote(project)}/artifacts")
        return [(str(a["project"]), str(a["name"]), str(a["type"])) for a in data["artifacts"]]

    # ------------------------------------------------------------------ sweeps
    def sweep(self, sweep_id: str) -> SweepRecord | None:
        """A sweep's record, or None when the server has no such sweep."""
        from tracker.storage._base import SweepRecord

        data = self.call("GET", f"/sweeps/{_quote(sweep_id)}")["sweep"]
        return None if data is None else SweepRecord(**{f: data[f] for f in SweepRecord._fields})

    def create_sweep(self, config: Mapping[str, Any], project: str) -> str:
        """Create a sweep on the server (it validates the config again); return its id."""
        return str(self.call("POST", "/sweeps", body={"config": dict(config), "project": project})["id"])

    def set_sweep_state(self, sweep_id: str, state: str) -> str:
        """Change a sweep's state; return the new state."""
        return str(self.call("POST", f"/sweeps/{_quote(sweep_id)}/state", body={"state": state})["state"])

    def next_job(self, sweep_id: str) -> dict[str, Any]:
        """Claim the next run on the server: ``{"job": {run_id, index, params} or None, "state"}``."""
        return dict(self.call("POST", f"/sweeps/{_quote(sweep_id)}/next", body={}))

    def observations(self, sweep_id: str) -> list[Observation]:
        """The sweep's runs as the server's index holds them (for hyperband)."""
        from tracker.sweeps._base import Observation

        data = self.call("GET", f"/sweeps/{_quote(sweep_id)}/observations")
        return [
            Observation(
                str(o["run_id"]),
                str(o["state"]),
                {tuple(path): value for path, value in o["params"]},
                tuple(float(v) for v in o["history"]),
            )
            for o in data["observations"]
        ]
