"""Record validation at the trust boundary (issue 14, point 2).

Before: ingest checked CRC and msgpack decoding only, so an editor could store e.g. a
CONFIG record whose body is not a map, and from then on ``/api/projects`` and
``/api/v1/projects`` answered 500 for every user, across restarts. Now ingest refuses a
record that breaks the format's schema with 400 naming it (type, index in the batch,
byte offset in the log), and a poisoned log already on disk (stored by an older server)
keeps every listing up: its run is listed with a ``corrupt`` problem.
"""

from __future__ import annotations

import math
from typing import Any

from tests._poison import POISON, T0, encode, good_log, poisoned_log, run_record, write_log
from tracker.storage._format import HEADER_SIZE, R, file_header, scan
from tracker.storage._schema import problem

#: Poisons that are one msgpack value (an array as a map key is not even that).
DECODABLE = sorted(n for n in POISON if n != "summary-key-an-array")
PUT = "/api/v1/runs/{project}/{run_id}/log?offset={offset}"
HEADERS = {"X-Tracker-Format-Version": "1", "Content-Type": "application/octet-stream"}


def _listings_ok(team: Any, who: str) -> None:
    client = team.client(who)
    dash = client.get("/api/projects")
    assert dash.status_code == 200, dash.text
    v1 = client.get("/api/v1/projects")
    assert v1.status_code == 200, v1.text


def test_poisoned_batches_are_refused_with_the_record_named(team: Any) -> None:
    """Every mis-shaped record, each in its own run (one server: the team fixture is slow)."""
    alice = team.client("alice-editor")
    for i, name in enumerate(sorted(POISON)):
        run_id = f"p{i}"
        data, poison_at = poisoned_log(name, run_id=run_id, project="alpha")
        # The run's first frames are fine: they are stored.
        url = PUT.format(project="alpha", run_id=run_id, offset=0)
        res = alice.put(url, content=data[:poison_at], headers=HEADERS)
        assert res.status_code == 200, (name, res.text)
        assert res.json() == {"offset": poison_at, "appended": poison_at}
        # The batch holding the poison is refused as a whole, naming the record.
        url = PUT.format(project="alpha", run_id=run_id, offset=poison_at)
        res = alice.put(url, content=data[poison_at:], headers=HEADERS)
        assert res.status_code == 400, (name, res.text)
        body = res.json()
        record = POISON[name]
        typed = name in DECODABLE and isinstance(record, list) and record and type(record[0]) is int
        assert body["record"] == {"type": record[0] if typed else None, "index": 0, "offset": poison_at}, name
        assert body["reason"] == "schema"
        assert "record 0 of the batch" in body["detail"]
        assert f"byte offset {poison_at} " in body["detail"]
        offset = alice.get(f"/api/v1/runs/alpha/{run_id}/log/offset").json()["offset"]
        assert offset == poison_at, name  # nothing of the refused batch was stored
    _listings_ok(team, "alice")
    _listings_ok(team, "bob")


def test_index_of_the_bad_record_within_a_batch(team: Any) -> None:
    data, poison_at = poisoned_log("config-changed-not-a-map", run_id="p2", project="alpha")
    res = team.client("alice").put(
        PUT.format(project="alpha", run_id="p2", offset=0), content=data, headers=HEADERS
    )
    assert res.status_code == 400
    found = scan(data[:poison_at], HEADER_SIZE).records
    assert [r[0] for _o, r in found] == [R.RUN, R.CONFIG, R.HISTORY]
    assert res.json()["record"] == {"type": R.CONFIG, "index": 3, "offset": poison_at}
    assert "CONFIG (2)" in res.json()["detail"]
    assert "'changed' is an array, not a map" in res.json()["detail"]


def test_stored_poison_keeps_listings_up_across_restarts(team: Any) -> None:
    """Poisoned logs stored by an older server: every listing still answers 200, twice."""
    offsets = {}
    for i, name in enumerate(DECODABLE):
        data, offsets[f"bad{i}"] = poisoned_log(name, run_id=f"bad{i}", project="alpha")
        write_log(team.root, "alpha", f"bad{i}", data)
    write_log(team.root, "alpha", "fine", good_log("fine", "alpha"))
    for _restart in range(2):
        _listings_ok(team, "alice")
        _listings_ok(team, "bob")
        alice = team.client("alice")
        rows = {r["id"]: r for r in alice.get("/api/projects/alpha/runs").json()}
        assert set(rows) == {"r1", "fine", *offsets}
        assert rows["fine"]["problems"] == []
        assert rows["r1"]["problems"] == []
        for run_id, poison_at in offsets.items():
            [found] = rows[run_id]["problems"]
            assert (found["kind"], found["offset"]) == ("corrupt", poison_at), run_id
            assert rows[run_id]["max_step"] == 1, run_id
        v1 = alice.get("/api/v1/projects/alpha/runs").json()["runs"]
        by_id = {r["record"]["id"]: r for r in v1}
        assert {k: by_id[k]["record"]["problems"][0]["offset"] for k in offsets} == offsets
        assert {by_id[k]["state"] for k in offsets} == {"finished"}
        assert [p["name"] for p in alice.get("/api/v1/projects").json()["projects"]] == ["alpha"]
        team.app = team.build(team.root)  # a restart: a new app over the same root and index


#: Records that fit the schema but hold what the format allows and a page may not expect.
ODD: dict[str, Any] = {
    "summary-int-keys": [R.SUMMARY, {1: 2, "a": {3: 4}}],
    "config-int-keys": [R.CONFIG, {1: 2, "b": {None: 1}}, []],
    "config-bin": [R.CONFIG, {"k": b"\x00\xff"}, []],
    "summary-bin": [R.SUMMARY, {"k": b"\x00\xff"}],
    "summary-nan": [R.SUMMARY, {"k": math.nan, "j": {"x": math.inf}}],
    "config-nan": [R.CONFIG, {"k": math.nan}, []],
    "history-bin": [R.HISTORY, [["b"]], [[0, 0, T0, b"\x00"]]],
    "meta-odd-shapes": [R.META, {"git": 5, "python": [1], "packages": "x", "env": 3}],
    "alert-unknown-level": [R.ALERT, {"title": "t", "text": "x", "level": "LOUD", "ts": T0, "step": 0}],
    "exit-unknown-state": [R.EXIT, {"state": "exploded", "exit_code": 0, "ts": T0, "runtime": 1.0}],
    "files-odd-entry": [R.FILES, [{"path": "../../x", "size": 1, "sha256": "zz", "policy": "odd", "ts": T0}]],
    "define-metric-odd": [R.DEFINE_METRIC, {"name": "*", "summary": ["bogus"], "goal": "up"}],
}


def test_records_that_fit_the_schema_never_fail_a_page(team: Any) -> None:
    """What the format allows (int map keys, bin, NaN values, unknown states) stays servable."""
    for name, record in ODD.items():
        out = bytearray(file_header())
        out += encode(run_record(name, "alpha"))
        out += encode([R.HISTORY, [["loss"]], [[0, 0, T0, 1.0]]])
        out += encode(record)
        assert problem(record) is None, name
        write_log(team.root, "alpha", name, bytes(out))
    alice = team.client("alice")
    pages = ["/api/projects", "/api/v1/projects", "/api/projects/alpha/runs", "/api/v1/projects/alpha/runs"]
    for name in ODD:
        pages += [f"/api/projects/alpha/runs/{name}", f"/api/v1/projects/alpha/runs/{name}"]
        pages += [f"/api/projects/alpha/runs/{name}/console", f"/api/v1/projects/alpha/runs/{name}/history"]
    failed = [(url, res.status_code) for url in pages if (res := alice.get(url)).status_code != 200]
    assert failed == []
