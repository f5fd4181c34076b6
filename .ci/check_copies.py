"""Copy detection over the package's source: fail when a copied block appears (CI, ``.ci/run``).

Runs pylint's ``duplicate-code`` check (R0801; pinned in the ``lint`` dependency group, so
the count does not move with pylint's version) over ``core``, ``integrations`` and
``system_metrics`` with a six-line minimum, ignoring comments, docstrings, imports and
signatures (pylint's defaults). Each finding is one block of six or more lines that stands
in two or more places. The script prints them and fails when there are more than
:data:`BASELINE`, the count recorded after issue 15 removed the copies where the logic was
the same; what is left is listed in :data:`BASELINE`'s comment.

When a change removes a copy, the script says so: lower :data:`BASELINE` in the same change,
so the ratchet only turns one way. When it adds one, factor the shared lines out (or, where
two places only look alike, say why in the change and raise the number).

Usage: ``python .ci/check_copies.py`` from any directory (exit 0: at or under the baseline).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PATHS = ("core", "integrations", "system_metrics")
MIN_LINES = 6

#: Blocks of MIN_LINES+ similar lines pylint finds at the recorded baseline (15 before issue
#: 15; measured after its refactors). What remains: ``tracker.media.__all__`` repeats the
#: names it re-exports from ``media/_read.py`` (a facade's list, not logic), and the
#: ``os.kill(pid, 0)`` liveness probe of ``_ui_link._alive`` and ``storage/_liveness.py``.
BASELINE = 2

_PYLINT = [
    "--disable=all",
    "--enable=duplicate-code",
    f"--min-similarity-lines={MIN_LINES}",
    "--jobs=1",
    "--score=n",
    "--persistent=n",
]
_PLACE = re.compile(r"^==(?P<module>[\w.]+):\[(?P<start>\d+):(?P<end>\d+)\]$")
_FATAL = 1 | 32  # pylint's exit bits for a fatal message and a usage error


def find_copies() -> list[list[str]]:
    """Run pylint; each copied block as its places (``module:[start:end]``)."""
    proc = subprocess.run(
        [sys.executable, "-m", "pylint", *_PYLINT, *PATHS],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode & _FATAL:
        raise SystemExit(f"pylint failed (exit {proc.returncode}):\n{proc.stdout}{proc.stderr}")
    blocks: list[list[str]] = []
    for line in proc.stdout.splitlines():
        if "R0801" in line:
            blocks.append([])
        elif blocks and _PLACE.match(line.strip()):
            blocks[-1].append(line.strip()[2:])
    return blocks


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")


def main() -> int:
    """Print the copied blocks; 1 when there are more than :data:`BASELINE`."""
    blocks = find_copies()
    for places in blocks:
        _say("copied: " + "  ~  ".join(places))
    count = len(blocks)
    _say(f"{count} copied block(s) of {MIN_LINES}+ lines in {', '.join(PATHS)}; baseline {BASELINE}")
    if count > BASELINE:
        _say(
            f"FAIL: {count - BASELINE} new copied block(s). Share the code instead of copying it "
            "(or, if the places only look alike, raise BASELINE in .ci/check_copies.py and say why)."
        )
        return 1
    if count < BASELINE:
        _say(f"Fewer copies than recorded: lower BASELINE in .ci/check_copies.py to {count}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
