"""OpenAPI-driven fuzzing of the team-server app with schemathesis: no input gives a 5xx.

Every operation of the app's schema gets at most 50 generated requests (derandomized:
the same ones on every run), each sent twice: with a server admin's key and with a
viewer key. The live event stream is left out (it answers an allowed caller with an
endless stream). Operations are driven through schemathesis' Python API with one
hypothesis run each (its pytest fixture loader does not run on pytest 9).
"""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings

MAX_EXAMPLES = 50
SKIP = {"/api/events"}


def test_no_server_errors(team: Any) -> None:
    team.store.add_member("crew", "alice", "viewer")
    team.app = team.build(team.root, hosts=["127.0.0.1", "testserver"])  # schemathesis' client host
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", team.app)
    headers = {who: {"Authorization": f"Bearer {team.keys[who]}"} for who in ("root", "alice-viewer")}
    failures: list[str] = []
    done: list[str] = []
    calls = [0]
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path in SKIP:
            continue

        @given(case=operation.as_strategy())
        @settings(
            max_examples=MAX_EXAMPLES,
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
        def fuzz(case: Any) -> None:
            for who, auth in headers.items():
                response = case.call(headers={**auth, "X-Tracker-Format-Version": "1"})
                calls[0] += 1
                if response.status_code >= 500:
                    failures.append(f"{who} {case.method} {case.formatted_path}: {response.text[:300]}")

        fuzz()
        done.append(f"{operation.method.upper()} {operation.path}")
    assert not failures, "\n".join(failures[:20])
    assert len(done) >= 30, done
    assert calls[0] >= 20 * len(done)  # most operations get many distinct examples
