"""Auth and session: the login page, ``/logout``, ``/api/me`` and a project's access settings.

Added by :func:`tracker.server._gate.protect` (team server only), which puts the
:class:`~tracker.server._auth.AuthStore` on ``app.state.auth`` and the login backoffs on
``app.state.login_backoff``; see :mod:`tracker.server._gate` for the backoff rules.
"""

# No ``from __future__ import annotations``: FastAPI reads the endpoint annotations at runtime.

from html import escape
from typing import Annotated, Any, Final
from urllib.parse import parse_qs

from fastapi import APIRouter, Body, Depends, HTTPException, Request  # noqa: TID253 - app factory only
from starlette.concurrency import run_in_threadpool  # noqa: TID253 - imported by the app factory only
from starlette.responses import HTMLResponse, Response  # noqa: TID253 - imported by the app factory only

from tracker.errors import UsageError
from tracker.server._auth import AuthStore, Principal
from tracker.server._gate import COOKIE
from tracker.server._principals import SESSION_SECONDS

__all__ = ["router", "visible"]

router = APIRouter()


async def auth_store(request: Request) -> AuthStore:
    """The app's accounts (a dependency: ``async``, so it costs no thread hop)."""
    found: AuthStore = request.app.state.auth
    return found


Store = Annotated[AuthStore, Depends(auth_store)]


async def login(request: Request) -> Any:
    if request.method == "GET":
        return _page(nxt=_next(request.query_params.get("next", "/")))
    store: AuthStore = request.app.state.auth
    per_pair, per_user = request.app.state.login_backoff
    form = parse_qs((await request.body()).decode("utf-8", "replace"))
    user = (form.get("username") or [""])[0]
    password = (form.get("password") or [""])[0]
    nxt = _next((form.get("next") or ["/"])[0])
    pair = user + "\0" + (request.client.host if request.client else "?")
    wait = max(per_pair.wait(pair), per_user.wait(user))
    if wait > 0:
        secs = str(int(wait) + 1)
        return _page(f"Too many failed attempts: try again in {secs} s.", nxt, 429, secs)
    session = await run_in_threadpool(store.login, user, password) if user and password else None
    if session is None:
        per_pair.failed(pair)
        per_user.failed(user)
        return _page("Wrong user name or password.", nxt, 401)
    per_pair.succeeded(pair)
    per_user.succeeded(user)
    secure = "; Secure" if request.url.scheme == "https" else ""
    cookie = f"{COOKIE}={session}; Path=/; HttpOnly; SameSite=Strict; Max-Age={SESSION_SECONDS}{secure}"
    return Response(
        status_code=303, headers={"Location": nxt, "Set-Cookie": cookie, "Cache-Control": "no-store"}
    )


async def logout(request: Request) -> Any:
    session = request.cookies.get(COOKIE)
    if session:
        await run_in_threadpool(request.app.state.auth.logout, session)
    cookie = f"{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"
    return Response(status_code=303, headers={"Location": "/login", "Set-Cookie": cookie})


# Plain Starlette routes (a form and a redirect; GET also answers HEAD), as the gate expects.
router.add_route("/login", login, methods=["GET", "POST"], include_in_schema=False)
router.add_route("/logout", logout, methods=["POST"], include_in_schema=False)


@router.get("/api/me")
def me(request: Request) -> Any:
    """The signed-in caller: user name, server admin or not, and the key's role cap."""
    who: Principal = request.scope["state"]["principal"]
    return {"user": who.user, "site_admin": who.site_admin, "key_role": who.cap}


@router.get("/api/projects/{project}/access")
def access(store: Store, project: str) -> Any:
    """A project's owner and visibility."""
    info = store.project(project)
    if info is None:
        return {"project": project, "owner": None, "visibility": "private"}
    return {"project": project, "owner": {info.owner_kind: info.owner}, "visibility": info.visibility}


@router.put("/api/projects/{project}/access")
def set_access(store: Store, project: str, body: dict[str, Any] = Body(...)) -> Any:  # noqa: B008 - FastAPI's way
    """Set a project's visibility: ``{"visibility": "private" | "team" | "public"}`` (admin)."""
    visibility = body.get("visibility")
    if not isinstance(visibility, str):
        raise HTTPException(400, 'send {"visibility": "private" | "team" | "public"}')
    try:
        if store.project(project) is None:  # a server admin on a project nobody owns yet
            store.set_owner(project, user=_owner_user(body))
        store.set_visibility(project, visibility)
    except UsageError as exc:
        raise HTTPException(400, str(exc)) from None
    return access(store, project)


def _owner_user(body: dict[str, Any]) -> str:
    owner = body.get("owner_user")
    if not isinstance(owner, str):
        raise UsageError('this project has no owner yet: add "owner_user" to the body', key="owner")
    return owner


def visible(request: Request, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows of the project list (``{"name": ...}``) the caller has a role on."""
    who: Principal | None = request.scope.get("state", {}).get("principal")
    if who is None:
        return []
    roles = request.app.state.auth.roles_on(who, [str(r.get("name")) for r in rows])
    return [r for r in rows if roles.get(str(r.get("name"))) is not None]


def _next(raw: str) -> str:
    """A local path to go to after logging in (anything else: ``/``)."""
    ok = raw.startswith("/") and not raw.startswith(("//", "/\\")) and "\\" not in raw
    return raw if ok and all(0x20 < ord(c) < 0x7F for c in raw) else "/"


def _page(message: str = "", nxt: str = "/", status: int = 200, wait: str | None = None) -> Any:
    note = f'<p class="err">{escape(message)}</p>' if message else ""
    headers = {**_HEADERS, "Retry-After": wait} if wait else _HEADERS
    text = _LOGIN.format(note=note, next=escape(nxt, quote=True))
    return HTMLResponse(text, status_code=status, headers=headers)


_HEADERS: Final = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
_LOGIN: Final = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tracker: sign in</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font:15px system-ui,sans-serif;display:grid;place-items:center;min-height:90vh;margin:0}}
form{{display:grid;gap:.6em;min-width:18em}}input,button{{font:inherit;padding:.4em}}.err{{color:#b00020}}</style>
</head><body><form method="post" action="/login"><h1>tracker</h1>{note}
<label>User <input name="username" autocomplete="username" required autofocus></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required></label>
<input type="hidden" name="next" value="{next}"><button type="submit">Sign in</button></form></body></html>
"""
