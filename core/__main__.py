"""``python -m tracker``: the ``tracker`` command (as ``python -m wandb`` is ``wandb``)."""

from __future__ import annotations

from tracker.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
