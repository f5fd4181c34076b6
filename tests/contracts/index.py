"""The index contract (IndexBackend): every backend's test class subclasses ``IndexContract``.

An importable module (as Optuna's ``optuna/testing/pytest_storages.py``), so that the test
modules of each backend (``tests/unit/test_index.py`` for SQLite,
``tests/unit/test_pg_backends.py`` for PostgreSQL) import it instead of each other. The
tests use the ``root`` (``tests/conftest.py``) and ``logs`` (``tests/unit/conftest.py``)
fixtures. A backend's test class overrides two fixtures: ``make_index`` (open the backend's index
over a data root; each call returns an independent handle to the same index) and
``drop_index`` (delete the index so that the next handle rebuilds it from the logs).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tracker.storage._base import IndexBackend, Series
from tracker.storage._ingest import CHUNK_POINTS, OBJECT_CHUNK_POINTS

MakeIndex = Callable[[Path], IndexBackend]


def values(series: Series) -> list[Any]:
    v = series.values
    return list(v) if isinstance(v, list) else v.tolist()


def snapshot(index: IndexBackend, project: str) -> dict[str, Any]:
    """Everything the read API exposes about a project, in comparable form."""
    out: dict[str, Any] = {"projects": index.projects()}
    for record in sorted(index.runs(project), key=lambda r: r.id):
        keys = index.keys(project, record.id)
        events = index.keys(project, record.id, "events")
        series = index.series(project, record.id, list(keys))
        sys_series = index.series(project, record.id, list(events), stream="events")
        out[record.id] = {
            "record": record,
            "details": index.details(project, record.id),
            "keys": keys,
            "series": {
                k: (s.seq.tolist(), s.step.tolist(), s.ts.tolist(), repr(values(s)), s.is_int)
                for k, s in {**series, **{"sys:" + k: v for k, v in sys_series.items()}}.items()
            },
        }
    return out


class IndexContract:
    """Reusable tests of the IndexBackend contract (see ``tracker.storage._base``)."""

    @pytest.fixture
    def make_index(self) -> MakeIndex:
        raise NotImplementedError

    @pytest.fixture
    def drop_index(self) -> Callable[[Path], None]:
        raise NotImplementedError

    @pytest.fixture
    def index(self, make_index: MakeIndex, root: Path) -> IndexBackend:
        return make_index(root)

    # ---------------------------------------------------------------- ingest and read
    def test_bad_records_and_damage_are_problems_of_their_run(self, index: IndexBackend, logs: Any) -> None:
        """A record that breaks the schema and damaged bytes mid-log (issue 14, points 2 and 8)."""
        from tracker.storage._format import R

        logs.run("p", "ok").log({"loss": 1.0}).exit()
        run = logs.run("p", "bad", config={"lr": 0.1})
        run.log({"loss": 1.0}, step=0)
        poison_at = run.path.stat().st_size
        run.append([R.CONFIG, [1, 2], []])  # 'changed' is not a map
        run.log({"loss": 0.9}, step=1)
        damaged_at = run.path.stat().st_size
        run.log({"loss": 0.8}, step=2)
        gap = run.path.stat().st_size - damaged_at
        run.log({"loss": 0.7}, step=3).summary({"loss": 0.7}).exit()
        data = bytearray(run.path.read_bytes())
        data[damaged_at + 12] ^= 0x10
        run.path.write_bytes(bytes(data))
        index.refresh()
        records = {r.id: r for r in index.runs("p")}
        assert records["ok"].problems == ()
        bad = records["bad"]
        assert [(p["kind"], p["offset"]) for p in bad.problems] == [
            ("corrupt", poison_at),
            ("gap", damaged_at),
        ]
        assert bad.problems[1]["bytes"] == gap
        assert (bad.state, bad.config, bad.max_step) == ("finished", {"lr": 0.1}, 3)
        series = index.series("p", "bad", ["loss"])["loss"]
        assert (list(series.step), list(series.values)) == ([0, 1, 3], [1.0, 0.9, 0.7])

    def test_run_fields_and_series(self, index: IndexBackend, logs: Any) -> None:
        run = logs.run("p", "a", name="first", tags=["x", "y"], group="g", job_type="train", notes="hi",
                       config={"lr": 0.1, "opt": {"name": "adam"}})  # fmt: skip
        run.series(10, {"loss": lambda s: 1.0 / (s + 1), "epoch": lambda s: s // 5})
        run.summary({"loss": 0.1, "_step": 9}).alert("slow", "step took long", "WARN", 3).exit("finished", 0)
        assert index.refresh() == 1
        (record,) = index.runs("p")
        assert (record.id, record.name, record.tags, record.group, record.job_type, record.notes) == (
            "a", "first", ("x", "y"), "g", "train", "hi"
        )  # fmt: skip
        assert record.config == {"lr": 0.1, "opt": {"name": "adam"}}
        assert record.summary == {"loss": 0.1, "_step": 9}
        assert (record.state, record.exit_code, record.max_step, record.rows_logged) == ("finished", 0, 9, 10)
        assert index.run("p", "a") == record
        assert index.run("p", "nope") is None
        assert [p.name for p in index.projects()] == ["p"]
        assert index.projects()[0].run_count == 1
        keys = index.keys("p", "a")
        assert sorted(keys) == ["epoch", "loss"]
        assert keys["epoch"].is_int
        assert not keys["loss"].is_int
        assert (keys["loss"].points, keys["loss"].min, keys["loss"].max, keys["loss"].last_step) == (
            10,
            0.1,
            1.0,
            9,
        )
        series = index.series("p", "a", ["loss", "epoch", "missing"])
        assert set(series) == {"loss", "epoch"}
        assert series["loss"].step.tolist() == list(range(10))
        assert values(series["loss"]) == [1.0 / (s + 1) for s in range(10)]
        assert values(series["epoch"]) == [s // 5 for s in range(10)]
        assert series["loss"].ts.tolist() == [run.created + 1 + s for s in range(10)]
        assert index.details("p", "a")["alerts"][0]["title"] == "slow"

    def test_refresh_is_incremental_and_cheap_when_unchanged(self, index: IndexBackend, logs: Any) -> None:
        run = logs.run("p", "a")
        run.series(5, {"x": float})
        assert index.refresh("p") == 1
        assert index.refresh("p") == 0
        run.series(5, {"x": float}, start=5)
        assert index.refresh("p", "a") == 1
        s = index.series("p", "a", ["x"])["x"]
        assert s.step.tolist() == list(range(10))
        assert values(s) == [float(i) for i in range(10)]
        assert s.seq.tolist() == list(range(10))

    def test_chunks_grow_across_refreshes(self, index: IndexBackend, logs: Any) -> None:
        run = logs.run("p", "a")
        total = 0
        for n in (CHUNK_POINTS - 3, 5, 2 * CHUNK_POINTS + 1, 1):
            run.series(n, {"v": lambda s: s * 0.5, "s": str}, start=total)
            total += n
            index.refresh("p")
        series = index.series("p", "a", ["v", "s"])
        assert values(series["v"]) == [s * 0.5 for s in range(total)]
        assert values(series["s"]) == [str(s) for s in range(total)]
        assert total > OBJECT_CHUNK_POINTS
        part = index.series("p", "a", ["v"], min_seq=CHUNK_POINTS - 10, max_seq=CHUNK_POINTS + 10)["v"]
        assert part.seq.tolist() == list(range(CHUNK_POINTS - 10, CHUNK_POINTS + 10))
        assert values(part) == [s * 0.5 for s in range(CHUNK_POINTS - 10, CHUNK_POINTS + 10)]

    def test_value_types_are_kept(self, index: IndexBackend, logs: Any) -> None:
        run = logs.run("p", "a")
        rows: list[dict[str, Any]] = [
            {"f": 1.5, "i": 3, "mix": 1, "obj": "a", "big": 2**60},
            {"f": math.nan, "i": -4, "mix": 2.5, "obj": True, "big": 1},
            {"f": math.inf, "i": 0, "mix": "text", "obj": [1, 2], "big": -(2**62)},
            {"f": -math.inf, "i": 7, "mix": None, "obj": {"k": "v"}, "big": 5},
        ]
        for step, data in enumerate(rows):
            run.log(data, step=step)
        index.refresh()
        series = index.series("p", "a", ["f", "i", "mix", "obj", "big"])
        f = values(series["f"])
        assert f[0] == 1.5
        assert math.isnan(f[1])
        assert f[2:] == [math.inf, -math.inf]
        assert values(series["i"]) == [3, -4, 0, 7]
        assert series["i"].is_int
        assert values(series["mix"]) == [1, 2.5, "text", None]
        # Ints sharing a chunk with floats read back as floats (as in a pandas column).
        assert not series["mix"].is_int
        assert values(series["obj"]) == ["a", True, [1, 2], {"k": "v"}]
        assert values(series["big"]) == [2**60, 1, -(2**62), 5]

    def test_rows_with_different_key_sets_join_by_row(self, index: IndexBackend, logs: Any) -> None:
        run = logs.run("p", "a")
        run.rows(
            [(0, 1.0, {"a": 1.0}), (0, 2.0, {"b": 2.0}), (1, 3.0, {"a": 3.0, "b": 4.0}), (5, 4.0, {"a": 5.0}),
             (2, 5.0, {"b": 6.0})]
        )  # fmt: skip
        index.refresh()
        s = index.series("p", "a", ["a", "b"])
        assert (s["a"].seq.tolist(), s["a"].step.tolist(), values(s["a"])) == (
            [0, 2, 3],
            [0, 1, 5],
            [1.0, 3.0, 5.0],
        )
        assert (s["b"].seq.tolist(), s["b"].step.tolist(), values(s["b"])) == (
            [1, 2, 4],
            [0, 1, 2],
            [2.0, 4.0, 6.0],
        )
        assert index.run("p", "a").max_step == 5

    def test_torn_tail_is_left_for_later(self, index: IndexBackend, logs: Any) -> None:
        run = logs.run("p", "a")
        run.series(3, {"x": float})
        rest = run.torn_rows([(3, 9.0, {"x": 3.0}), (4, 9.5, {"x": 4.0})], cut=11)
        index.refresh()
        assert values(index.series("p", "a", ["x"])["x"]) == [0.0, 1.0, 2.0]
        assert index.refresh() == 0
        run.raw(rest)  # the writer finished the frame
        index.refresh()
        assert values(index.series("p", "a", ["x"])["x"]) == [0.0, 1.0, 2.0, 3.0, 4.0]

    def test_rewind_hides_superseded_rows(self, index: IndexBackend, logs: Any) -> None:
        run = logs.run("p", "a")
        run.series(10, {"x": float})
        index.refresh()  # the first session is indexed before the rewind arrives
        run.resume(rewind=4).series(3, {"x": lambda s: s + 100.0}, start=5)
        index.refresh()
        s = index.series("p", "a", ["x"])["x"]
        assert s.step.tolist() == [0, 1, 2, 3, 4, 5, 6, 7]
        assert values(s) == [0.0, 1.0, 2.0, 3.0, 4.0, 105.0, 106.0, 107.0]
        record = index.run("p", "a")
        assert (record.max_step, record.sessions) == (7, 2)

    def test_rewind_in_one_slice_equals_rewind_across_slices(
        self, make_index: MakeIndex, drop_index: Callable[[Path], None], root: Path, logs: Any
    ) -> None:
        run = logs.run("p", "a")
        live = make_index(root)
        run.series(CHUNK_POINTS + 10, {"x": float, "t": str})
        live.refresh()
        run.resume(rewind=CHUNK_POINTS - 3).series(4, {"x": lambda s: -float(s)}, start=CHUNK_POINTS - 2)
        live.refresh()
        x = live.series("p", "a", ["x"])["x"]
        assert x.step.tolist() == list(range(CHUNK_POINTS + 2))
        assert values(x)[-5:] == [
            CHUNK_POINTS - 3.0,
            *(-float(s) for s in range(CHUNK_POINTS - 2, CHUNK_POINTS + 2)),
        ]
        run.resume(rewind=2).series(2, {"t": lambda s: f"again {s}"}, start=3)
        live.refresh()
        s = live.series("p", "a", ["x", "t"])
        assert s["x"].step.tolist() == [0, 1, 2]
        assert (s["t"].step.tolist(), values(s["t"])) == (
            [0, 1, 2, 3, 4],
            ["0", "1", "2", "again 3", "again 4"],
        )
        before = snapshot(live, "p")
        live.close()
        drop_index(root)
        once = make_index(root)
        once.refresh()  # the whole log, both rewinds included, in one slice
        assert snapshot(once, "p") == before

    def test_resume_updates_process_and_clears_exit(self, index: IndexBackend, logs: Any) -> None:
        run = logs.run("p", "a", host="h1", pid=10)
        run.series(2, {"x": float}).exit("failed", 1)
        index.refresh()
        assert index.run("p", "a").state == "failed"
        run.resume(pid=20, host="h2", name="renamed", tags=["t"])
        index.refresh()
        record = index.run("p", "a")
        assert (record.state, record.exit_code, record.pid, record.host) == ("running", None, 20, "h2")
        assert (record.name, record.tags) == ("renamed", ("t",))

    def test_system_samples_are_the_events_stream(self, index: IndexBackend, logs: Any) -> None:
        run = logs.run("p", "a")
        run.system([(10.0, {"system.cpu": 5.0}), (20.0, {"system.cpu": 7.0, "system.gpu.0.gpu": 1.0})])
        run.log({"x": 1.0})
        index.refresh()
        assert list(index.keys("p", "a", "events")) == ["system.cpu", "system.gpu.0.gpu"]
        assert list(index.keys("p", "a")) == ["x"]
        cpu = index.series("p", "a", ["system.cpu"], stream="events")["system.cpu"]
        assert (cpu.ts.tolist(), values(cpu)) == ([10.0, 20.0], [5.0, 7.0])
        assert index.series("p", "a", ["system.cpu"]) == {}

    def test_vanished_log_is_forgotten(self, index: IndexBackend, logs: Any) -> None:
        logs.run("p", "a").log({"x": 1.0})
        logs.run("p", "b").log({"x": 2.0})
        index.refresh()
        (Path(logs.root) / "projects/p/runs/a/run.tlog").unlink()
        index.refresh("p")
        assert [r.id for r in index.runs("p")] == ["b"]
        assert index.series("p", "a", ["x"]) == {}

    def test_replaced_log_is_read_again(self, index: IndexBackend, logs: Any) -> None:
        logs.run("p", "a").series(50, {"x": float})
        index.refresh()
        logs.run("p", "a").log({"y": 1.0})  # same path, a new, shorter log
        index.refresh()
        assert list(index.keys("p", "a")) == ["y"]

    # ---------------------------------------------------------------- rebuild and concurrency
    def test_rebuild_gives_identical_results(
        self, make_index: MakeIndex, drop_index: Callable[[Path], None], root: Path, logs: Any
    ) -> None:
        run = logs.run("p", "a", config={"lr": 1e-3}, tags=["t"])
        run.series(CHUNK_POINTS + 100, {"loss": lambda s: 1 / (s + 1), "tag": lambda s: f"s{s % 3}"})
        first = make_index(root)
        first.refresh()
        run.resume(rewind=50).series(20, {"loss": lambda s: -1.0}, start=51)
        first.refresh()
        logs.run("p", "b").system([(1.0, {"system.cpu": 3.0})]).log({"x": [1, 2]}).exit("killed", 1)
        first.refresh()
        before = snapshot(first, "p")
        first.close()
        drop_index(root)
        second = make_index(root)
        second.refresh()
        assert snapshot(second, "p") == before

    def test_concurrent_refreshers_index_each_record_once(
        self, make_index: MakeIndex, root: Path, logs: Any
    ) -> None:
        run = logs.run("p", "a")
        errors: list[BaseException] = []
        done = threading.Event()

        def refresher() -> None:
            index = make_index(root)
            try:
                while not done.is_set():
                    index.refresh("p")
                index.refresh("p")
            except BaseException as exc:
                errors.append(exc)
            finally:
                index.close()

        threads = [threading.Thread(target=refresher) for _ in range(4)]
        for t in threads:
            t.start()
        for lo in range(0, 3000, 100):
            run.series(100, {"x": float, "y": lambda s: s % 7}, start=lo, batch=50)
        done.set()
        for t in threads:
            t.join(60)
        assert not errors
        index = make_index(root)
        index.refresh()
        s = index.series("p", "a", ["x", "y"])
        assert s["x"].seq.tolist() == list(range(3000))
        assert values(s["x"]) == [float(i) for i in range(3000)]
        assert values(s["y"]) == [i % 7 for i in range(3000)]

    def test_numpy_dtypes(self, index: IndexBackend, logs: Any) -> None:
        logs.run("p", "a").series(3, {"x": float})
        index.refresh()
        s = index.series("p", "a", ["x"])["x"]
        assert s.seq.dtype == np.int64
        assert s.step.dtype == np.int64
        assert s.ts.dtype == np.float64
        assert s.values.dtype == np.float64  # type: ignore[union-attr]
