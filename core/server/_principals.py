"""Who a caller is and what roles mean: principals, records, roles, names and secrets.

The value types and rules :class:`~tracker.server._auth.AuthStore` stores and applies
(and the gate checks): roles rank ``viewer < editor < admin``, an API key's cap lowers a
role (:func:`capped`), passwords are salted ``scrypt`` hashes checked in constant time,
and user, team and project names are checked here. No I/O.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Any, Final

from tracker._naming import NAME_RE, name_problem
from tracker.errors import UsageError

__all__ = [
    "DUMMY_HASH",
    "ROLES",
    "SESSION_SECONDS",
    "VISIBILITIES",
    "KeyInfo",
    "Principal",
    "ProjectInfo",
    "UserInfo",
    "at_least",
    "capped",
    "check_account_name",
    "check_password",
    "check_project",
    "check_role",
    "digest",
    "hash_password",
]

ROLES: Final = ("viewer", "editor", "admin")
VISIBILITIES: Final = ("private", "team", "public")
SESSION_SECONDS: Final = 12 * 3600
_RANK: Final = {role: i for i, role in enumerate(ROLES)}
# Names of users and teams are data: any printable text (quotes included), no control
# characters, no surrounding blanks.
_NAME: Final = re.compile(r"[^\x00-\x1f\x7f\s](?:[^\x00-\x1f\x7f]{0,62}[^\x00-\x1f\x7f\s])?")
# scrypt at n=2**14, r=8: 16 MiB and about 50 ms per check (OWASP's floor for scrypt).
_SCRYPT: Final = {"n": 2**14, "r": 8, "p": 1}
_MAXMEM: Final = 64 * 1024 * 1024


def at_least(role: str | None, need: str) -> bool:
    """Whether ``role`` (None: no access) is ``need`` or higher."""
    return role is not None and _RANK[role] >= _RANK[need]


def capped(role: str | None, cap: str | None) -> str | None:
    """``role``, lowered to ``cap`` when a key's cap is below it."""
    if role is None or cap is None:
        return role
    return role if _RANK[role] <= _RANK[cap] else cap


@dataclass(frozen=True)
class Principal:
    """A signed-in caller: the user, and the key's role cap (None for a dashboard session)."""

    user: str
    site_admin: bool
    cap: str | None
    key_id: str | None = None


@dataclass(frozen=True)
class UserInfo:
    """One user, without the password hash."""

    name: str
    created: float
    disabled: float | None
    site_admin: bool
    default_team: str | None


@dataclass(frozen=True)
class KeyInfo:
    """One API key, without its secret."""

    key_id: str
    user: str
    name: str
    role: str
    created: float
    revoked: float | None


@dataclass(frozen=True)
class ProjectInfo:
    """A project's ownership record."""

    name: str
    owner_kind: str
    owner: str
    visibility: str
    created: float


def hash_password(password: str) -> str:
    """``scrypt$n$r$p$salt$hash`` (hex) of ``password``."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, maxmem=_MAXMEM, dklen=32, **_SCRYPT)
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored`` (constant-time; False for a malformed hash)."""
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        want = bytes.fromhex(digest)
        got = hashlib.scrypt(
            password.encode(),
            salt=bytes.fromhex(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            maxmem=_MAXMEM,
            dklen=len(want),
        )
    except ValueError:
        return False
    return kind == "scrypt" and hmac.compare_digest(got, want)


# A hash to check unknown user names against, so a miss costs the same time as a hit.
DUMMY_HASH: Final = "scrypt$16384$8$1$" + "00" * 16 + "$" + "00" * 32


def check_account_name(kind: str, name: Any) -> str:
    """``name`` if it is a valid ``kind`` (user or team) name, else :class:`UsageError`."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise UsageError(
            f"{kind} name {name!r}: use 1-64 printable characters, no control characters "
            "and no leading or trailing blanks.",
            key=kind,
        )
    return name


def check_role(role: str) -> str:
    """``role`` if it is one of :data:`ROLES`, else :class:`UsageError`."""
    if role not in ROLES:
        raise UsageError(f"role {role!r}: use one of {', '.join(ROLES)}.", key="role")
    return role


def check_project(name: Any) -> str:
    """``name`` if it is a valid project name (``tracker._naming.NAME_RE``).

    Raises:
        UsageError: It is not; the message names the character.
    """
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise UsageError(f"{name!r} is not a valid project name: {name_problem(name)}.", key="project")
    return name


def digest(text: str) -> str:
    """The SHA-256 hex digest of ``text`` (how sessions and key secrets are stored)."""
    return hashlib.sha256(text.encode()).hexdigest()
