"""The remote Api's pieces that need no server: choosing it, the wire format, history rows."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import pytest

import tracker
from tracker._client import dumps, loads
from tracker.api import Api
from tracker.api._remote import connect, rows_from_wire, rows_to_wire
from tracker.errors import UnsupportedError, UsageError


def test_env_or_base_url_selects_the_server(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert Api()._remote is None
    monkeypatch.setenv("TRACKER_BASE_URL", "http://127.0.0.1:9/")
    monkeypatch.setenv("TRACKER_API_KEY", "k1")
    api = Api()
    assert api._remote is not None
    assert (api._remote.base_url, api._remote.api_key) == ("http://127.0.0.1:9", "k1")
    root.mkdir()  # Api(path) refuses a missing data root (issue 20)
    assert Api(root)._remote is None  # an explicit data root stays local
    assert Api(root, base_url="http://h:1", api_key="k2")._remote is not None
    with pytest.raises(UnsupportedError, match=r"team server http://127\.0\.0\.1:9"):
        api.index  # noqa: B018 - the property raises
    with pytest.raises(UnsupportedError):
        api.state  # noqa: B018
    with pytest.raises(UsageError, match="timeout"):
        Api(timeout=0)


def test_stored_key_only_goes_to_its_own_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tracker._settings import write_credentials

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    write_credentials("http://team:8080", "stored-key")
    monkeypatch.setenv("TRACKER_BASE_URL", "http://team:8080/")
    remote = connect()
    assert remote is not None
    assert remote.api_key == "stored-key"
    other = connect("http://elsewhere:8080")
    assert other is not None
    assert other.api_key is None


def test_wire_keeps_non_finite_floats_and_datetimes() -> None:
    import numpy as np

    value = {"a": [math.nan, math.inf, -math.inf, 1.5, 2], "t": dt.datetime(2024, 1, 2, 3, 4, 5),
             "n": np.float32(0.5), "i": np.int64(3), "s": "x", "none": None, "tup": (1, 2)}  # fmt: skip
    raw = dumps(value)
    json.loads(raw)  # strict JSON: no NaN tokens
    back = loads(raw)
    assert math.isnan(back["a"][0])
    assert back["a"][1:] == [math.inf, -math.inf, 1.5, 2]
    assert back["t"] == dt.datetime(2024, 1, 2, 3, 4, 5)
    assert (back["n"], back["i"], back["s"], back["none"], back["tup"]) == (0.5, 3, "x", None, [1, 2])


def test_history_rows_round_trip(root: Path) -> None:
    from tracker.api._history import to_dicts

    with tracker.init(project="p", id="r", settings=tracker.Settings(disable_git=True)) as run:
        for step in range(20):
            row: dict[str, object] = {"loss": 1.0 / (step + 1), "n": step}
            if step % 5 == 0:
                row["tag"] = f"t{step}"
            if step == 3:
                row["loss"] = math.nan
            run.log(row)
    api_run = Api().run("p/r")
    rows, keys, _step = api_run._history_rows(None, None, "_step", "default")
    back = rows_from_wire(loads(dumps(rows_to_wire(rows))))
    want = to_dicts(rows, keys, api_run._created)
    got = to_dicts(back, keys, api_run._created)
    assert json.dumps(got, default=repr) == json.dumps(want, default=repr)
    assert back.columns["n"][1].dtype == rows.columns["n"][1].dtype
    assert isinstance(back.columns["tag"][1], list)


def test_cli_reads_stay_local_with_a_server_configured(
    root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tracker.cli import main

    with tracker.init(project="p", id="loc", settings=tracker.Settings(disable_git=True)) as run:
        run.log({"loss": 1.0})
    monkeypatch.setenv("TRACKER_BASE_URL", "http://127.0.0.1:9")  # nothing listens there
    assert main(["runs", "ls", "p", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[0])["id"] == "loc"
