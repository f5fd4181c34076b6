"""The single-page app: its page on every dashboard URL, the favicon and ``/static/`` files.

Any file under ``static/`` is served (``static/js/*.js`` modules included), with a
JavaScript, CSS or SVG type from :data:`TYPES` whatever the platform's MIME table says.
"""

# No ``from __future__ import annotations``: FastAPI reads the endpoint annotations at runtime.

import base64
import hashlib
import mimetypes
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote

from fastapi import APIRouter, Request  # noqa: TID253 - imported by the app factory only
from starlette.datastructures import Headers  # noqa: TID253 - imported by the app factory only
from starlette.responses import HTMLResponse, PlainTextResponse, Response  # noqa: TID253 - imported by the app factory only
from starlette.routing import Mount  # noqa: TID253 - imported by the app factory only

from tracker._naming import NAME_RE

__all__ = ["STATIC", "TYPES", "Page", "router", "static_mount"]

STATIC: Final = Path(__file__).parent / "static"
#: Content types of static files by suffix (the platform's table may be wrong).
TYPES: Final = {
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".map": "application/json",
    ".svg": "image/svg+xml",
}
_PAGE_HEADERS: Final = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; "
    "style-src 'self' 'unsafe-inline'; frame-src 'self'; object-src 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

router = APIRouter()


@dataclass(frozen=True)
class Page:
    """The app's ``index.html`` and the headers it is served with (read once per app)."""

    html: str
    headers: dict[str, str]

    @classmethod
    def load(cls) -> "Page":
        html = (STATIC / "index.html").read_text(encoding="utf-8")
        headers = dict(_PAGE_HEADERS)
        headers["Content-Security-Policy"] += f"; script-src 'self' {_importmap_hash(html)}"
        return cls(html, headers)


@router.get("/favicon.ico", include_in_schema=False)
def favicon() -> Any:
    return Response((STATIC / "favicon.svg").read_bytes(), media_type="image/svg+xml")


@router.get("/registry", include_in_schema=False)
@router.get("/", include_in_schema=False)  # added first: "/" comes before "/registry"
def page(request: Request) -> Any:
    """The single-page app (every page URL serves it; the client routes)."""
    found: Page = request.app.state.page
    return HTMLResponse(found.html, headers=found.headers)


@router.get("/projects/{rest:path}", include_in_schema=False)
def project_page(request: Request, rest: str) -> Any:
    """The single-page app; a project's runs-table page also preloads its first data."""
    project = rest.rstrip("/")
    if "/" in project or not NAME_RE.match(project):
        return page(request)
    # The browser starts these requests while the modules load (app.js fetches the
    # same URLs, so it gets these answers): the table and the charts start earlier.
    api = f"/api/projects/{quote(project)}"  # a project name may hold spaces
    links = "".join(
        f'<link rel="preload" as="fetch" crossorigin="anonymous" href="{api}/{part}">\n'
        for part in ("runs", "keys")
    )
    found: Page = request.app.state.page
    return HTMLResponse(found.html.replace("</head>", links + "</head>", 1), headers=found.headers)


class _Static:
    """``/static/``: the files under ``static/``, read once and answered from memory.

    A page load fetches every ES module of the app (``static/js/``, about twenty files, in
    a fresh browser all of them): answered from memory, each costs the event loop no file
    system call and no thread hop, where a file response costs several. Only the files found
    when the app was built are served, so no path a client sends reaches the file system.
    ``ETag``/``If-None-Match`` spare a browser that has them the bytes.
    """

    def __init__(self, directory: Path) -> None:
        self._files: dict[str, tuple[bytes, str, str]] = {}
        for path in sorted(directory.rglob("*")):
            if not path.is_file():  # follows links: a strict editable install links the files
                continue
            data = path.read_bytes()
            kind = TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            etag = '"' + hashlib.sha256(data).hexdigest()[:32] + '"'
            self._files["/" + path.relative_to(directory).as_posix()] = (data, kind, etag)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        path, root = scope["path"], scope.get("root_path", "")
        if root and path.startswith(root):  # Starlette keeps the mount's prefix in root_path
            path = path[len(root) :]
        found = self._files.get(path)
        if scope["method"] not in ("GET", "HEAD"):
            response: Response = PlainTextResponse("Method Not Allowed", status_code=405)
        elif found is None:
            response = PlainTextResponse("Not Found", status_code=404)
        else:
            data, kind, etag = found
            headers = {"ETag": etag, "X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"}
            if etag in Headers(scope=scope).get("if-none-match", ""):
                response = Response(status_code=304, headers=headers)
            else:
                body = b"" if scope["method"] == "HEAD" else data
                response = Response(body, media_type=kind, headers=headers)
                if scope["method"] == "HEAD":
                    response.headers["content-length"] = str(len(data))
        await response(scope, receive, send)


def static_mount() -> Mount:
    """``/static``: every file under ``static/``, from memory (:class:`_Static`)."""
    return Mount("/static", app=_Static(STATIC), name="static")


def _importmap_hash(page: str) -> str:
    """The CSP source allowing the page's inline import map (and no other inline script)."""
    match = re.search(r'<script type="importmap">(.*?)</script>', page, re.S)
    if match is None:
        return ""
    digest = hashlib.sha256(match.group(1).encode()).digest()
    return f"'sha256-{base64.b64encode(digest).decode()}'"
