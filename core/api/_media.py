"""Media and saved files of an ``Api`` run: entries per key, decoded values, ``files()``."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tracker._naming import run_dir_for
from tracker.errors import UsageError

if TYPE_CHECKING:
    from tracker.media._read import MediaEntry

__all__ = ["File", "RunMediaMixin"]


class File:
    """A file saved into a run with ``run.save()`` (W&B's ``run.files()`` items).

    Attributes:
        name: Path inside the run's ``files/`` folder.
        size: Bytes.
        sha256: Content digest.
    """

    def __init__(self, run_dir: Path, info: dict[str, Any]) -> None:
        self._run_dir = run_dir
        self.name: str = str(info["path"])
        self.size: int = int(info.get("size") or 0)
        self.sha256: str | None = info.get("sha256")
        self._info = info

    @property
    def path(self) -> Path:
        """Where the saved copy lives on disk."""
        from tracker.media._read import resolve

        return resolve(self._run_dir, {"path": f"files/{self.name}"})

    def download(self, root: str = ".", replace: bool = False) -> Path:
        """Copy the file to ``root/<name>``; refuses to overwrite unless ``replace``.

        Raises:
            UsageError: The target exists and ``replace`` is False.
        """
        target = Path(root) / self.name
        if target.exists() and not replace:
            raise UsageError(f"{target} exists; pass replace=True to overwrite it.")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.path, target)
        return target

    def __repr__(self) -> str:
        return f"<File {self.name} ({self.size} bytes)>"


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
            Charts: ``(description, table)``. Html: the HTML text.

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
        }
        if kind not in loaders:
            raise UsageError(f"load() needs a media reference from history or summary, not {value!r:.80}.")
        return loaders[kind]()

    def files(self) -> list[File]:
        """Files saved with ``run.save()`` (the latest copy of each path)."""
        from tracker.media._read import run_files

        return [File(self.dir, info) for info in run_files(self.dir).values()]

    def file(self, name: str) -> File:
        """One saved file by name.

        Raises:
            UsageError: The run saved no file of that name.
        """
        for f in self.files():
            if f.name == name:
                return f
        raise UsageError(f"run {self.project}/{self.id} saved no file named {name!r}.")
