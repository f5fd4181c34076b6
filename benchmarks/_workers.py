"""Helpers the benchmark scripts share: a fresh worker process, the `tracker` command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path


def spawn_worker(script: str, args: list[str], prefix: str) -> dict[str, object]:
    """Run ``script worker ARGS --store <tmp>/store --out <tmp>/result.json`` in a fresh process.

    The worker gets a clean environment (no ``TRACKER_*``, ``HOME`` in the temporary folder)
    and writes its figures as JSON; return them.
    """
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        out = os.path.join(tmp, "result.json")
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}
        env["HOME"] = tmp
        proc = subprocess.run(
            [sys.executable, os.path.abspath(script), "worker", *args,
             "--store", os.path.join(tmp, "store"), "--out", out],
            cwd=tmp, env=env, capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
        if proc.returncode != 0:
            raise RuntimeError(f"worker failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        with open(out) as f:
            result: dict[str, object] = json.load(f)
        return result


def tracker_cli(*args: str, root: Path, stdin: str | None = None) -> str:
    """Run ``tracker ARGS --root ROOT``; its stdout, or exit naming the failed command."""
    out = subprocess.run(
        [sys.executable, "-m", "tracker.cli", *args, "--root", str(root)],
        input=stdin, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    if out.returncode:
        raise SystemExit(f"tracker {' '.join(args)} failed: {out.stderr.strip()}")
    return out.stdout.strip()
