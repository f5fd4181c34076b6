"""A run's files as ``Api`` lists them (W&B's ``run.files()``): standard files, media, saved files.

W&B lists five standard files for every run; tracker keeps what they hold in the run log,
so they are written on download from what the index and the log say:

- ``config.yaml``: the config in W&B's layout (``key: {desc: null, value: ...}``; each
  value in JSON, which YAML reads);
- ``wandb-summary.json``: the summary (user write-back included);
- ``wandb-metadata.json``: the run capture (program, argv, git, Python, host, packages);
- ``requirements.txt``: ``name==version`` of the packages the run had imported;
- ``output.log``: the console output the run captured (stdout and stderr, in order).

Then every media file under ``media/`` and every file saved with ``run.save()`` (under its
saved name). Each is a :class:`File` with ``name``, ``size`` and ``download(root)``.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote

from tracker.errors import UsageError

if TYPE_CHECKING:
    from tracker.api._run import Run

__all__ = ["File", "RemoteFile"]

STANDARD: Final = (
    "config.yaml",
    "output.log",
    "requirements.txt",
    "wandb-metadata.json",
    "wandb-summary.json",
)


class File:
    """One file of a run (W&B's ``run.files()`` items).

    Attributes:
        name: The file's name: a standard file's, ``media/<kind>/<file>``, or the path a
            file was saved under with ``run.save()``.
        size: Bytes.
        sha256: Content digest of a saved or media file, else None.
    """

    def __init__(
        self, name: str, size: int | None = None, source: Path | None = None, *,
        sha256: str | None = None, content: Callable[[], bytes] | None = None,
    ) -> None:  # fmt: skip
        self.name = name
        self.sha256 = sha256
        self._source = source
        self._content = content
        self._size = size

    @property
    def size(self) -> int:
        """Bytes (a standard file is written to count them)."""
        if self._size is None:
            self._size = len(self._bytes()) if self._content is not None else 0
        return self._size

    @property
    def path(self) -> Path:
        """Where a saved or media file lives on disk.

        Raises:
            UsageError: A standard file, which exists only when downloaded.
        """
        if self._source is None:
            raise UsageError(f"{self.name} is written from the run log on download(); it has no path.")
        return self._source

    def _bytes(self) -> bytes:
        assert self._content is not None
        return self._content()

    @property
    def local(self) -> Path | None:
        """The file on this machine's disk (a saved or media file of a local run), else None."""
        return self._source

    def content(self) -> bytes:
        """The file's bytes."""
        return self._bytes() if self._content is not None else self.path.read_bytes()

    def download(self, root: str = ".", replace: bool = False, exist_ok: bool = False) -> Path:
        """Write the file to ``root/<name>``; refuses to overwrite unless ``replace``.

        Raises:
            UsageError: The target exists and neither ``replace`` nor ``exist_ok`` is set.
        """
        target = Path(root) / self.name
        if target.exists() and not replace:
            if exist_ok:
                return target
            raise UsageError(f"{target} exists; pass replace=True to overwrite it.")
        target.parent.mkdir(parents=True, exist_ok=True)
        if self._content is not None:
            target.write_bytes(self._bytes())
        else:
            shutil.copyfile(self.path, target)
        return target


class RemoteFile(File):
    """A file of a run read from a team server; ``download`` streams it from there."""

    def __init__(self, remote: Any, run_path: str, name: str, size: int, sha256: str | None) -> None:
        super().__init__(name, size, sha256=sha256)
        self._remote = remote
        self._url = f"{run_path}/files/{quote(name)}"

    def content(self) -> bytes:
        """The file's bytes, from the server."""
        with self._remote.stream(self._url) as chunks:
            return b"".join(chunks)

    def download(self, root: str = ".", replace: bool = False, exist_ok: bool = False) -> Path:
        """Stream the file to ``root/<name>`` (see :meth:`File.download`)."""
        target = Path(root) / self.name
        if target.exists() and not replace:
            if exist_ok:
                return target
            raise UsageError(f"{target} exists; pass replace=True to overwrite it.")
        target.parent.mkdir(parents=True, exist_ok=True)
        part = target.with_name(target.name + ".part")
        with self._remote.stream(self._url) as chunks, open(part, "wb") as out:
            for chunk in chunks:
                out.write(chunk)
        part.replace(target)
        return target

    def __repr__(self) -> str:
        return f"<File {self.name}>"


def remote_files(run: Run) -> list[File]:
    """The files of a run read from a team server (``GET .../files``)."""
    remote = run._api._remote
    assert remote is not None
    path = f"/projects/{quote(run.project)}/runs/{quote(run.id)}"
    listed = remote.call("GET", f"{path}/files", run_id=run.id)["files"]
    return [RemoteFile(remote, path, str(f["name"]), int(f["size"]), f.get("sha256")) for f in listed]


def run_files(run: Run) -> list[File]:
    """The standard files, the media files and the saved files of a local ``Api`` run."""
    from tracker.media._read import resolve, run_files

    run_dir = run.dir
    out = [File(name, content=_standard(run, name)) for name in STANDARD]
    media = run_dir / "media"
    if media.is_dir():
        for path in sorted(p for p in media.rglob("*") if p.is_file() and not p.name.startswith(".")):
            out.append(File(path.relative_to(run_dir).as_posix(), path.stat().st_size, path))
    for info in run_files(run_dir).values():
        name = str(info["path"])
        source = resolve(run_dir, {"path": f"files/{name}"})
        out.append(File(name, int(info.get("size") or 0), source, sha256=info.get("sha256")))
    return out


def _standard(run: Run, name: str) -> Callable[[], bytes]:
    def make() -> bytes:
        if name == "config.yaml":
            return _config_yaml(run.config).encode("utf-8")
        if name == "wandb-summary.json":
            return _json(dict(run.summary))
        if name == "wandb-metadata.json":
            return _json(run.metadata)
        if name == "requirements.txt":
            packages = run.metadata.get("packages") or {}
            return "".join(f"{k}=={v}\n" for k, v in sorted(packages.items())).encode("utf-8")
        return _console(run).encode("utf-8")

    return make


def _json(value: Any) -> bytes:
    return json.dumps(value, indent=2, sort_keys=True, default=str, allow_nan=True).encode("utf-8")


def _config_yaml(config: dict[str, Any]) -> str:
    lines = ["wandb_version: 1", ""]
    for key, value in config.items():
        lines += [f"{json.dumps(str(key))}:", "  desc: null", f"  value: {json.dumps(value, default=str)}"]
    return "\n".join(lines) + "\n"


def _console(run: Run) -> str:
    from tracker._naming import LOG_NAME
    from tracker.storage._format import read_frames
    from tracker.storage._replay import RunState

    state = RunState(keep_rows=False)
    state.feed(read_frames(run.dir / LOG_NAME).records)
    return "".join(line[2] if str(line[2]).endswith("\n") else f"{line[2]}\n" for line in state.console)
