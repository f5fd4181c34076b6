"""The media protocol: what the caller snapshots and what the writer encodes.

Lifecycle of a logged media object (``tracker.Image`` and friends):

1. **Construction, in the caller.** Cheap validation (rank, dtype, value range, class
   indices: errors are :class:`~tracker.errors.UsageError` raised right there) and a
   snapshot of the data (a numpy copy, a torch clone on the tensor's own device, the
   bytes of a file). After this the object never changes.
2. **log(), in the caller.** ``tracker._values.log_value`` calls ``_tracker_snapshot()``,
   which wraps the object in a :class:`Pending` (one per logged occurrence). The run
   counts its bytes against the queue's byte bound.
3. **Encoding, in the writer thread.** The writer's msgpack ``default`` hook calls
   ``Pending._tracker_encode(store)``; the media object encodes itself (PNG, WAV, MP4,
   JSON), the :class:`~tracker.media._store.MediaStore` writes the file under the run
   directory (content-addressed), and a plain reference dict goes into the record.

The reference is cached on the media object, so logging the same object again (a table
re-logged every epoch, the summary) does not encode it again.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any, ClassVar

from tracker.errors import UsageError

if TYPE_CHECKING:
    from tracker.media._store import Budget, MediaStore

__all__: list[str] = []


class Media:
    """Base class of the logged data types that are stored as files.

    Subclasses set ``_kind`` (the folder under ``media/``) and implement ``_encode``
    (writer thread) and ``_nbytes`` (the snapshot's size, for the queue's byte bound).
    """

    _kind: ClassVar[str] = "media"
    _ref: dict[str, Any] | None = None

    def _nbytes(self) -> int:
        return 0

    def _encode(self, store: MediaStore) -> dict[str, Any]:
        raise NotImplementedError

    def _tracker_snapshot(self) -> Pending:
        # The object is already a snapshot (taken at construction); each logged
        # occurrence gets its own wrapper so its bytes are counted exactly once.
        return Pending(self, self._nbytes())

    def _tracker_ref(self, store: MediaStore) -> dict[str, Any]:
        """The reference dict, encoding at most once per run directory (writer thread)."""
        ref = self._ref
        if ref is not None and all(store.has(p) for p in _paths(ref)):
            return ref
        ref = self._encode(store)
        self._ref = ref
        return ref


def _paths(ref: dict[str, Any]) -> list[Any]:
    """The files a reference names: its own and its masks'."""
    masks = ref.get("masks") or {}
    return [ref.get("path"), *(m.get("path") for m in masks.values())]


class Pending:
    """One logged occurrence of a media object, queued for the writer.

    The writer's msgpack hook calls :meth:`_tracker_encode`; the result is cached, so the
    summary (which keeps the last value of each key) does not encode it again.
    """

    __slots__ = ("budget", "counted", "media", "ref")

    def __init__(self, media: Any, nbytes: int) -> None:
        self.media = media
        self.counted = nbytes
        self.budget: Budget | None = None
        self.ref: Any = None

    def _tracker_encode(self, store: MediaStore) -> Any:
        ref = self.ref
        if ref is None:
            began = time.perf_counter()
            ref = store.encode(self.media)
            self.ref = ref
            if self.budget is not None:
                # How fast the writer gets through media: the queue's bound follows it.
                self.budget.learn(self.counted, began, time.perf_counter())
            self._release()
        return ref

    def _release(self) -> None:
        budget = self.budget
        if budget is not None:
            self.budget = None
            budget.release(self.counted)

    def __del__(self) -> None:
        # A queued occurrence that is never encoded (a commit=False value overwritten
        # before the commit) must not keep its bytes counted forever.
        if self.budget is not None:
            self._release()

    def __repr__(self) -> str:
        return f"<pending {type(self.media).__name__}>"


def check_caption(caption: Any, what: str) -> str | None:
    """Validate an optional caption."""
    if caption is None:
        return None
    if not isinstance(caption, str):
        raise UsageError(f"{what}(caption=...) must be a string, not {type(caption).__name__}.")
    return caption


def is_path(value: Any) -> bool:
    """True for ``str`` and ``os.PathLike`` values (candidate file paths)."""
    return isinstance(value, (str, os.PathLike))


def read_file(path: Any, what: str, suffixes: tuple[str, ...] | None = None) -> tuple[bytes, str]:
    """Read a file the user passed, now (the file may change after log()).

    Returns:
        ``(data, extension)`` with the extension lower-case and without the dot.

    Raises:
        UsageError: The file does not exist, cannot be read, or has an unsupported suffix.
    """
    p = os.fspath(path)
    ext = os.path.splitext(p)[1].lower().lstrip(".")
    if suffixes is not None and ext not in suffixes:
        raise UsageError(
            f"{what}({p!r}): unsupported file type {ext or '(none)'!r}; use one of {list(suffixes)}."
        )
    try:
        with open(p, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise UsageError(f"{what}({p!r}): no such file.") from None
    except OSError as exc:
        raise UsageError(f"{what}({p!r}): cannot read the file: {exc.strerror or exc}.") from None
    return data, ext


def require_module(module: str, feature: str) -> None:
    """Raise MissingExtraError naming ``pip install <module>`` (for what no tracker extra ships)."""
    import importlib.util

    from tracker.errors import MissingExtraError

    if importlib.util.find_spec(module) is None:
        raise MissingExtraError(
            f"{feature} needs {module}, which is not installed. Install it with: pip install {module}"
        ) from None


def torch_tensor(value: Any) -> bool:
    """True for torch tensors (checked by module name: torch is never imported here)."""
    return type(value).__module__.startswith("torch") and hasattr(value, "detach")


def snapshot_tensor(value: Any) -> Any:
    """Snapshot a torch tensor without a device sync.

    CPU tensors become numpy copies now; device tensors are cloned on their device (an
    asynchronous kernel) and converted in the writer thread.
    """
    t = value.detach()
    if t.device.type == "cpu":
        return t.numpy().copy() if _numpy_dtype_ok(t) else t.float().numpy()
    return t.clone()


def _numpy_dtype_ok(t: Any) -> bool:
    # bfloat16 and a few others have no numpy dtype.
    return str(t.dtype) not in ("torch.bfloat16", "torch.complex32")


def to_numpy(value: Any) -> Any:
    """A snapshot from :func:`snapshot_tensor` (or a numpy array) as a numpy array (writer)."""
    if torch_tensor(value):
        t = value
        if not _numpy_dtype_ok(t):
            t = t.float()
        return t.cpu().numpy()
    return value
