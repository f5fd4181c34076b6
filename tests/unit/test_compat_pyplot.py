"""Issue 19 point 10: ``log({"chart": plt})`` with the pyplot module logs its current figure,
as W&B does (tracker stores it as an image); a ``Figure`` works the same. Real matplotlib
(Agg backend), from the test dependency group.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import tracker

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

QUIET = {"disable_git": True, "stats_interval": 0, "capture_packages": False}


def test_logging_pyplot_logs_the_current_figure(root: Path) -> None:
    run = tracker.init(project="plots", id="mpl", settings=QUIET)
    fig = plt.figure(figsize=(2, 1), dpi=50)
    plt.plot([0, 1, 2], [0, 1, 4], color="red")
    tracker.log({"chart": plt})
    plt.close(fig)
    other = plt.figure(figsize=(3, 2), dpi=50)  # a Figure object directly
    run.log({"other": other})
    plt.close(other)
    run.finish()

    api_run = tracker.Api(root).run("plots/mpl")
    chart = api_run.load(api_run.history(keys=["chart"]).iloc[0]["chart"])
    assert chart.shape[:2] == (50, 100)
    reds = (chart[..., 0] > 200) & (chart[..., 1] < 80) & (chart[..., 2] < 80)
    assert reds.sum() > 10  # the red line of the current figure was drawn
    other_img = api_run.load(api_run.summary["other"])
    assert other_img.shape[:2] == (100, 150)
