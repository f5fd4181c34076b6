"""``python -m tracker.cli``: the ``tracker`` command."""

from __future__ import annotations

from tracker.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
