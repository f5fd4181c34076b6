"""A CLI that guides (issue 20): one-line errors, suggestions, progress, readable listings."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tracker
from tracker._ui_link import UI_FILE
from tracker.cli import main


@pytest.fixture
def runs(root: Path) -> dict[str, str]:
    """Two runs in 'vision' (val/loss 0.3 and 0.1), with a histogram, an image and an artifact."""
    ids = {}
    for name, loss in (("first", 0.3), ("second", 0.1)):
        run = tracker.init(project="vision", name=name, config={"lr": 0.1})
        run.log({"val/loss": loss * 2})
        run.log(
            {
                "val/loss": loss,
                "weights": tracker.Histogram(np.arange(100)),
                "sample": tracker.Image(np.zeros((8, 6, 3), dtype=np.uint8), caption="digits"),
            }
        )
        run.finish()
        ids[name] = run.id
    art = tracker.Artifact("model", type="model")
    weights = root.parent / "weights.bin"
    weights.write_bytes(b"\0" * 2_500_000)
    art.add_file(weights)
    run = tracker.init(project="vision", name="export")
    run.log_artifact(art).wait()
    run.finish()
    ids["export"] = run.id
    return ids


def _err_lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return capsys.readouterr().err.strip().splitlines()


# ---------------------------------------------------------------- one-line errors


def test_runtime_usage_error_is_one_line_without_usage(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root.mkdir()
    assert main(["sweep", "--stop", "nosuch"]) == 2
    assert _err_lines(capsys) == ["tracker sweep: error: no sweep 'nosuch'."]
    assert main(["ui", "--port", "70000"]) == 2
    assert _err_lines(capsys) == ["tracker ui: error: --port 70000: use 0-65535."]


def test_runtime_failure_is_one_line_and_debug_adds_the_traceback(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["runs", "ls"]) == 1
    (line,) = _err_lines(capsys)
    assert line == (
        f"tracker: error: no data root at {root}: nothing was logged there yet "
        "(pass --root DIR or set TRACKER_DIR)."
    )
    assert not root.exists()  # reading never creates the data root
    assert main(["runs", "ls", "--debug"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Traceback")
    assert err.rstrip().endswith("(pass --root DIR or set TRACKER_DIR).")


def test_parse_errors_print_the_short_usage_not_the_whole_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runs", "ls", "--bogus"]) == 2
    lines = _err_lines(capsys)
    assert lines[0].startswith("usage: tracker runs ls [-h]")
    assert lines[-2:] == [
        "tracker runs ls: error: unrecognized arguments: --bogus",
        "(see `tracker runs ls --help`)",
    ]
    assert len(lines) <= 5  # not the ~25 lines of the full help


def test_malformed_sweep_yaml_names_file_line_and_column(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "sweep.yaml"
    config.write_text("method: grid\nparameters:\n  lr:\n    values: [0.1, 0.2\n  batch: {values: [1]}\n")
    assert main(["sweep", str(config)]) == 2
    (line,) = _err_lines(capsys)
    assert line == (
        f"tracker sweep: error: {config}:5:8: invalid YAML: while parsing a flow sequence "
        "expected ',' or ']', but got ':'."
    )
    assert "Mark object" not in line
    config.write_text('{"method": "grid",\n "parameters": {"lr": {"values": [0.1,]}}\n')
    assert main(["sweep", str(config)]) == 2
    assert f"{config}:3:1: invalid YAML" in capsys.readouterr().err


def test_missing_sweep_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sweep", str(tmp_path / "nope.yaml")]) == 2
    assert _err_lines(capsys) == [f"tracker sweep: error: {tmp_path / 'nope.yaml'}: no such file."]


# ---------------------------------------------------------------- did you mean


def test_did_you_mean_a_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rnus"]) == 2
    assert "invalid choice: 'rnus'; did you mean 'runs'?" in capsys.readouterr().err
    assert main(["artifact", "lss"]) == 2
    assert "did you mean 'ls'?" in capsys.readouterr().err


def test_did_you_mean_a_project(runs: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runs", "ls", "visoin"]) == 1
    (line,) = _err_lines(capsys)
    assert line.endswith("(projects: vision); did you mean 'vision'?")
    assert main(["runs", "show", f"visoin/{runs['first']}"]) == 1
    assert (
        "there is no project 'visoin' (projects: vision); did you mean 'vision'?" in capsys.readouterr().err
    )


def test_did_you_mean_a_run_id_or_its_name(runs: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    typo = runs["first"][:-1] + ("x" if runs["first"][-1] != "x" else "y")
    assert main(["runs", "show", f"vision/{typo}"]) == 1
    assert f"did you mean '{runs['first']}'" in capsys.readouterr().err
    assert main(["runs", "show", "vision/second"]) == 1
    assert (
        f"'second' is the name of run '{runs['second']}': use vision/{runs['second']}."
        in capsys.readouterr().err
    )


def test_did_you_mean_an_artifact_and_a_project_given_as_a_run(
    runs: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["artifact", "get", "vision/modle:latest"]) == 1
    assert _err_lines(capsys)[-1].endswith("; did you mean 'model'?")
    assert main(["runs", "show", "vision"]) == 1
    assert _err_lines(capsys)[-1].endswith("'vision' is a project: name a run as vision/ID.")


def test_a_sweep_state_change_on_a_missing_root_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sweep", "--stop", "abc", "--root", str(tmp_path / "nope")]) == 1
    assert _err_lines(capsys) == [
        f"tracker: error: no data root at {tmp_path / 'nope'}: nothing was logged there yet "
        "(pass --root DIR or set TRACKER_DIR)."
    ]
    assert not (tmp_path / "nope").exists()


# ---------------------------------------------------------------- arguments


def test_order_accepts_a_leading_minus(runs: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runs", "ls", "vision", "--order", "-summary.val/loss"]) == 0
    names = [line.split()[1] for line in capsys.readouterr().out.splitlines()[1:]]
    assert names == ["first", "second", "export"]  # 0.3, 0.1, then the run without the key
    assert main(["runs", "ls", "vision", "--order", "+summary.val/loss"]) == 0
    names = [line.split()[1] for line in capsys.readouterr().out.splitlines()[1:]]
    assert names == ["second", "first", "export"]


def test_order_by_a_key_no_run_has_says_so_and_suggests(
    runs: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["runs", "ls", "vision", "--order", "-summary.val/los"]) == 0
    assert _err_lines(capsys) == [
        "tracker runs ls: note: no run has 'summary.val/los', so --order sorts nothing; "
        "did you mean 'summary.val/loss'?"
    ]


def test_login_takes_the_url_as_the_readme_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    assert main(["login", "http://server:8080", "--key", "k-123"]) == 0
    assert capsys.readouterr().out.strip() == "stored credentials for http://server:8080"
    stored = (tmp_path / "config" / "tracker" / "credentials").read_text()
    assert "http://server:8080" in stored
    assert "k-123" in stored
    assert main(["login", "--host", "http://other:8080", "--key", "k-2"]) == 0  # the option still works
    assert "http://other:8080" in (tmp_path / "config" / "tracker" / "credentials").read_text()
    assert main(["login", "--key", "k"]) == 2
    assert "which server?" in capsys.readouterr().err


def test_python_dash_m_tracker_is_the_tracker_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tracker", "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: tracker [-h]")
    assert "runs" in done.stdout


# ---------------------------------------------------------------- output


def test_artifact_ls_has_a_header_and_human_sizes(
    runs: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["artifact", "ls"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["ARTIFACT", "TYPE", "SIZE", "FILES", "ALIASES", "RUN"]
    assert lines[1].split() == ["vision/model:v0", "model", "2.5", "MB", "1", "latest", runs["export"]]


def test_runs_show_describes_media_and_histograms(
    runs: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["runs", "show", f"vision/{runs['first']}"]) == 0
    out = capsys.readouterr().out
    assert "  weights: histogram: 64 bins over [0, 99], 100 values\n" in out
    assert "  sample: image: 6x8 png " in out
    assert "caption 'digits'  [media/image/" in out
    assert '"bins"' not in out
    assert "  val/loss: 0.3\n" in out


def test_progress_lines_when_not_a_tty(
    runs: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["artifact", "get", "vision/model:latest", "--dir", str(tmp_path / "dl")]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == str(tmp_path / "dl")
    (line,) = captured.err.splitlines()  # not a TTY: no bar, one line at the end (and one per 5 s)
    assert line.startswith("downloading vision/model:v0: 2.5 MB/2.5 MB in 0:")
    assert (tmp_path / "dl" / "weights.bin").stat().st_size == 2_500_000
    assert main(["export", "vision", "--format", "csv", "--out", str(tmp_path / "h.csv")]) == 0
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("exporting vision: 4/4 rows in 0:")
    assert lines[1] == f"wrote 4 rows to {tmp_path / 'h.csv'}"


def test_a_large_file_is_counted_while_it_is_copied(
    runs: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tracker.cli import _artifact
    from tracker.cli._progress import Progress

    counted: list[int] = []
    update = Progress.update
    monkeypatch.setattr(Progress, "update", lambda self, n=1: (counted.append(n), update(self, n))[1])
    monkeypatch.setattr(_artifact, "WATCH_BYTES", 1)  # watch the .part file of every entry
    assert main(["artifact", "get", "vision/model:v0", "--dir", str(tmp_path / "dl")]) == 0
    assert sum(counted) == 2_500_000  # the .part sizes seen plus the rest: never more than the file
    assert capsys.readouterr().err.startswith("downloading vision/model:v0: 2.5 MB/2.5 MB in 0:")
    assert (tmp_path / "dl" / "weights.bin").read_bytes() == b"\0" * 2_500_000
    assert not list((tmp_path / "dl").glob(".*.part"))


# ---------------------------------------------------------------- SIGTERM


def test_sigterm_of_tracker_ui_removes_the_ui_file(root: Path) -> None:
    root.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tracker", "ui", "--port", "0", "--root", str(root)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        assert proc.stdout is not None
        printed = proc.stdout.readline().strip()  # printed once listening and .ui.json is written
        assert "?token=" in printed
        assert (root / UI_FILE).exists()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 128 + signal.SIGTERM
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(20)
        assert proc.stdout is not None
        assert proc.stderr is not None
        proc.stdout.close()
        proc.stderr.close()
    assert not (root / UI_FILE).exists()
