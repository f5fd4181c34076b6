"""The one HTTP client of a team server: transport, error map and wire codec.

Everything that talks to a team server goes through :class:`Client`: the uploader
(:mod:`tracker._upload`, :mod:`tracker._upload_files`), ``Api(base_url=...)``
(:mod:`tracker.api._remote`), artifacts (:mod:`tracker.artifacts._remote`) and sweeps
(:mod:`tracker.sweeps._remote`). Each of those keeps its own endpoints; this module
holds what they share:

- **One transport**, :meth:`Client.send` (and :meth:`Client.stream` for downloads): one
  request with the key, the caller's headers and the timeout; any HTTP status is an
  answer, returned as ``(status, body)``. Only the standard library (urllib) is used.
- **One error map**, :func:`_mapped`: what the network raises (refused, reset, DNS,
  timeout, TLS, a truncated answer) becomes a :class:`~tracker.errors.CommError` naming
  the server, in one place, as httpx's ``map_httpcore_exceptions`` does; and
  :meth:`Client.answer_error` turns a refusal of the read/sweep API (401, 403, 404, 400,
  ...) into the tracker error it stands for.
- **One wire codec**, :func:`dumps`/:func:`loads`: JSON where a non-finite float travels
  as ``{"$float": "nan"}`` (``inf``, ``-inf``) and a ``datetime`` as ``{"$datetime": ISO}``,
  plus :func:`array_to_wire` for numeric arrays (base64 of their little-endian bytes), so
  no value is changed on the way. The server decodes with the same functions.

Two body formats share the transport: the ingest endpoints (run logs, blobs, links,
posted artifact versions) take and answer plain JSON (:meth:`Client.request`); the read
and sweep API uses the wire codec (:meth:`Client.call`).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import http.client
import json
import math
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from typing import Any, Final

from tracker.errors import CommError, RunNotFoundError, StorageError, SweepConfigError, UsageError

__all__ = ["Client", "comm_error", "dumps", "loads", "quote", "target"]

DEFAULT_TIMEOUT: Final = 30.0
_FLOAT: Final = "$float"
_DATETIME: Final = "$datetime"
_CHUNK: Final = 1 << 20


# ---------------------------------------------------------------------------- wire codec
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


def array_to_wire(a: Any) -> dict[str, str]:
    """A numpy array as base64 of its little-endian bytes: exact (NaN included) and fast."""
    import base64

    little = a.astype(a.dtype.newbyteorder("<"), copy=False)
    return {"b64": base64.b64encode(little.tobytes()).decode("ascii"), "dtype": little.dtype.str}


def array_from_wire(data: Mapping[str, Any]) -> Any:
    """The inverse of :func:`array_to_wire` (numeric dtypes only).

    Raises:
        ValueError: Not a numeric dtype.
    """
    import base64

    import numpy as np

    dtype = np.dtype(str(data["dtype"]))
    if dtype.kind not in "biuf":
        raise ValueError(f"unexpected array type {dtype}")
    return np.frombuffer(base64.b64decode(data["b64"]), dtype=dtype).astype(dtype.newbyteorder("="))


def quote(part: str) -> str:
    """One path segment, quoted (``/`` included)."""
    return urllib.parse.quote(part, safe="")


# ---------------------------------------------------------------------------- error map
def comm_error(message: str, status: int | None) -> CommError:
    """A :class:`CommError` carrying the HTTP ``status`` it stands for (None: no answer)."""
    exc = CommError(message)
    exc.status = status  # type: ignore[attr-defined]
    return exc


#: What urllib raises when there is no (whole) answer: refused, reset, DNS, timeout, TLS
#: (all OSError), a truncated or garbled answer (HTTPException) and an address it cannot
#: use (ValueError, e.g. a port that is not a number).
_NO_ANSWER: Final = (OSError, http.client.HTTPException, ValueError)


@contextlib.contextmanager
def _mapped(client: Client) -> Iterator[None]:
    """Turn a failure of the network into a :class:`CommError` naming the server.

    An HTTP error status is not a failure here: ``urllib.error.HTTPError`` passes through
    for the caller, which reads its body as the answer. Everything else that means "no
    answer" is one error, raised from the original exception.
    """
    try:
        yield
    except urllib.error.HTTPError:
        raise
    except _NO_ANSWER as exc:
        reason = getattr(exc, "reason", None) or exc
        raise comm_error(
            f"cannot reach the team server at {client.base_url}: {reason}; check TRACKER_BASE_URL "
            "and that `tracker server` is running there.",
            None,
        ) from exc


def target(base_url: str | None = None, api_key: str | None = None) -> tuple[str, str | None] | None:
    """The team server to read from: ``(url, key)``, or None when none is configured.

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
    return url, key


# ---------------------------------------------------------------------------- client
class Client:
    """One team server: the transport every caller shares (see the module docstring).

    Args:
        base_url: The server's URL, e.g. ``http://127.0.0.1:8080``.
        api_key: Sent as ``Authorization: Bearer <key>``.
        timeout: Seconds per request.

    Raises:
        UsageError: The URL is not ``http(s)://HOST[:PORT]``.
    """

    def __init__(self, base_url: str, api_key: str | None, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        parts = urllib.parse.urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise UsageError(
                f"server URL {base_url!r}: use http://HOST:PORT or https://HOST.", key="base_url"
            )
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        #: Sent with every request (the uploader adds the run log's format version).
        self.headers: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.base_url}>"

    def api(self, path: str) -> str:
        """The URL of ``/api/v1/<path>`` (``path`` already quoted)."""
        return f"{self.base_url}/api/v1/{path}"

    def run_path(self, project: str, run_id: str) -> str:
        """``runs/<project>/<run_id>``, quoted."""
        return f"runs/{quote(project)}/{quote(run_id)}"

    # ------------------------------------------------------------------ transport
    def _headers(self, accept: str | None, content_type: str | None) -> dict[str, str]:
        headers = dict(self.headers)
        if accept is not None:
            headers["Accept"] = accept
        if content_type is not None:
            headers["Content-Type"] = content_type
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers

    def send(
        self, method: str, url: str, body: bytes | None = None, content_type: str | None = None
    ) -> tuple[int, bytes]:
        """Send one request; return ``(status, body)`` for any HTTP status.

        Raises:
            CommError: No answer (see :func:`_mapped`).
        """
        headers = self._headers("application/json", content_type)
        req = urllib.request.Request(url, data=body, method=method, headers=headers)
        with _mapped(self):
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    return int(resp.status), bytes(resp.read())
            except urllib.error.HTTPError as exc:
                return exc.code, bytes(exc.read())

    @contextlib.contextmanager
    def stream(self, path: str, *, artifact: str | None = None) -> Iterator[Iterator[bytes]]:
        """``GET /api/v1<path>`` as chunks of bytes, for a download.

        Only the network is mapped: what the caller does with each chunk (writing it)
        raises its own errors.

        Raises:
            CommError: No answer, or a refused key.
            StorageError: A 404 (no such file or version of ``artifact``).
        """
        req = urllib.request.Request(f"{self.base_url}/api/v1{path}", headers=self._headers(None, None))
        refused: tuple[int, bytes] | None = None
        with _mapped(self):
            try:
                resp = urllib.request.urlopen(req, timeout=self.timeout)
            except urllib.error.HTTPError as exc:
                refused = exc.code, bytes(exc.read())
        if refused is not None:
            raise self.answer_error(*refused, "GET", path, artifact=artifact) from None
        with resp:
            yield self._chunks(resp)

    def _chunks(self, resp: Any) -> Iterator[bytes]:
        while True:
            with _mapped(self):
                chunk = bytes(resp.read(_CHUNK))
            if not chunk:
                return
            yield chunk

    # ------------------------------------------------------------------ the two body formats
    def request(
        self, method: str, url: str, body: bytes | None = None, *, json_body: Any = None
    ) -> tuple[int, dict[str, Any]]:
        """An ingest request (plain JSON); ``(status, json body)`` for any HTTP status.

        Raises:
            CommError: The server cannot be reached or did not answer with JSON.
        """
        content_type = None
        if json_body is not None:
            body = json.dumps(json_body).encode()
            content_type = "application/json"
        elif body is not None:
            content_type = "application/octet-stream"
        status, raw = self.send(method, url, body, content_type)
        try:
            data = json.loads(raw or b"{}")
        except ValueError as exc:
            raise CommError(f"{method} {url}: HTTP {status} with a body that is not JSON") from exc
        return status, data if isinstance(data, dict) else {"detail": data}

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
        """One request of the read/sweep API to ``/api/v1<path>``; the decoded answer of a 200.

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
        payload = None if body is None else dumps(body)
        status, raw = self.send(method, url, payload, None if body is None else "application/json")
        if status == 200:
            return self._json(raw, status, method, path)
        raise self.answer_error(status, raw, method, path, run_id=run_id, artifact=artifact)

    def _json(self, raw: bytes, status: int, method: str, path: str) -> Any:
        try:
            return loads(raw or b"{}")
        except ValueError as exc:
            raise CommError(
                f"{method} {self.base_url}{path}: HTTP {status} with a body that is not JSON; "
                "is this a tracker server?"
            ) from exc

    # ------------------------------------------------------------------ answers
    def answer_error(
        self,
        status: int,
        raw: bytes,
        method: str,
        path: str,
        *,
        run_id: str | None = None,
        artifact: str | None = None,
    ) -> Exception:
        """The tracker error a refusal of the read/sweep API stands for (see :meth:`call`)."""
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
