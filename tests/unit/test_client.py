"""tracker._client: the one transport, its error map and the wire codec (no tracker server needed)."""

from __future__ import annotations

import http.client
import json
import math
import re
import socket
import ssl
import threading
import urllib.error
from collections.abc import Callable, Iterator
from email.message import Message
from io import BytesIO
from typing import Any

import pytest

from tracker import _client
from tracker._client import Client, array_from_wire, array_to_wire, dumps, loads
from tracker._upload import Client as UploadClient
from tracker.api._remote import Remote
from tracker.errors import CommError, RunNotFoundError, StorageError, SweepConfigError, UsageError

URL = "http://127.0.0.1:9"


def test_uploader_and_api_share_one_transport() -> None:
    for cls in (UploadClient, Remote):
        assert issubclass(cls, Client)
        for name in ("send", "stream", "request", "call", "answer_error"):
            assert getattr(cls, name) is getattr(Client, name), (
                f"{cls.__name__}.{name} overrides the transport"
            )


# ---------------------------------------------------------------------------- error map: no answer
@pytest.mark.parametrize(
    "failure",
    [
        urllib.error.URLError(ConnectionRefusedError(111, "Connection refused")),
        urllib.error.URLError(socket.gaierror(-2, "Name or service not known")),
        urllib.error.URLError(TimeoutError("timed out")),
        TimeoutError("timed out"),
        ConnectionResetError(104, "Connection reset by peer"),
        ssl.SSLError(1, "certificate verify failed"),
        http.client.RemoteDisconnected("Remote end closed connection without response"),
        http.client.IncompleteRead(b"ab", 10),
        http.client.BadStatusLine("garbage"),
        http.client.InvalidURL("nonnumeric port: 'x'"),
    ],
    ids=lambda e: type(e).__name__ + ":" + type(getattr(e, "reason", e)).__name__,
)
def test_each_network_failure_is_a_comm_error_naming_the_server(
    failure: BaseException, monkeypatch: pytest.MonkeyPatch
) -> None:
    def urlopen(*_a: Any, **_k: Any) -> Any:
        raise failure

    monkeypatch.setattr(_client.urllib.request, "urlopen", urlopen)
    client = Client(URL, "k")
    for call in (
        lambda: client.send("GET", client.api("projects")),
        lambda: client.request("HEAD", client.api("blobs/x")),
        lambda: client.call("GET", "/projects"),
    ):
        with pytest.raises(
            CommError, match=r"cannot reach the team server at http://127\.0\.0\.1:9: "
        ) as info:
            call()
        assert info.value.__cause__ is failure
        assert info.value.status is None  # type: ignore[attr-defined]
    reason = getattr(failure, "reason", failure)
    assert str(reason) in str(info.value)


def test_an_http_error_status_is_an_answer_not_a_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    def urlopen(req: Any, **_k: Any) -> Any:
        raise urllib.error.HTTPError(req.full_url, 409, "Conflict", Message(), BytesIO(b'{"offset": 7}'))

    monkeypatch.setattr(_client.urllib.request, "urlopen", urlopen)
    client = Client(URL, "k")
    assert client.send("PUT", client.api("x")) == (409, b'{"offset": 7}')
    assert client.request("PUT", client.api("x"), b"body") == (409, {"offset": 7})


@pytest.fixture
def raw_server() -> Iterator[Callable[[bytes], str]]:
    """A one-shot TCP server answering each connection with fixed bytes, then closing."""
    socks: list[socket.socket] = []
    threads: list[threading.Thread] = []

    def serve(answer: bytes) -> str:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        socks.append(sock)

        def run() -> None:
            conn, _ = sock.accept()
            with conn:
                conn.recv(65536)
                conn.sendall(answer)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        threads.append(thread)
        return f"http://127.0.0.1:{sock.getsockname()[1]}"

    yield serve
    for sock in socks:
        sock.close()
    for thread in threads:
        thread.join(5)


@pytest.mark.parametrize(
    "answer",
    [
        b"this is not HTTP\r\n\r\n",
        b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"a":',
        b"",
    ],
    ids=["garbled", "truncated", "closed"],
)
def test_a_broken_answer_from_a_real_socket_is_a_comm_error(
    raw_server: Callable[[bytes], str], answer: bytes
) -> None:
    url = raw_server(answer)
    with pytest.raises(CommError, match=f"cannot reach the team server at {url}: "):
        Client(url, None, timeout=10).call("GET", "/projects")


def test_refused_and_timed_out_connections() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"  # bound, never listening: refused
        with pytest.raises(CommError, match=f"cannot reach the team server at {url}: .*refused"):
            Client(url, None).send("GET", url + "/api/v1/projects")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()  # accepted by the kernel, never answered
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        with pytest.raises(CommError, match=f"cannot reach the team server at {url}: .*timed out"):
            Client(url, None, timeout=0.2).send("GET", url + "/api/v1/projects")


def test_an_answer_that_is_not_json_names_the_request(raw_server: Callable[[bytes], str]) -> None:
    body = b"<html>proxy error</html>"
    url = raw_server(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
    with pytest.raises(CommError, match=f"GET {url}/projects: HTTP 200 with a body that is not JSON"):
        Client(url, None).call("GET", "/projects")


# ---------------------------------------------------------------------------- error map: refusals
def _answer(status: int, data: Any, *, key: str | None = "k", **where: Any) -> Exception:
    return Client(URL, key).answer_error(
        status, json.dumps(data).encode(), "GET", "/projects/p/runs", **where
    )


_SERVER = re.escape(URL)
_REFUSALS = [
    (401, {"detail": "no key"}, None, {}, CommError, f"{_SERVER} needs an API key"),
    (401, {"detail": "bad"}, "k", {}, CommError, f"{_SERVER} refused the API key"),
    (403, {"detail": "viewer"}, "k", {}, CommError, f"{_SERVER}: this API key has no access"),
    (404, {"detail": "no project"}, "k", {"run_id": "r1"}, RunNotFoundError, "no project"),
    (
        404,
        {"detail": "gone"},
        "k",
        {"artifact": "p/a:v0"},
        StorageError,
        f"no artifact p/a:v0 on .* {_SERVER}",
    ),
    (
        404,
        {"error": "RunNotFoundError", "detail": "no r2", "run_id": "r2"},
        "k",
        {},
        RunNotFoundError,
        "no r2",
    ),
    (400, {"detail": "bad filter"}, "k", {}, UsageError, "bad filter"),
    (422, {"detail": "bad body"}, "k", {}, UsageError, "bad body"),
    (
        400,
        {"error": "SweepConfigError", "detail": "bad", "problems": ["x"]},
        "k",
        {},
        SweepConfigError,
        "bad",
    ),
    (404, {"error": "StorageError", "detail": "no blob"}, "k", {}, StorageError, "no blob"),
    (500, {"detail": "boom"}, "k", {}, CommError, f"{_SERVER}: HTTP 500 on GET /projects/p/runs: boom"),
]


@pytest.mark.parametrize(("status", "data", "key", "where", "kind", "match"), _REFUSALS)
def test_each_refusal_is_the_tracker_error_it_stands_for(
    status: int, data: Any, key: str | None, where: dict[str, Any], kind: type[Exception], match: str
) -> None:
    exc = _answer(status, data, key=key, **where)
    assert type(exc) is kind
    with pytest.raises(kind, match=match):
        raise exc
    if isinstance(exc, RunNotFoundError):
        assert exc.run_id in ("r1", "r2")
    if isinstance(exc, SweepConfigError):
        assert exc.problems == ["x"]


# ---------------------------------------------------------------------------- streams
class _Body:
    status = 200

    def __init__(self, chunks: list[bytes | BaseException]) -> None:
        self.chunks = chunks

    def read(self, _n: int = -1) -> bytes:
        item = self.chunks.pop(0) if self.chunks else b""
        if isinstance(item, BaseException):
            raise item
        return item

    def __enter__(self) -> _Body:
        return self

    def __exit__(self, *_exc: object) -> None:
        return None


def test_stream_maps_the_network_but_not_what_the_caller_does(monkeypatch: pytest.MonkeyPatch) -> None:
    bodies = [
        _Body([b"ab", b"cd"]),
        _Body([b"ab", ConnectionResetError(104, "reset")]),
        _Body([b"ab", b"cd"]),
    ]
    monkeypatch.setattr(_client.urllib.request, "urlopen", lambda *_a, **_k: bodies.pop(0))
    client = Client(URL, "k")
    with client.stream("/f") as chunks:
        assert list(chunks) == [b"ab", b"cd"]
    with pytest.raises(CommError, match=rf"cannot reach the team server at {re.escape(URL)}: .*reset"):
        _drain(client, lambda _chunk: None)

    def write(_chunk: bytes) -> None:
        raise OSError(28, "disk full")

    with pytest.raises(OSError, match="disk full") as info:  # the caller's own failure stays its own
        _drain(client, write)
    assert not isinstance(info.value, CommError)


def _drain(client: Client, write: Callable[[bytes], None]) -> None:
    with client.stream("/f") as chunks:
        for chunk in chunks:
            write(chunk)


def test_stream_of_a_missing_file_is_a_storage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def urlopen(req: Any, **_k: Any) -> Any:
        raise urllib.error.HTTPError(
            req.full_url, 404, "Not Found", Message(), BytesIO(b'{"detail": "no file"}')
        )

    monkeypatch.setattr(_client.urllib.request, "urlopen", urlopen)
    with pytest.raises(StorageError, match=r"no artifact p/a:v0 on the team server"):
        with Client(URL, "k").stream("/f", artifact="p/a:v0"):
            pass


# ---------------------------------------------------------------------------- headers and URLs
def test_requests_carry_the_key_and_the_callers_headers(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Any] = []

    def urlopen(req: Any, **kw: Any) -> Any:
        seen.append((req, kw["timeout"]))
        return _Body([b'{"ok": true}'])

    monkeypatch.setattr(_client.urllib.request, "urlopen", urlopen)
    UploadClient(URL + "/", "k1", timeout=3).request("PUT", URL + "/x", json_body={"a": 1})
    Remote(URL, None).call("POST", "/sweeps", {"q": None, "n": 2}, body={"v": math.nan})
    (upload, t1), (remote, t2) = seen
    assert (t1, t2) == (3, 30.0)
    assert upload.get_header("Authorization") == "Bearer k1"
    assert upload.get_header("X-tracker-format-version") is not None
    assert upload.data == b'{"a": 1}'
    assert remote.get_header("Authorization") is None
    assert remote.get_header("X-tracker-format-version") is None
    assert remote.full_url == URL + "/api/v1/sweeps?n=2"
    assert remote.data == b'{"v":{"$float":"nan"}}'
    with pytest.raises(UsageError, match="server URL"):
        Client("ftp://host", None)


# ---------------------------------------------------------------------------- wire codec
def test_codec_round_trip() -> None:
    import datetime as dt

    value = {"f": [1.5, math.inf, -math.inf], "d": dt.datetime(2024, 5, 6, 7, 8, 9), "s": "$float", "n": None}
    back = loads(dumps(value))
    assert back == value
    assert math.isnan(loads(dumps({"x": math.nan}))["x"])
    assert loads(dumps({"$float": "not tagged", "other": 1})) == {"$float": "not tagged", "other": 1}


@pytest.mark.parametrize("dtype", ["<f8", ">f8", "<f4", "<i8", ">i4", "u1", "?"])
def test_arrays_round_trip_exactly(dtype: str) -> None:
    import numpy as np

    a = np.array([0, 1, 2, 3], dtype=dtype)
    if a.dtype.kind == "f":
        a[1], a[2] = np.nan, -np.inf
    back = array_from_wire(json.loads(json.dumps(array_to_wire(a))))
    assert back.dtype.newbyteorder("=") == a.dtype.newbyteorder("=")
    assert back.tobytes() == a.astype(a.dtype.newbyteorder("=")).tobytes()
    with pytest.raises(ValueError, match="unexpected array type"):
        array_from_wire({"b64": "", "dtype": "<U3"})
