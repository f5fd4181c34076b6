"""The team-server app with auth, as ``tracker server`` builds it, over a seeded data root.

``team`` seeds the root with two private projects (``alpha`` of alice, ``beta`` of bob),
a team project (``gamma`` of team ``crew``: carol viewer, dave editor), users with keys
of every cap, and a server admin.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import tracker
from tracker.server._auth import AuthStore

BASE = "http://127.0.0.1:8080"
MAX_BODY = 64 * 1024
PASSWORD = "correct horse battery"


def server_app(root: Path, max_body: int = MAX_BODY, hosts: list[str] | None = None) -> Any:
    """The app of ``tracker server`` (same order of installs as ``run_server``)."""
    from tracker.server import create_app
    from tracker.server._blobs import install_blobs
    from tracker.server._ingest import install
    from tracker.server._remote import install_remote

    app = create_app(root, token=None, allowed_hosts=hosts, poll_interval=0.05)
    install(app, root, max_body=max_body)
    install_remote(app, root)
    install_blobs(app, root / "objects", root, max_body=max_body)
    return app


def seed_run(project: str, run_id: str, **kw: Any) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = tracker.init(project=project, id=run_id, settings=tracker.Settings(disable_git=True), **kw)
        for step in range(20):
            run.log({"loss": 1.0 / (step + 1)}, step=step)
        run.finish()


@dataclass
class Team:
    root: Path
    store: AuthStore
    keys: dict[str, str] = field(default_factory=dict)
    app: Any = None
    password: str = PASSWORD
    base: str = BASE
    max_body: int = MAX_BODY
    seed = staticmethod(seed_run)
    build = staticmethod(server_app)

    def client(self, who: str | None = None, **kw: Any) -> Any:
        from fastapi.testclient import TestClient

        headers = {"Authorization": f"Bearer {self.keys[who]}"} if who else {}
        return TestClient(self.app, base_url=BASE, headers=headers, **kw)


@pytest.fixture
def team(root: Path) -> Team:
    for project in ("alpha", "beta", "gamma"):
        seed_run(project, "r1", config={"lr": 0.1})
    store = AuthStore(root)
    world = Team(root, store)
    for user in ("alice", "bob", "carol", "dave", "root"):
        store.create_user(user, PASSWORD, site_admin=user == "root")
        world.keys[user] = store.create_key(user, "full")[0]
    for cap in ("viewer", "editor"):
        world.keys[f"alice-{cap}"] = store.create_key("alice", cap, cap)[0]
    store.create_team("crew")
    store.add_member("crew", "carol", "viewer")
    store.add_member("crew", "dave", "editor")
    store.set_owner("alpha", user="alice")
    store.set_owner("beta", user="bob")
    store.set_owner("gamma", team="crew")
    world.app = server_app(root)
    return world
