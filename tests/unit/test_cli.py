"""The CLI through ``main([...])``: exit codes, output, help on usage errors."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tracker import __version__
from tracker.cli import main

T0 = 1_700_000_000.0


@pytest.fixture
def data(logs: Any) -> Path:
    a = logs.run("p", "a", created=T0 + 1, name="alpha", tags=["base"], config={"lr": 0.1})
    a.series(3, {"loss": lambda s: 1.0 / (s + 1)}).summary({"loss": 1 / 3}).alert("hi", "there").exit(
        "finished"
    )
    b = logs.run("p", "b", created=T0 + 2, name="beta", config={"lr": 0.01})
    b.rows([(0, T0 + 3, {"loss": 0.5, "img": {"_type": "image-file", "path": "x.png"}})]).exit("failed", 1)
    logs.run("q", "c", created=T0 + 3).log({"x": 1.0}).exit()
    return Path(logs.root)


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"tracker {__version__}"


def test_help_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert "runs" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "help_of"),
    [
        ([], "usage: tracker [-h]"),
        (["runs"], "usage: tracker runs [-h]"),
        (["runs", "show"], "usage: tracker runs show"),
        (["runs", "ls", "--bogus"], "usage: tracker runs ls"),
        (["export", "p"], "usage: tracker export"),
        (["export", "p", "--format", "xml"], "usage: tracker export"),
        (["nope"], "usage: tracker [-h]"),
    ],
)
def test_usage_errors_exit_2_with_the_subcommand_help(
    data: Path, capsys: pytest.CaptureFixture[str], argv: list[str], help_of: str
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert help_of in err
    assert "error:" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["runs", "show", "not a path"], "tracker runs show: error: run('not a path'): "),
        (["runs", "ls", "p", "--filter", "{bad json"], "tracker runs ls: error: --filter is not valid JSON"),
        (["runs", "ls", "p", "--filter", '{"$bogus": 1}'], "tracker runs ls: error: "),
    ],
)
def test_bad_values_found_at_run_time_exit_2_in_one_line(
    data: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert main(argv) == 2
    (line,) = capsys.readouterr().err.splitlines()  # issue 20: no usage dump for these
    assert line.startswith(message)


def test_runs_ls(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runs", "ls", "p"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["ID", "NAME", "STATE", "CREATED", "STEPS"]
    assert [line.split()[:3] for line in lines[1:]] == [["b", "beta", "failed"], ["a", "alpha", "finished"]]
    assert lines[2].split()[-1] == "3"
    assert main(["runs", "ls"]) == 0
    rows = [line.split()[:2] for line in capsys.readouterr().out.splitlines()[1:]]
    assert rows == [["p", "b"], ["p", "a"], ["q", "c"]]


def test_runs_ls_json_filter_and_order(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["runs", "ls", "p", "--json", "--filter", '{"config.lr": {"$gt": 0.05}}', "--order", "+created_at"]
    assert main(argv) == 0
    (line,) = capsys.readouterr().out.splitlines()
    info = json.loads(line)
    assert (info["id"], info["state"], info["tags"], info["steps"]) == ("a", "finished", ["base"], 3)


def test_root_option_before_or_after_the_command(
    data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TRACKER_DIR", str(tmp_path / "empty"))
    assert main(["--root", str(data), "runs", "ls", "q"]) == 0
    assert main(["runs", "ls", "q", "--root", str(data)]) == 0
    out = capsys.readouterr().out
    assert out.count("\nc ") == 2


def test_unknown_project_is_an_error(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runs", "ls", "nope"]) == 1
    err = capsys.readouterr().err
    assert "no project 'nope'" in err
    assert "p, q" in err


def test_runs_show(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runs", "show", "p/a"]) == 0
    out = capsys.readouterr().out
    assert "state:        finished" in out
    assert "  lr: 0.1" in out
    assert "[INFO] hi: there" in out
    assert main(["runs", "show", "local/p/b", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["state"], info["config"]) == ("failed", {"lr": 0.01})
    # No SUMMARY record: the summary is the last logged row (what a resume would see).
    assert info["summary"] == {"loss": 0.5, "img": {"_type": "image-file", "path": "x.png"}, "_step": 0}


def test_runs_show_missing_run_exits_1(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runs", "show", "p/zzz"]) == 1
    err = capsys.readouterr().err
    assert "no run 'zzz'" in err
    assert "Traceback" not in err


def test_debug_prints_the_traceback(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runs", "show", "p/zzz", "--debug"]) == 1
    assert "Traceback" in capsys.readouterr().err


def test_export_csv(data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", "p", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["run_id"], r["_step"], r["loss"]) for r in rows] == [
        ("a", "0", "1.0"),
        ("a", "1", "0.5"),
        ("a", "2", str(1 / 3)),
        ("b", "0", "0.5"),
    ]
    assert json.loads(rows[3]["img"]) == {"_type": "image-file", "path": "x.png"}
    out = tmp_path / "runs.csv"
    assert main(["export", "p", "--format", "csv", "--what", "runs", "--out", str(out)]) == 0
    table = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [(r["id"], r["state"], r["config.lr"]) for r in table] == [
        ("a", "finished", "0.1"),
        ("b", "failed", "0.01"),
    ]
    assert "wrote 2 rows" in capsys.readouterr().err


def test_export_parquet(data: Path, tmp_path: Path) -> None:
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    out = tmp_path / "out" / "p.parquet"
    assert main(["export", "p", "--format", "parquet", "--out", str(out)]) == 0
    frame = pd.read_parquet(out)
    assert list(frame.columns) == ["run_id", "run_name", "_step", "_timestamp", "_runtime", "img", "loss"]
    assert frame["loss"].tolist() == [1.0, 0.5, 1 / 3, 0.5]
    assert json.loads(frame["img"][3]) == {"_type": "image-file", "path": "x.png"}


def test_export_parquet_without_pyarrow(data: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    assert main(["export", "p", "--format", "parquet"]) == 1
    assert "pip install 'tracker[data]'" in capsys.readouterr().err


def test_python_dash_m(data: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tracker.cli", "runs", "ls", "q", "--root", str(data)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[1].split()[:3] == ["c", "c", "finished"]
    usage = subprocess.run(
        [sys.executable, "-m", "tracker.cli", "runs"], capture_output=True, text=True, timeout=60
    )
    assert usage.returncode == 2
