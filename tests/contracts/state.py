"""The state-store contract (StateStore): every backend's test class subclasses ``StateStoreContract``.

An importable module (as Optuna's ``optuna/testing/pytest_storages.py``): the SQLite
(``tests/unit/test_state_store.py``) and PostgreSQL (``tests/unit/test_pg_backends.py``)
test modules import it instead of each other. A backend's test class overrides
``make_store``: open the backend's store; each call returns an independent handle (its own
connections) to the same store. Concurrency is exercised with threads holding separate
handles, which contend for the store exactly as processes do; the SQLite class adds a
multi-process test.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from tracker.errors import UsageError
from tracker.storage._base import StateStore

MakeStore = Callable[[], StateStore]


def run_threads(n: int, target: Callable[[int], None]) -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(n)

    def body(i: int) -> None:
        try:
            start.wait(30)
            target(i)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors


class StateStoreContract:
    """Reusable tests of the StateStore contract (see ``tracker.storage._base``)."""

    @pytest.fixture
    def make_store(self) -> MakeStore:
        raise NotImplementedError

    @pytest.fixture
    def store(self, make_store: MakeStore) -> StateStore:
        return make_store()

    # ---------------------------------------------------------------- artifacts
    def test_versions_are_numbered_and_idempotent_by_digest(self, store: StateStore) -> None:
        v0 = store.add_artifact_version("p", "model", "model", "d0", metadata={"acc": 0.9}, run_id="r1")
        v1 = store.add_artifact_version("p", "model", "model", "d1")
        again = store.add_artifact_version("p", "model", "model", "d0")
        assert (v0.version, v1.version, again.version) == (0, 1, 0)
        assert (v0.label, v0.digest, v0.metadata, v0.run_id, v0.type) == (
            "v0",
            "d0",
            {"acc": 0.9},
            "r1",
            "model",
        )
        assert again.created_at == v0.created_at
        other = store.add_artifact_version("p", "data", "dataset", "d0")
        assert other.version == 0  # numbering is per artifact
        assert store.add_artifact_version("q", "model", "model", "d9").version == 0  # and per project
        assert [v.version for v in store.artifact_versions("p", "model")] == [0, 1]

    def test_type_is_fixed_per_artifact(self, store: StateStore) -> None:
        store.add_artifact_version("p", "a", "model", "d0")
        with pytest.raises(UsageError, match="type"):
            store.add_artifact_version("p", "a", "dataset", "d1")
        with pytest.raises(UsageError):
            store.add_artifact_version("p", "a", "model", "")

    def test_aliases_are_unique_and_move(self, store: StateStore) -> None:
        store.add_artifact_version("p", "m", "model", "d0", aliases=["latest", "best"])
        store.add_artifact_version("p", "m", "model", "d1", aliases=["latest"])
        versions = store.artifact_versions("p", "m")
        assert [v.aliases for v in versions] == [("best",), ("latest",)]
        store.set_alias("p", "m", "best", 1)
        assert store.artifact_version("p", "m", "best").version == 1  # type: ignore[union-attr]
        assert store.artifact_version("p", "m", 0).aliases == ()  # type: ignore[union-attr]
        assert store.remove_alias("p", "m", "best") is True
        assert store.remove_alias("p", "m", "best") is False
        assert store.artifact_version("p", "m", "best") is None
        with pytest.raises(UsageError):
            store.set_alias("p", "m", "prod", 7)  # no such version
        for bad in ("v3", "", "a/b", "x:y"):
            with pytest.raises(UsageError):
                store.set_alias("p", "m", bad, 0)

    def test_lookup_by_number_label_alias_and_digest(self, store: StateStore) -> None:
        store.add_artifact_version("p", "m", "model", "sha256:aa")
        store.add_artifact_version("p", "m", "model", "sha256:bb", aliases=["prod"])
        for ref in (1, "v1", "prod", "sha256:bb"):
            found = store.artifact_version("p", "m", ref)
            assert found is not None, ref
            assert found.version == 1, ref
        assert store.artifact_version("p", "m", "v9") is None
        assert store.artifact_version("p", "nope", 0) is None
        with pytest.raises(UsageError):
            store.artifact_version("p", "m", True)  # type: ignore[arg-type]

    def test_deleted_numbers_are_never_reused(self, store: StateStore) -> None:
        store.add_artifact_version("p", "m", "model", "d0")
        store.add_artifact_version("p", "m", "model", "d1", aliases=["latest"])
        assert store.delete_artifact_version("p", "m", 1) is True
        assert store.delete_artifact_version("p", "m", 1) is False
        assert [v.version for v in store.artifact_versions("p", "m")] == [0]
        deleted = store.artifact_versions("p", "m", include_deleted=True)[1]
        assert deleted.deleted
        assert deleted.aliases == ()
        assert store.add_artifact_version("p", "m", "model", "d2").version == 2
        with pytest.raises(UsageError):
            store.set_alias("p", "m", "latest", 1)

    def test_artifacts_lists_names_types_and_latest_live_version(self, store: StateStore) -> None:
        from tracker.storage._base import ArtifactInfo

        assert store.artifacts() == []
        store.add_artifact_version("p", "model", "model", "d0")
        store.add_artifact_version("p", "model", "model", "d1")
        store.add_artifact_version("p", "data", "dataset", "d0")
        store.add_artifact_version("q", "model", "model", "d0")
        assert store.artifacts("p") == [
            ArtifactInfo("p", "data", "dataset", 0, 1),
            ArtifactInfo("p", "model", "model", 1, 2),
        ]
        listed = [(a.project, a.name) for a in store.artifacts()]
        assert listed == [("p", "data"), ("p", "model"), ("q", "model")]
        assert store.artifacts("nobody") == []
        assert store.delete_artifact_version("p", "model", 1)
        assert store.artifacts("p")[1] == ArtifactInfo("p", "model", "model", 0, 1)  # latest is the live one
        assert store.delete_artifact_version("p", "model", 0)
        assert store.artifacts("p")[1] == ArtifactInfo("p", "model", "model", None, 0)
        assert store.add_artifact_version("p", "model", "model", "d2").version == 2
        assert store.artifacts("p")[1] == ArtifactInfo("p", "model", "model", 2, 1)

    def test_concurrent_adds_get_distinct_consecutive_numbers(self, make_store: MakeStore) -> None:
        per_thread = 15

        def add(i: int) -> None:
            store = make_store()
            try:
                for j in range(per_thread):
                    store.add_artifact_version("p", "m", "model", f"d{i}-{j}", aliases=["latest"])
                    store.add_artifact_version("p", "m", "model", "shared")  # everyone adds this one too
            finally:
                store.close()

        run_threads(6, add)
        versions = make_store().artifact_versions("p", "m")
        assert [v.version for v in versions] == list(range(6 * per_thread + 1))
        assert len({v.digest for v in versions}) == len(versions)
        assert sum("latest" in v.aliases for v in versions) == 1

    # ---------------------------------------------------------------- registry
    def test_registry_links(self, store: StateStore) -> None:
        store.add_artifact_version("p", "m", "model", "d0")
        store.add_artifact_version("p", "m", "model", "d1")
        first = store.link_artifact("model-registry/cls", "p", "m", 1)
        second = store.link_artifact("model-registry/cls", "p", "m", 0)
        assert (first.version, second.version) == (0, 1)
        assert store.link_artifact("model-registry/cls", "p", "m", 1) == first
        links = store.registry_links("model-registry/cls")
        assert [(link.version, link.artifact_version) for link in links] == [(0, 1), (1, 0)]
        assert store.registry_links("model-registry/other") == []
        with pytest.raises(UsageError):
            store.link_artifact("model-registry/cls", "p", "m", 5)

    # ---------------------------------------------------------------- sweeps
    def test_sweeps(self, store: StateStore) -> None:
        created = store.create_sweep("sw1", "p", {"method": "grid", "parameters": {"lr": {"values": [1, 2]}}})
        assert (created.state, created.config["method"]) == ("pending", "grid")
        with pytest.raises(UsageError):
            store.create_sweep("sw1", "p", {})
        assert store.set_sweep_state("sw1", "running").state == "running"
        found = store.sweep("sw1")
        assert found is not None
        assert found.state == "running"
        assert found.project == "p"
        assert found.config == {"method": "grid", "parameters": {"lr": {"values": [1, 2]}}}
        assert store.sweep("nope") is None
        with pytest.raises(UsageError):
            store.set_sweep_state("nope", "running")

    def test_a_claim_is_handed_out_once(self, store: StateStore) -> None:
        assert store.claim("sw", "lr=1", "agent-a") is True
        assert store.claim("sw", "lr=1", "agent-b") is False
        assert store.claim("sw", "lr=2", "agent-b") is True
        assert store.claim("other", "lr=1", "agent-b") is True
        assert store.claims("sw") == {"lr=1": "agent-a", "lr=2": "agent-b"}

    def test_concurrent_claims(self, make_store: MakeStore) -> None:
        won: dict[str, list[int]] = {}
        lock = threading.Lock()

        def agent(i: int) -> None:
            store = make_store()
            try:
                for k in range(40):
                    if store.claim("sw", f"point-{k}", f"agent-{i}"):
                        with lock:
                            won.setdefault(f"point-{k}", []).append(i)
            finally:
                store.close()

        run_threads(8, agent)
        assert sorted(won) == sorted(f"point-{k}" for k in range(40))
        assert all(len(winners) == 1 for winners in won.values())
        claims = make_store().claims("sw")
        assert {k: f"agent-{v[0]}" for k, v in won.items()} == claims

    # ---------------------------------------------------------------- run edits
    def test_run_edits(self, store: StateStore) -> None:
        edit = store.edit_run("p", "r1", tags=["a", "b"])
        assert (edit.tags, edit.notes, edit.deleted) == (("a", "b"), None, False)
        store.edit_run("p", "r1", notes="interesting")
        store.edit_run("p", "r2", deleted=True)
        edits = store.run_edits("p")
        assert (edits["r1"].tags, edits["r1"].notes, edits["r1"].deleted) == (
            ("a", "b"),
            "interesting",
            False,
        )
        assert edits["r2"].deleted
        assert edits["r2"].tags is None
        assert store.run_edits("q") == {}
        store.edit_run("p", "r2", deleted=False)
        assert not store.run_edits("p")["r2"].deleted
        with pytest.raises(UsageError):
            store.edit_run("p", "r1", tags="not-a-list")

    # ---------------------------------------------------------------- journal and durability
    def test_journal_records_every_change_append_only(self, store: StateStore) -> None:
        store.add_artifact_version("p", "m", "model", "d0", aliases=["latest"])
        store.add_artifact_version("p", "m", "model", "d0")  # idempotent: no new entry
        first = store.journal()
        store.set_alias("p", "m", "best", 0)
        store.claim("sw", "k", "a")
        store.claim("sw", "k", "b")  # lost claim: no entry
        store.edit_run("p", "r", notes="n")
        entries = store.journal()
        assert [e.op for e in entries] == [
            "artifact.add",
            "alias.set",
            "alias.set",
            "sweep.claim",
            "run.edit",
        ]
        assert entries[: len(first)] == first
        seqs = [e.seq for e in entries]
        assert seqs == sorted(seqs)
        assert len(set(seqs)) == len(seqs)
        assert entries[1].data == {
            "project": "p",
            "name": "m",
            "alias": "latest",
            "version": 0,
            "previous": None,
        }
        assert [e.op for e in store.journal(since=seqs[2])] == ["sweep.claim", "run.edit"]
        assert len(store.journal(limit=2)) == 2

    def test_state_survives_reopening(self, make_store: MakeStore) -> None:
        store = make_store()
        store.add_artifact_version("p", "m", "model", "d0", aliases=["prod"])
        store.claim("sw", "k", "a")
        store.close()
        reopened = make_store()
        assert reopened.artifact_version("p", "m", "prod") is not None
        assert reopened.claims("sw") == {"k": "a"}
        assert reopened.add_artifact_version("p", "m", "model", "d1").version == 1
