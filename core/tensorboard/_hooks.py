"""Patching TensorBoard writers, lazily: a module is patched when it is imported, never before.

Three writers, each at the point every summary passes through in the user's thread:

- ``torch.utils.tensorboard`` writes through tensorboard's
  ``tensorboard.summary.writer.event_file_writer.EventFileWriter.add_event``;
- tensorboardX through ``tensorboardX.event_file_writer.EventFileWriter.add_event``;
- ``tf.summary`` (TF 2) through ``tf.summary.write``, which every summary op calls with
  the tag, the tensor, the step and the plugin's metadata; the log directory comes from
  ``tf.summary.create_file_writer``. Summaries written inside a ``tf.function`` are graph
  tensors without values and are not mirrored.

A module already imported is patched at once; one imported later is patched when its
import finishes (an import hook on ``sys.meta_path`` that only wraps those modules'
loaders), so that ``import tracker`` and ``patch()`` import none of torch, TensorFlow or
tensorboardX. :func:`unpatch` puts every original back.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
import threading
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any, Final

from tracker.tensorboard._convert import from_array, from_proto, tag_of
from tracker.tensorboard._mirror import Mirror

__all__: list[str] = []

_TB_WRITER: Final = "tensorboard.summary.writer.event_file_writer"
_TBX_WRITER: Final = "tensorboardX.event_file_writer"
_TF: Final = "tensorflow"
_LOGDIR_ATTR: Final = "_tracker_logdir"

_lock = threading.Lock()
_saved: list[tuple[Any, str, Any]] = []  # (owner, attribute, original)
_finder: _PostImport | None = None
mirror: Mirror | None = None


def install(root_logdir: str | None, targets: Sequence[str]) -> bool:
    """Patch ``targets`` now or when imported; False when already patched."""
    global _finder, mirror
    with _lock:
        if mirror is not None:
            return False
        mirror = Mirror(root_logdir)
        patchers = {name: _PATCHERS[name] for name in targets}
        later = {}
        for name, patcher in patchers.items():
            module = sys.modules.get(name)
            if module is not None:
                patcher(module)
            else:
                later[name] = patcher
        if later:
            _finder = _PostImport(later)
            sys.meta_path.insert(0, _finder)
        return True


def uninstall() -> None:
    """Put every patched attribute back and remove the import hook."""
    global _finder, mirror
    with _lock:
        if _finder is not None and _finder in sys.meta_path:
            sys.meta_path.remove(_finder)
        _finder = None
        while _saved:
            owner, attr, original = _saved.pop()
            setattr(owner, attr, original)
        mirror = None


def sync_run(run: Any) -> None:
    """``init(sync_tensorboard=True)``: patch every writer for ``run``; unpatch when it finishes."""
    if install(None, [*TORCH, *TENSORBOARD_X, *TENSORFLOW]):
        run.on_finish(uninstall)


def _swap(owner: Any, attr: str, make: Callable[[Any], Any]) -> None:
    original = getattr(owner, attr)
    _saved.append((owner, attr, original))
    setattr(owner, attr, make(original))


def _mirror_safely(send: Callable[[Mirror], None]) -> None:
    """Mirror one summary; a failure never stops TensorBoard's own writing.

    It is reported as the run's problem (a ``TrackerWarning`` at the next ``log``, an
    error in strict mode), as a media object that cannot be stored is.
    """
    current = mirror
    if current is None:
        return
    try:
        send(current)
    except Exception as exc:  # noqa: BLE001 - TensorBoard logging must go on; reported to the run
        from tracker import _process

        run = _process.current()
        if run is not None:
            run.problem(
                f"tensorboard:{type(exc).__name__}",
                f"a TensorBoard summary could not be mirrored into the run ({type(exc).__name__}: "
                f"{exc}); TensorBoard's own files are unaffected",
            )


# ------------------------------------------------------------------ torch and tensorboardX
def _patch_event_writer(module: ModuleType) -> None:
    def make(add_event: Callable[..., Any]) -> Callable[..., Any]:
        def add_event_mirrored(self: Any, event: Any) -> Any:
            result = add_event(self, event)
            if event.HasField("summary"):
                _mirror_safely(lambda m: m.emit(self.get_logdir(), event.step, _event_values(event)))
            return result

        return add_event_mirrored

    _swap(module.EventFileWriter, "add_event", make)


def _event_values(event: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for value in event.summary.value:
        plugin = value.metadata.plugin_data.plugin_name if value.HasField("metadata") else ""
        converted = from_proto(value)
        if converted is not None:
            out[tag_of(value.tag, plugin)] = converted
    return out


# ------------------------------------------------------------------ tf.summary
def _patch_tensorflow(_tf: ModuleType) -> None:
    from tensorflow.python.ops import summary_ops_v2

    def make_write(write: Callable[..., Any]) -> Callable[..., Any]:
        def write_mirrored(
            tag: Any, tensor: Any, step: Any = None, metadata: Any = None, name: Any = None
        ) -> Any:
            result = write(tag, tensor, step=step, metadata=metadata, name=name)
            _mirror_safely(lambda m: _tf_summary(m, result, tag, tensor, step, metadata))
            return result

        return write_mirrored

    def make_create(create: Callable[..., Any]) -> Callable[..., Any]:
        def create_mirrored(logdir: Any, *args: Any, **kwargs: Any) -> Any:
            writer = create(logdir, *args, **kwargs)
            try:
                setattr(writer, _LOGDIR_ATTR, logdir.numpy().decode() if hasattr(logdir, "numpy") else logdir)
            except AttributeError:  # a writer type that takes no attributes: keys get no prefix
                pass
            return writer

        return create_mirrored

    # tf.summary, tf.compat.v2.summary and summary_ops_v2 each hold the functions.
    write, create = summary_ops_v2.write, summary_ops_v2.create_file_writer_v2
    for name, module in list(sys.modules.items()):
        if module is not None and name.startswith("tensorflow"):
            for attr in ("write", "create_file_writer", "create_file_writer_v2"):
                found = getattr(module, attr, None)
                if found is write:
                    _swap(module, attr, make_write)
                elif found is create:
                    _swap(module, attr, make_create)


def _tf_summary(m: Mirror, result: Any, tag: Any, tensor: Any, step: Any, metadata: Any) -> None:
    import numpy as np
    import tensorflow as tf
    from tensorflow.python.ops import summary_ops_v2

    if not tf.executing_eagerly() or not bool(result):  # in a tf.function, or nothing recorded
        return
    if step is None:
        step = summary_ops_v2.get_step()
    value = tensor() if callable(tensor) else tensor
    if isinstance(metadata, bytes):
        from tensorboard.compat.proto.summary_pb2 import SummaryMetadata

        metadata = SummaryMetadata.FromString(metadata)
    plugin = metadata.plugin_data.plugin_name if metadata is not None else ""
    converted = from_array(plugin, np.asarray(tf.convert_to_tensor(value).numpy()))
    if converted is not None:
        writer = summary_ops_v2._summary_state.writer
        name = tag.numpy().decode() if hasattr(tag, "numpy") else str(tag)
        m.emit(getattr(writer, _LOGDIR_ATTR, None), int(step), {tag_of(name, plugin): converted})


_PATCHERS: Final[dict[str, Callable[[ModuleType], None]]] = {
    _TB_WRITER: _patch_event_writer,
    _TBX_WRITER: _patch_event_writer,
    _TF: _patch_tensorflow,
}
#: What ``patch()`` patches by default, by W&B's switches.
TORCH: Final = (_TB_WRITER,)
TENSORBOARD_X: Final = (_TBX_WRITER,)
TENSORFLOW: Final = (_TF,)


class _PostImport(importlib.abc.MetaPathFinder):
    """Calls a patcher right after one of its modules is imported (and only those modules)."""

    def __init__(self, patchers: dict[str, Callable[[ModuleType], None]]) -> None:
        self._patchers = patchers
        self._busy: set[str] = set()

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        patcher = self._patchers.get(fullname)
        if patcher is None or fullname in self._busy:
            return None
        self._busy.add(fullname)
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            self._busy.discard(fullname)
        if spec is None or spec.loader is None:
            return None
        spec.loader = _PatchingLoader(spec.loader, patcher)
        return spec


class _PatchingLoader(importlib.abc.Loader):
    def __init__(self, loader: Any, patcher: Callable[[ModuleType], None]) -> None:
        self._loader = loader
        self._patcher = patcher

    def create_module(self, spec: Any) -> ModuleType | None:
        made: ModuleType | None = self._loader.create_module(spec)
        return made

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)
        with _lock:
            if mirror is not None:
                self._patcher(module)
