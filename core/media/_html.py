"""``tracker.Html``: an HTML document stored under the run (shown sandboxed by the dashboard)."""

from __future__ import annotations

import os
from typing import Any, ClassVar

from tracker.errors import UsageError
from tracker.media._base import Media, read_file

__all__ = ["Html"]


class Html(Media):
    """An HTML document, stored as a ``.html`` file under the run (W&B's ``wandb.Html``).

    The dashboard shows it in a sandboxed frame (no scripts reach the dashboard's origin).

    Args:
        data: HTML text, a readable text file object, or a path to an ``.html`` file
            (a string naming an existing ``.html``/``.htm`` file is read as a path).
        inject: Accepted for W&B compatibility (tracker injects no stylesheet).
        data_is_not_path: Treat a string as HTML even if it names an existing file.

    Raises:
        UsageError: ``data`` is none of these, or the file cannot be read.

    Example:
        >>> run.log({"report": tracker.Html("<h1>Epoch 3</h1><p>ok</p>")})  # doctest: +SKIP
    """

    _kind: ClassVar[str] = "html"

    def __init__(self, data: Any, inject: bool = True, data_is_not_path: bool = False) -> None:
        if hasattr(data, "read"):
            text = data.read()
            if isinstance(text, bytes):
                text = text.decode("utf-8")
        elif isinstance(data, os.PathLike) or (
            isinstance(data, str)
            and not data_is_not_path
            and data.lower().endswith((".html", ".htm"))
            and "\n" not in data
            and os.path.isfile(data)
        ):
            raw, _ext = read_file(data, "Html", ("html", "htm"))
            text = raw.decode("utf-8")
        elif isinstance(data, str):
            text = data
        else:
            raise UsageError(f"Html() takes HTML text, a file object or a path, not {type(data).__name__}.")
        if not isinstance(text, str):
            raise UsageError("Html(): the file object returned neither text nor bytes.")
        self.html = text

    def _nbytes(self) -> int:
        return len(self.html)

    def _encode(self, store: Any) -> dict[str, Any]:
        ref: dict[str, Any] = {"_type": "html-file", "format": "html"}
        ref.update(store.write("html", self.html.encode("utf-8"), "html"))
        return ref

    def __repr__(self) -> str:
        return f"<tracker.Html {len(self.html)} chars>"
