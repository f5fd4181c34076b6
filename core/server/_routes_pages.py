"""The single-page app: its page on every dashboard URL, the favicon and ``/static/`` files.

Any file under ``static/`` is served (``static/js/*.js`` modules included), with a
JavaScript, CSS or SVG type from :data:`TYPES` whatever the platform's MIME table says.
"""

# No ``from __future__ import annotations``: FastAPI reads the endpoint annotations at runtime.

import base64
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote

from fastapi import APIRouter, Request  # noqa: TID253 - imported by the app factory only
from starlette.responses import HTMLResponse, Response  # noqa: TID253 - imported by the app factory only
from starlette.routing import Mount  # noqa: TID253 - imported by the app factory only
from starlette.staticfiles import StaticFiles  # noqa: TID253 - imported by the app factory only

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


class _Static(StaticFiles):
    # The platform's MIME table may be wrong (the Windows registry maps .js to
    # text/plain): module scripts need a JavaScript type.
    def file_response(self, full_path: Any, stat_result: Any, scope: Any, status_code: int = 200) -> Any:
        response = super().file_response(full_path, stat_result, scope, status_code)
        kind = TYPES.get(Path(str(full_path)).suffix)
        if kind is not None:
            response.media_type = kind
            response.headers["content-type"] = kind
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def static_mount() -> Mount:
    """``/static``: every file under ``static/`` (the path guard of StaticFiles applies)."""
    # follow_symlink: a strict editable install links the files; the path guard still applies.
    return Mount("/static", app=_Static(directory=STATIC, follow_symlink=True), name="static")


def _importmap_hash(page: str) -> str:
    """The CSP source allowing the page's inline import map (and no other inline script)."""
    match = re.search(r'<script type="importmap">(.*?)</script>', page, re.S)
    if match is None:
        return ""
    digest = hashlib.sha256(match.group(1).encode()).digest()
    return f"'sha256-{base64.b64encode(digest).decode()}'"
