"""The package version (read by setuptools' dynamic metadata)."""

from __future__ import annotations

__version__ = "0.1.0"
