"""Issue 19 point 4: names with spaces (``project="my project"``, registry collections such
as ``"model-registry/MNIST Classifier"``) work locally and over HTTP; a name that cannot be
stored safely is refused with a message naming the character (one rule, ``tracker._naming``).
"""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest

import tracker
from tracker.errors import UsageError

QUIET = {"disable_git": True, "stats_interval": 0, "capture_packages": False}


def test_a_project_with_spaces(root: Path) -> None:
    run = tracker.init(project="my project", id="r1", settings=QUIET)
    run.log({"loss": 0.5})
    assert run.url.endswith("/projects/my%20project/runs/r1")
    run.finish()
    assert (root / "projects/my project/runs/r1/run.tlog").is_file()
    api = tracker.Api(root)
    assert api.run("my project/r1").summary["loss"] == 0.5
    assert [r.id for r in api.runs("my project")] == ["r1"]


@pytest.mark.parametrize(
    ("project", "message"),
    [
        ("a/b", "the character '/' cannot be stored safely"),
        ("a:b", "the character ':' cannot be stored safely"),
        ("a\\b", "the character '\\\\\\\\' cannot be stored safely"),
        ("caf\u00e9", "the character '\u00e9' cannot be stored safely"),
        (" lead", "it starts with ' '"),
        ("trail ", "it ends with a space"),
        ("..", "it starts with '.'"),
        ("x" * 129, "129 characters long"),
    ],
)
def test_unsafe_names_are_refused_naming_the_character(root: Path, project: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        tracker.init(project=project, settings=QUIET)
    assert not (root / "projects").exists()


def test_a_registry_collection_with_spaces(root: Path, tmp_path: Path) -> None:
    weights = tmp_path / "w.bin"
    weights.write_bytes(b"\x00" * 16)
    run = tracker.init(project="my project", settings=QUIET)
    art = tracker.Artifact("mnist model", type="model")
    art.add_file(str(weights))
    run.log_artifact(art).wait()
    run.link_artifact(art, "model-registry/MNIST Classifier", aliases=["prod"])
    got = run.use_artifact("model-registry/MNIST Classifier:prod")
    assert (Path(got.download(root=str(tmp_path / "dl"))) / "w.bin").read_bytes() == b"\x00" * 16
    run.finish()
    with pytest.raises(UsageError, match="the character '#'"):
        tracker.Artifact("bad#name", type="model")


def test_an_online_run_with_spaces_over_http(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("fastapi")
    from tests._server import TrackerServer, make_key

    server_root = tmp_path / "server"
    key = make_key(server_root)
    server = TrackerServer(server_root)
    try:
        monkeypatch.setenv("TRACKER_BASE_URL", server.url)
        monkeypatch.setenv("TRACKER_API_KEY", key)
        run = tracker.init(project="my project", id="on1", mode="online", settings=QUIET)
        run.log({"loss": 0.25})
        assert run.url == f"{server.url}/projects/my%20project/runs/on1"
        assert run.project_url == f"{server.url}/projects/my%20project"
        run.finish()
        got = tracker.Api(base_url=server.url, api_key=key).run("my project/on1")
        assert got.summary["loss"] == 0.25
        # The dashboard page of the project preloads its data from URL-encoded API paths.
        request = urllib.request.Request(run.project_url, headers={"Authorization": f"Bearer {key}"})
        with urllib.request.urlopen(request, timeout=30) as page:
            html = page.read().decode()
        assert 'href="/api/projects/my%20project/runs"' in html
        assert (server_root / "projects/my project/runs/on1/run.tlog").is_file()
    finally:
        server.stop()
