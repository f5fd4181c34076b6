"""The Python side of issue 20: a mistake is named, with a suggestion, instead of passing silently."""

from __future__ import annotations

from pathlib import Path

import pytest

import tracker
from tracker._init import LOG_NAME, read_log
from tracker.api import Api
from tracker.errors import StorageError, TrackerWarning


def _logged(project: str = "vision", steps: int = 3) -> tracker.Run:
    run = tracker.init(project=project)
    for i in range(steps):
        run.log({"train/loss": 1.0 / (i + 1), "val/acc": 0.5 + i / 10})
    run.finish()
    return run


def test_a_step_lower_than_the_last_warns_once_and_the_row_is_kept() -> None:
    run = tracker.init(project="p")
    for i in range(5):
        run.log({"loss": float(i)})
    with pytest.warns(TrackerWarning, match=r"log\(step=2\) is below the current step 5") as caught:
        run.log({"late": 1.0}, step=2)
    assert caught[0].filename == __file__  # points at the user's log() call
    run.log({"late": 2.0}, step=3)  # behind again: no second warning (filterwarnings=error)
    run.finish()
    rows = [(r[0], r[2]) for r in read_log(Path(run.dir) / LOG_NAME).rows]
    assert rows[-2:] == [(2, {"late": 1.0}), (3, {"late": 2.0})]


def test_history_with_an_unknown_key_warns_with_the_close_key() -> None:
    run = _logged()
    api_run = Api().run(f"vision/{run.id}")
    with pytest.warns(TrackerWarning, match=r"no key 'trian/loss'.*did you mean 'train/loss'\?") as caught:
        rows = api_run.history(keys=["trian/loss"], pandas=False)
    assert rows == []
    assert caught[0].filename == __file__
    assert [r["train/loss"] for r in api_run.history(keys=["train/loss"], pandas=False)] == [1.0, 0.5, 1 / 3]


def test_api_refuses_a_missing_data_root_and_creates_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such" / "dir"
    with pytest.raises(StorageError, match=r"no data root at .*/no/such/dir \(nothing was logged there\)"):
        Api(missing)
    assert not (tmp_path / "no").exists()


def test_api_runs_of_an_unknown_project_raises_like_the_cli() -> None:
    _logged("vision")
    _logged("audio")
    with pytest.raises(StorageError) as info:
        Api().runs("visoin")
    assert isinstance(info.value, ValueError)  # what W&B raises ("Could not find project ...")
    assert "no project 'visoin' under " in str(info.value)
    assert "(projects: audio, vision); did you mean 'vision'?" in str(info.value)
    assert len(Api().runs("vision")) == 1


def test_api_runs_of_a_project_with_only_a_sweep_is_empty_not_an_error() -> None:
    _logged("vision")
    sweep_id = tracker.sweep({"method": "grid", "parameters": {"lr": {"values": [0.1]}}}, project="tuning")
    assert list(Api().runs("tuning")) == []
    assert Api().sweep(f"tuning/{sweep_id}").runs == []


def test_api_runs_without_a_path_on_an_empty_default_project_is_empty() -> None:
    _logged("vision")
    assert list(Api().runs()) == []  # the default project ("uncategorized") was never named


def test_init_with_a_mistyped_keyword_suggests_the_keyword() -> None:
    with pytest.warns(TrackerWarning, match=r"'projet' is not supported .* did you mean 'project'\?"):
        run = tracker.init(projet="vision")
    run.finish()


def test_repr_html_of_a_live_run_an_api_run_and_an_artifact(root: Path) -> None:
    from tracker._ui_link import write_ui_file

    run = tracker.init(project="vision", name="baseline", config={"lr": 0.1})
    run.log({"val/loss": 0.25, "acc": 0.9, "note": "text is not a figure"})
    live = run._repr_html_()
    assert "<b>baseline</b> <code>vision/" in live
    assert " · running · " in live
    assert f'<a href="http://127.0.0.1:8765/projects/vision/runs/{run.id}"' in live
    assert '<td style="text-align:left">0.25</td>' in live
    assert "text is not a figure" not in live
    assert "<iframe" not in live  # no dashboard serves this root
    write_ui_file(root, "http://127.0.0.1:9999", "tok")  # as a live `tracker ui` (this pid) does
    served = run._repr_html_()
    assert f'<iframe src="http://127.0.0.1:9999/projects/vision/runs/{run.id}?token=tok"' in served
    art = tracker.Artifact("weights", type="model", description="a <tiny> model")
    blob = root.parent / "w.bin"
    blob.write_bytes(b"\0" * 1500)
    art.add_file(blob)
    assert "a &lt;tiny&gt; model" in art._repr_html_()  # escaped
    run.log_artifact(art).wait()
    run.finish()
    (root / ".ui.json").unlink()
    page = Api().run(f"vision/{run.id}")._repr_html_()
    assert " · finished · " in page
    assert (
        '<td style="text-align:left;padding-right:1em">steps</td><td style="text-align:left">1</td>' in page
    )
    assert "<iframe" not in page
    stored = Api().artifact("vision/weights:latest")._repr_html_()
    assert "<b>vision/weights:v0</b>" in stored
    assert ">latest<" in stored
    assert ">1.5 kB<" in stored
