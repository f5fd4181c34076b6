"""Generate the format v1 golden run log, ``tests/compat/v1/run.tlog`` (kept for reference).

Run once, when format v1 was released; the committed file is the reference, not this
script. Never regenerate it to make a failing compat test pass: a reader that cannot
read it any more has broken compatibility.

The records mirror what the v1 writer (``tracker._writer``) and ``tracker.init`` write,
with fixed timestamps, pids and hosts so that the file is deterministic. Two sessions:
the first logs steps 0-9 and is preempted; the second resumes with
``resume_from="golden?_step=6"`` (rewind 6), changes the config and logs steps 7-11.

Usage: ``python tests/compat/make_golden.py [OUT]``
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import msgpack

from tracker.storage._format import R, file_header, frame

T0 = 1_700_000_000.0
NAN = float("nan")
INF = float("inf")


def capture(pid: int, host: str, argv: list[str]) -> dict[str, Any]:
    """A META record body shaped like ``tracker._capture.capture()``."""
    return {
        "program": argv[0],
        "argv": argv,
        "cwd": "/work/golden",
        "executable": "/usr/bin/python3",
        "python": "3.11.9",
        "implementation": "CPython",
        "os": "Linux-6.1.0-x86_64-with-glibc2.36",
        "host": host,
        "pid": pid,
        "cpu_count": 8,
        "env": {"TRACKER_PROJECT": "compat", "CUDA_VISIBLE_DEVICES": "0"},
        "packages": {"numpy": "1.26.4", "tracker": "0.1.0"},
        "git": {
            "root": "/work/golden",
            "branch": "main",
            "commit": "0123456789abcdef0123456789abcdef01234567",
            "remote": "https://example.com/golden.git",
            "dirty": True,
            "diff": "--- a/train.py\n+++ b/train.py\n@@ -1 +1 @@\n-lr = 0.01\n+lr = 0.001\n",
            "diff_truncated": False,
        },
    }


def records() -> list[list[Any]]:
    """Every record of the golden log, in order."""
    loss = [1.0, 0.8, 0.6, 0.5, 0.45, 0.4, 0.35, NAN, 0.3, 0.28]
    acc = [0.1, 0.2, 0.3, 0.4, 0.5, 0.55, 0.6, 0.61, 0.65, 0.7]
    basic = ["loss", "acc"]
    val = ["loss", "acc", "epoch", "val/loss"]
    extra = ["loss", "acc", "grad_norm", "note", "flag", "hist", "none"]
    return [
        # ---- session 1: tracker.init(project="compat", id="golden", ...)
        [
            R.RUN,
            {
                "id": "golden",
                "project": "compat",
                "entity": "team",
                "name": "golden-run",
                "group": "grp",
                "job_type": "train",
                "tags": ["baseline", "v1"],
                "notes": "format v1 golden log",
                "created": T0,
                "pid": 4242,
                "host": "golden-host",
                "start_time": 123456,
                "mode": "offline",
                "format_version": 1,
                "tracker_version": "0.1.0",
                "sweep_id": None,
            },
        ],
        [R.META, capture(4242, "golden-host", ["train.py", "--lr", "0.001", "--api-key=***REDACTED***"])],
        [
            R.CONFIG,
            {"lr": 0.001, "batch_size": 32, "model": {"layers": [64, 32], "act": "relu"}, "opt": "adam"},
            [],
        ],
        [R.DEFINE_METRIC, {"name": "loss", "summary": ["min", "last"], "goal": "minimize"}],
        [R.DEFINE_METRIC, {"name": "val/*", "step_metric": "epoch", "step_sync": True}],
        [
            R.HISTORY,
            [basic, val],
            [
                *[[0, s, T0 + 1 + s, loss[s], acc[s]] for s in range(4)],
                [1, 4, T0 + 5, loss[4], acc[4], 0, 0.7],
            ],
        ],
        [
            R.ALERT,
            {"title": "loss plateau", "text": "loss < 0.5", "level": "WARN", "ts": T0 + 5.5, "step": 5},
        ],
        [R.CONSOLE, [[T0 + 5.6, 0, "epoch 0 done"], [T0 + 5.7, 1, "warning: lr is high"]]],
        [
            R.SUMMARY,
            {
                "loss": {"min": 0.45, "last": 0.45},
                "acc": 0.5,
                "epoch": 0,
                "val/loss": 0.7,
                "_step": 4,
                "_timestamp": T0 + 5,
                "_runtime": 5.0,
            },
        ],
        [R.HEARTBEAT, T0 + 20.0],
        [
            R.HISTORY,
            [basic, extra, val],
            [
                [0, 5, T0 + 21, loss[5], acc[5]],
                [0, 6, T0 + 22, loss[6], acc[6]],
                [1, 7, T0 + 23, loss[7], acc[7], INF, "spike", True, [1, 2, 3], None],
                [0, 8, T0 + 24, loss[8], acc[8]],
                [2, 9, T0 + 25, loss[9], acc[9], 1, 0.5],
            ],
        ],
        [
            R.SUMMARY,
            {
                "loss": {"min": 0.28, "last": 0.28},
                "acc": 0.7,
                "epoch": 1,
                "val/loss": 0.5,
                "grad_norm": INF,
                "note": "spike",
                "flag": True,
                "hist": [1, 2, 3],
                "none": None,
                "_step": 9,
                "_timestamp": T0 + 25,
                "_runtime": 25.0,
            },
        ],
        [R.EXIT, {"state": "preempted", "exit_code": 143, "ts": T0 + 30.0, "runtime": 30.0}],
        # ---- session 2: tracker.init(project="compat", resume_from="golden?_step=6")
        [
            R.RESUME,
            {
                "ts": T0 + 100.0,
                "pid": 5353,
                "host": "golden-host-2",
                "start_time": 654321,
                "rewind": 6,
                "mode": "offline",
                "step": 7,
                "name": None,
                "tags": None,
                "notes": None,
            },
        ],
        [R.META, capture(5353, "golden-host-2", ["train.py", "--resume"])],
        [R.CONFIG, {"lr": 0.0005}, []],
        [R.CONFIG, {}, ["opt"]],
        [
            R.HISTORY,
            [basic, val],
            [
                [0, 7, T0 + 101, 0.25, 0.72],
                [0, 8, T0 + 102, 0.24, 0.74],
                [0, 9, T0 + 103, 0.22, 0.76],
                [0, 10, T0 + 104, 0.2, 0.78],
                [1, 11, T0 + 105, 0.19, 0.81, 2, 0.4],
            ],
        ],
        [
            R.SUMMARY,
            {
                "loss": {"min": 0.19, "last": 0.19},
                "acc": 0.81,
                "epoch": 2,
                "val/loss": 0.4,
                "_step": 11,
                "_timestamp": T0 + 105,
                "_runtime": 5.0,
            },
        ],
        [R.EXIT, {"state": "finished", "exit_code": 0, "ts": T0 + 130.0, "runtime": 30.0}],
    ]


def build() -> bytes:
    """The golden log's bytes: the v1 header, then one frame per record."""
    # As the writer packs: msgpack with bin for bytes, str for text, float64 floats.
    packer = msgpack.Packer(use_bin_type=True, autoreset=True)
    return file_header(1) + b"".join(frame(packer.pack(rec)) for rec in records())


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else Path(__file__).parent / "v1" / "run.tlog"
    out.parent.mkdir(parents=True, exist_ok=True)
    data = build()
    out.write_bytes(data)
    print(f"wrote {out} ({len(data)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
