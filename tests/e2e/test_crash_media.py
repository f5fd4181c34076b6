"""Crash safety with images in the stream: rows behind a media backlog still reach the disk.

The victim logs rows unpaced, an image of random noise (64x64 to 256x256, so encoding is
real work) every fourth row, so the writer is always behind on media. Every 10 ms, when
``log()`` returns, its main thread reports one line with one ``os.write``:
``D <durable> <logged> <t>``: ``run._durable_step()`` (the last step whose row the writer
has handed to the OS with ``write(2)``: SIGKILL cannot lose it), the last step ``log()``
returned for, and ``time.monotonic()`` (one clock for every process on Linux). The parent
SIGKILLs it at a seeded moment and reads the log back: every row up to the last reported
durable step is there with its values and its image, every row whose ``log()`` returned
``LAG`` seconds before the kill is there, and at every report the rows logged ``LAG``
seconds earlier were already durable.
"""

from __future__ import annotations

import random
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tracker
from tracker import media
from tracker.media._store import BACKLOG_SECONDS, FIRST_BOUND, MIN_BOUND, Budget
from tracker.storage._format import read_frames
from tracker.storage._replay import RunState

KILL_TRIALS = 20
#: The bound under test: a row is durable within a second of log() returning, media
#: backlog or not (the writer bounds its media queue at a quarter of that;
#: bench_durability.py measures the delay).
LAG = 1.0
SIZES = (64, 96, 128, 192, 256)
IMAGE_EVERY = 4

VICTIM = """\
import os
import sys
import time

import numpy as np

import tracker

rng = np.random.default_rng(int(sys.argv[2]))
pool = [rng.integers(0, 256, (s, s, 3), dtype=np.uint8) for s in SIZES for _ in range(2)]
run = tracker.init(project="crash-media", id=sys.argv[1])
durable = run._durable_step
log = run.log
image = tracker.Image
clock = time.monotonic
next_report = 0.0
i = 0
while True:  # unpaced: images arrive far faster than the writer can encode them
    row = {"i": i, "loss": 1.0 / (i + 1)}
    if i % EVERY == 0:
        row["img"] = image(pool[(i // EVERY) % len(pool)])
    log(row)
    i += 1
    now = clock()
    if now >= next_report:
        next_report = now + 0.01
        os.write(1, b"D %d %d %.6f\\n" % (durable(), i - 1, now))
""".replace("SIZES", repr(SIZES)).replace("EVERY", str(IMAGE_EVERY))


def _pool(seed: int) -> list[np.ndarray[Any, Any]]:
    """The victim's images, made the same way from the same seed."""
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (s, s, 3), dtype=np.uint8) for s in SIZES for _ in range(2)]


class Report:
    """One ``D`` line: the durable step and the last logged step at ``time.monotonic()`` ``t``."""

    def __init__(self, line: str) -> None:
        _, durable, logged, t = line.split()
        self.durable = int(durable)
        self.logged = int(logged)
        self.t = float(t)


def logged_before(reports: list[Report], t: float) -> int:
    """The last step whose ``log()`` had returned at ``t`` according to the reports (-1: none)."""
    return max((r.logged for r in reports if r.t <= t), default=-1)


@pytest.mark.slow
def test_sigkill_with_images_keeps_every_durable_row(
    root: Path, spawn: Callable[..., Any], write_script: Callable[[str, str], Path]
) -> None:
    rng = random.Random(1406)
    script = write_script("media_victim.py", VICTIM)
    lags_checked = 0
    for trial in range(KILL_TRIALS):
        run_id = f"kill{trial}"
        seed = rng.randrange(1 << 30)
        victim = spawn(script, run_id, str(seed))
        victim.expect(lambda text: text.startswith("D "), "a durable report")
        # The kill moment: the victim must still be running when it comes.
        with pytest.raises(subprocess.TimeoutExpired):
            victim.proc.wait(rng.uniform(0.1, 1.6))
        killed_at = time.monotonic()
        victim.kill()
        assert victim.wait() == -signal.SIGKILL
        reports = [Report(line) for line in victim.lines if line.startswith("D ")]
        last_durable = max(r.durable for r in reports)
        # Rows whose log() returned LAG seconds before the kill must have reached the OS.
        owed = logged_before(reports, killed_at - LAG)
        # The writer kept up all along: what was logged LAG seconds before a report was durable.
        for r in reports:
            stale = logged_before(reports, r.t - LAG)
            assert r.durable >= stale, (
                f"trial {trial}: step {stale} was logged over {LAG} s before a report, but the "
                f"durable step was {r.durable}"
            )
            lags_checked += stale >= 0
        lags_checked += owed >= 0

        run_dir = root / "projects" / "crash-media" / "runs" / run_id
        read = read_frames(run_dir / "run.tlog")
        state = RunState()
        state.feed(read.records)
        rows = state.rows
        assert [r[0] for r in rows] == list(range(len(rows))), f"trial {trial}: steps lost or out of order"
        assert len(rows) > last_durable, (
            f"trial {trial}: durable step {last_durable} missing ({len(rows)} rows)"
        )
        assert len(rows) > owed, (
            f"trial {trial}: step {owed} was logged over {LAG} s before the kill but only "
            f"{len(rows)} rows reached the disk"
        )
        pool = _pool(seed)
        files: dict[int, str] = {}
        for step, _ts, data in rows:
            assert data["i"] == step
            assert data["loss"] == 1.0 / (step + 1)
            if step % IMAGE_EVERY == 0:
                ref = data["img"]
                assert ref["_type"] == "image-file", ref
                # Content-addressed: the same pool image is the same file every time.
                assert files.setdefault((step // IMAGE_EVERY) % len(pool), ref["path"]) == ref["path"]
            else:
                assert "img" not in data
        for index, path in files.items():
            pixels = media.read_image(run_dir, {"_type": "image-file", "path": path})
            assert np.array_equal(pixels, pool[index]), f"trial {trial}: image {path} differs"
        shutil.rmtree(run_dir)
    # Most kills come after the first LAG seconds of logging: the lag bound was exercised.
    assert lags_checked > 0


def test_durable_step_follows_the_writes(root: Path) -> None:
    # The writer only cycles when asked: what has been written is deterministic.
    run = tracker.init(project="durable", id="d", settings={"flush_interval": 60})
    assert run._durable_step() == -1
    for i in range(300):
        run.log(
            {"i": i, "img": tracker.Image(np.full((8, 8), i % 256, np.uint8))} if i % 4 == 0 else {"i": i}
        )
    assert run._durable_step() == -1  # queued, not written
    assert run._writer is not None
    assert run._writer.flush(30)
    assert run._durable_step() == 299
    assert run._writer.durable_rows == 300
    run.finish()
    resumed = tracker.init(project="durable", id="d", resume="must", settings={"flush_interval": 60})
    assert resumed._durable_step() == 299  # the rows of the earlier session are on disk
    resumed.log({"i": 300})
    resumed.finish()
    assert resumed._durable_step() == 300


def test_the_media_bound_follows_the_measured_pace() -> None:
    budget = Budget(256 << 20)
    assert budget.bound == FIRST_BOUND
    # 10 MB encoded in 1 s, in ten back-to-back encodes: the bound is BACKLOG_SECONDS of that.
    t = 100.0
    for _ in range(10):
        budget.learn(1_000_000, t, t + 0.1)
        t += 0.1
    assert budget.bound == pytest.approx(10_000_000 * BACKLOG_SECONDS, abs=1)
    # Idle time between two encodes is not encoding time.
    budget.learn(1_000_000, t + 5.0, t + 5.1)
    assert budget.bound == pytest.approx(10_000_000 * BACKLOG_SECONDS, abs=1)
    # Never below the floor, never above queue_max_bytes.
    budget.learn(1, t + 10.0, t + 1000.0)
    assert budget.bound == MIN_BOUND
    small = Budget(1_000_000)
    small.learn(10**9, 0.0, 0.001)
    assert small.bound == 1_000_000
