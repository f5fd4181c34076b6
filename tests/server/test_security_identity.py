"""The two cross-tenant reads of issue 14, as reported: the permission gate and the handler
read the project from different places.

``GET /api/events?project=mine&project=theirs``: the gate read the first value, the stream
the last. ``POST /api/series?project=mine`` with ``{"project": "theirs"}``: the gate read the
query, the handler the body. Both are refused now (400), before any data is read.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import unquote

from fastapi.testclient import TestClient

BASE = "http://127.0.0.1:8765"


def first_answer(
    app: Any, method: str, path: str, headers: dict[str, str], body: bytes = b""
) -> tuple[int, bytes]:
    """Call ``app`` directly (ASGI) and return the status and body, or the body up to the first
    server-sent event of an endless stream (then the client goes away)."""

    async def go() -> tuple[int, bytes]:
        status: list[int] = []
        chunks: list[bytes] = []
        done = asyncio.Event()
        given = False

        async def receive() -> dict[str, Any]:
            nonlocal given
            if not given:
                given = True
                return {"type": "http.request", "body": body, "more_body": False}
            await done.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if b"event: " in b"".join(chunks) or not message.get("more_body", False):
                    done.set()

        raw, _, query = path.partition("?")
        head = [(b"host", b"127.0.0.1:8765"), *((k.lower().encode(), v.encode()) for k, v in headers.items())]
        if body:
            head.append((b"content-length", str(len(body)).encode()))
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": unquote(raw),
            "raw_path": raw.encode(),
            "query_string": query.encode(),
            "root_path": "",
            "headers": head,
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8765),
        }
        await app(scope, receive, send)
        return status[0], b"".join(chunks)

    return asyncio.run(go())


class Caller:
    """Requests to one app as one caller (``headers``: the key or the token)."""

    def __init__(self, app: Any, headers: dict[str, str]) -> None:
        self.app = app
        self.headers = headers
        self.client = TestClient(app, base_url=BASE, headers=headers)

    def __call__(self, method: str, path: str, body: Any = None, raw: bytes | None = None) -> tuple[int, str]:
        content = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
        if path.split("?")[0] == "/api/events":  # an endless stream once allowed
            status, text = first_answer(self.app, method, path, {**self.headers}, content)
            return status, text.decode(errors="replace")
        headers = {"Content-Type": "application/json"} if content else {}
        res = self.client.request(method, path, content=content, headers=headers, follow_redirects=False)
        return res.status_code, res.text


def test_events_repeated_project_streams_nothing(team: Any) -> None:
    """The attack of the issue: the gate read the first ``project``, the stream the last."""
    bob = {"Authorization": f"Bearer {team.keys['bob']}"}
    status, body = first_answer(team.app, "GET", "/api/events?project=beta&project=alpha", bob)
    assert status == 400, body
    assert b"repeated" in body
    assert b"event: " not in body
    status, body = first_answer(team.app, "GET", "/api/events?project=beta", bob)
    assert status == 200
    assert b"event: runs" in body


def test_series_query_and_body_disagreeing_reads_nothing(team: Any) -> None:
    """The attack of the issue: the gate preferred the query, the handler read the body."""
    bob = Caller(team.app, {"Authorization": f"Bearer {team.keys['bob']}"})
    body = {"project": "alpha", "runs": ["r1"], "keys": ["loss"]}
    status, text = bob("POST", "/api/series?project=beta", body)
    assert status == 400, text
    assert "disagree" in text
    status, text = bob("POST", "/api/series", {**body, "project": "beta"})
    assert status == 200
    assert '"r1"' in text
    # A JSON object that names the project twice is refused too (parsers keep different ones).
    raw = b'{"project": "beta", "project": "alpha", "runs": ["r1"], "keys": ["loss"]}'
    status, text = bob("POST", "/api/series", raw=raw)
    assert (status, "repeat" in text) == (400, True), text
