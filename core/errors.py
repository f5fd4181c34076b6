"""The public exception and warning tree of tracker.

Every error tracker raises on purpose derives from :class:`Error`, so one
``except tracker.Error`` catches them all. The names follow
``wandb.errors`` where the two overlap::

    tracker.Error
    ├── UsageError              misuse of the API, raised at once in the caller
    │   ├── UnsupportedError    a valid request tracker does not support (yet)
    │   ├── SweepConfigError    an invalid sweep config (every problem, with its path)
    │   └── FilterSyntaxError   a malformed filter text (the dashboard's box), with its position
    ├── MissingExtraError       an optional dependency is missing (also a ModuleNotFoundError)
    ├── StorageError            reading or writing the data root failed
    │   ├── RunNotFoundError    no run with that id (e.g. ``resume="must"``)
    │   └── CorruptRecordError  a run-log record failed its checksum or framing
    └── CommError               talking to a team server failed (remote client only)

Warnings meant for users go through :class:`TrackerWarning` (and
:class:`TrackerDeprecationWarning`), never ``print``.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "CommError",
    "CorruptRecordError",
    "Error",
    "FilterSyntaxError",
    "MissingExtraError",
    "RunNotFoundError",
    "StorageError",
    "SweepConfigError",
    "TrackerDeprecationWarning",
    "TrackerWarning",
    "UnsupportedError",
    "UsageError",
]


class Error(Exception):
    """Base class of every exception tracker raises on purpose."""


class UsageError(Error):
    """The API was used wrongly; the message says what to do instead.

    Raised synchronously in the caller's thread, e.g. ``log()`` before ``init()``,
    a non-dict passed to ``log()``, a non-string key or an unsupported value type.
    """

    def __init__(self, message: str, *, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


class UnsupportedError(UsageError):
    """A valid request that this version of tracker does not support."""


class SweepConfigError(UsageError):
    """A sweep config is invalid; raised before anything is created.

    Attributes:
        problems: One line per problem, each starting with its path
            (``parameters.optimizer.parameters.lr.min: ...``).
    """

    def __init__(self, message: str, *, problems: list[str]) -> None:
        super().__init__(message)
        self.problems = problems


class FilterSyntaxError(UsageError):
    """A filter text (the dashboard's filter box) does not parse.

    Attributes:
        position: The 0-based character offset where the problem is
            (``expected a value after '<' at 14``).
    """

    def __init__(self, message: str, *, position: int) -> None:
        super().__init__(message)
        self.position = position


class MissingExtraError(Error, ModuleNotFoundError):
    """An optional dependency needed by a feature is not installed.

    The message names the feature, what was found and the ``pip install`` command.
    """


class StorageError(Error):
    """Reading or writing the data root failed.

    Attributes:
        path: The file or directory involved, when known.
    """

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


class RunNotFoundError(StorageError):
    """No run with the requested id exists (e.g. ``init(id=..., resume="must")``).

    Attributes:
        run_id: The id that was looked up.
    """

    def __init__(self, message: str, *, run_id: str, path: str | None = None) -> None:
        super().__init__(message, path=path)
        self.run_id = run_id


class CorruptRecordError(StorageError):
    """A run-log record failed its checksum or framing check.

    Attributes:
        offset: Byte offset of the bad record in the file.
    """

    def __init__(self, message: str, *, path: str | None = None, offset: int = 0) -> None:
        super().__init__(message, path=path)
        self.offset = offset


class CommError(Error):
    """Talking to a configured team server failed (remote client only)."""


class TrackerWarning(UserWarning):
    """A warning about something the user may want to fix (an ignored keyword, a full disk)."""


class TrackerDeprecationWarning(TrackerWarning, DeprecationWarning):
    """A deprecated name or behaviour that will be removed."""


class _LazyLogger:
    """``logging.getLogger(name)``, with :mod:`logging` imported on the first call.

    Background failures are reported through :mod:`logging` (``debug``, never ``print``),
    but almost every process never reports one: loading :mod:`logging` (and the
    ``traceback``/``tokenize`` it pulls in) only when a message is logged keeps it out of
    ``import tracker`` and ``init()``, a few milliseconds each. Not part of the public API.
    """

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:  # the Logger's debug, info, warning...
        import logging

        return getattr(logging.getLogger(self._name), attr)
