"""Media and saved files of an ``Api`` run: entries per key, decoded values, ``files()``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from tracker._naming import run_dir_for
from tracker.errors import UsageError

if TYPE_CHECKING:
    from tracker.api._files import File
    from tracker.api._run import Run
    from tracker.media._read import MediaEntry

__all__ = ["RunMediaMixin"]


class RunMediaMixin:
    """Adds ``media()``, ``load()``, ``files()`` and ``file()`` to ``Api`` runs."""

    project: str
    id: str
    _api: Any

    @property
    def dir(self) -> Path:
        """The run's directory under the data root."""
        return run_dir_for(Path(self._api.root), self.project, self.id)

    def media(self, keys: list[str] | None = None) -> dict[str, list[MediaEntry]]:
        """Media logged by the run, per key, in log order (each entry has ``step`` and ``value``)."""
        from tracker.media._read import media_entries

        return media_entries(self.dir, keys=keys)

    def load(self, ref: Any) -> Any:
        """Decode one media reference (a history or summary value, or a ``MediaEntry``).

        Returns:
            Images: an ``H x W x C`` uint8 array. Audio: ``(samples, sample_rate)``. Video:
            ``T x H x W x 3`` frames. Tables: a DataFrame. Histograms: ``(counts, edges)``.
            Charts: ``(description, table)``. Html: the HTML text. Object3D and
            Molecule: the file's path. Plotly: the figure dict.

        Raises:
            UsageError: ``ref`` is not a media reference.
        """
        from tracker.media import _read

        value = getattr(ref, "value", ref)
        if isinstance(value, list):
            return [self.load(v) for v in value]
        kind = value.get("_type") if isinstance(value, dict) else None
        loaders: dict[str, Callable[[], Any]] = {
            "image-file": lambda: _read.read_image(self.dir, value),
            "audio-file": lambda: _read.read_audio(self.dir, value),
            "video-file": lambda: _read.read_video(self.dir, value),
            "table-file": lambda: _read.read_table(self.dir, value),
            "html-file": lambda: _read.read_html(self.dir, value),
            "histogram": lambda: _read.read_histogram(value),
            "chart": lambda: _read.read_chart(self.dir, value),
            "object3D-file": lambda: str(_read.resolve(self.dir, value)),
            "molecule-file": lambda: str(_read.resolve(self.dir, value)),
            "plotly-file": lambda: json.loads(_read.resolve(self.dir, value).read_text(encoding="utf-8")),
        }
        if kind not in loaders:
            raise UsageError(f"load() needs a media reference from history or summary, not {value!r:.80}.")
        return loaders[kind]()

    def files(self, names: list[str] | None = None, per_page: int = 50) -> list[File]:
        """The run's files, as W&B lists them: the standard files (``config.yaml``,
        ``wandb-summary.json``, ``wandb-metadata.json``, ``requirements.txt``,
        ``output.log``), every media file, and the files saved with ``run.save()``.

        Args:
            names: Only these names.
            per_page: Accepted for W&B compatibility.

        A run read from a team server lists the server's files; ``download`` streams them.
        """
        from tracker.api._files import remote_files, run_files

        found = (remote_files if self._api._remote is not None else run_files)(cast("Run", self))
        return found if names is None else [f for f in found if f.name in set(names)]

    def file(self, name: str) -> File:
        """One file by name (see :meth:`files`).

        Raises:
            UsageError: The run has no file of that name.
        """
        for f in self.files():
            if f.name == name:
                return f
        raise UsageError(f"run {self.project}/{self.id} has no file named {name!r}.")
