"""The auth store's contract, on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

from pathlib import Path

import pytest

from tracker.errors import StorageError, UsageError
from tracker.server._auth import AuthStore, Principal

PW = "a long enough password"


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> AuthStore:
    if request.param == "sqlite":
        return AuthStore(tmp_path)
    from tracker.storage._pg import migrate

    url = request.getfixturevalue("pg_url")
    migrate(url)  # the accounts are schema version 2
    return AuthStore.postgres(tmp_path, url)


def test_users_keys_sessions(store: AuthStore) -> None:
    store.create_user("alice", PW)
    store.create_user("root", PW, site_admin=True)
    with pytest.raises(UsageError, match="exists"):
        store.create_user("alice", PW)
    assert [(u.name, u.site_admin, u.disabled) for u in store.users()] == [
        ("alice", False, None),
        ("root", True, None),
    ]
    key, info = store.create_key("alice", "ci", "editor")
    assert key.startswith(f"trk_{info.key_id}_")
    assert store.verify_key(key) == Principal("alice", False, "editor", info.key_id)
    assert store.verify_key(key[:-1] + ("A" if key[-1] != "A" else "B")) is None
    assert store.verify_key("trk_nothex_x") is None
    assert [k.name for k in store.keys("alice")] == ["ci"]
    session = store.login("alice", PW)
    assert session is not None
    assert store.session(session) == Principal("alice", False, None)
    assert store.login("alice", "wrong password") is None
    assert store.login("nobody", PW) is None
    store.logout(session)
    assert store.session(session) is None
    session = store.login("alice", PW)
    assert session is not None
    assert store.disable_user("alice")
    assert store.verify_key(key) is None
    assert store.session(session) is None
    assert store.login("alice", PW) is None
    assert not store.disable_user("alice")


def test_projects_and_roles(store: AuthStore) -> None:
    for name in ("alice", "bob", "carol", "root"):
        store.create_user(name, PW, site_admin=name == "root")
    alice, bob, carol = (Principal(n, False, None) for n in ("alice", "bob", "carol"))
    root = Principal("root", True, None)
    store.create_team("crew")
    store.add_member("crew", "bob", "editor")
    store.add_member("crew", "carol", "viewer")
    assert store.claim("a", "alice").owner == "alice"
    assert store.claim("a", "bob").owner == "alice"  # the first claim wins
    store.set_default_team("bob", "crew")
    assert (store.claim("b", "bob").owner_kind, store.project("b").owner) == ("team", "crew")  # type: ignore[union-attr]
    assert store.roles_on(alice, ["a", "b", "none"]) == {"a": "admin", "b": None, "none": None}
    assert store.roles_on(bob, ["a", "b"]) == {"a": None, "b": "editor"}
    assert store.roles_on(carol, ["a", "b"]) == {"a": None, "b": "viewer"}
    assert store.roles_on(root, ["a", "b", "none"]) == {"a": "admin", "b": "admin", "none": "admin"}
    assert store.role_on(Principal("alice", False, "viewer"), "a") == "viewer"
    store.set_visibility("a", "team")
    assert store.role_on(bob, "a") is None  # alice shares no team with bob
    store.add_member("crew", "alice", "viewer")
    assert store.role_on(bob, "a") == "viewer"
    store.set_visibility("a", "public")
    store.create_user("dan", PW)
    assert store.role_on(Principal("dan", False, None), "a") == "viewer"
    store.set_owner("a", team="crew")
    assert store.role_on(alice, "a") == "viewer"
    assert store.role_on(bob, "a") == "editor"
    with pytest.raises(UsageError, match="no team"):
        store.set_owner("a", team="ghosts")
    with pytest.raises(UsageError, match="visibility"):
        store.set_visibility("a", "everyone")
    with pytest.raises(UsageError, match="no owner"):
        store.set_visibility("c", "public")
    with pytest.raises(UsageError, match="role"):
        store.add_member("crew", "dan", "owner")
    assert store.teams() == {"crew": {"alice": "viewer", "bob": "editor", "carol": "viewer"}}
    assert [p.name for p in store.projects()] == ["a", "b", "model-registry"]  # the server's own


def test_cli_accounts_on_postgres(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import io
    import sys

    from tracker.cli import main

    monkeypatch.setattr(sys, "stdin", io.StringIO(PW + "\n"))
    base = ["server", "--root", str(tmp_path)]
    with pytest.raises(StorageError, match="tracker server migrate"):
        AuthStore.postgres(tmp_path, pg_url)  # not migrated yet: says what to run
    assert main([*base, "migrate", "--db", pg_url]) == 0
    assert main([*base, "users", "create", "alice", "--password-stdin", "--db", pg_url]) == 0
    assert main([*base, "keys", "create", "--user", "alice", "--name", "ci", "--db", pg_url]) == 0
    key = capsys.readouterr().out.strip().splitlines()[-1]  # after what migrate printed
    again = AuthStore.postgres(tmp_path, pg_url)  # a second server process: the tables are there
    who = again.verify_key(key)
    assert who is not None
    assert who.user == "alice"
    assert not (tmp_path / "server-auth.sqlite").exists()
    assert AuthStore(tmp_path).verify_key(key) is None  # the SQLite default knows nothing of it
