"""The layers of ``tracker`` (docs/architecture.md), checked on the import graph read from the source.

Every import counts: module-level, inside functions, under ``TYPE_CHECKING``, and the
string names of modules loaded through ``importlib.import_module`` (the lazy ``_LAZY``
maps). A module imports only from its own layer or lower ones, except the two sanctioned
lazy upward imports, and no import cycle spans two packages.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

REPO = Path(__file__).resolve().parents[2]
#: Source folder -> the package it is installed as (pyproject's package-dir).
SOURCES = {
    "core": "tracker",
    "integrations": "tracker.integrations",
    "system_metrics": "tracker.system_metrics",
}

# Lowest first. Domains sit below the read path: `Api` returns artifacts and sweeps, and
# neither imports `api` (docs/architecture.md says why).
LAYERS = ("foundation", "data", "write path", "domains", "read path", "composition root", "adapters", "apps")

# Each module's layer: exact module names first, then the longest matching package prefix.
_EXACT = {
    "tracker": "composition root",  # the facade: re-exports the public names of every layer
    "tracker._init": "composition root",  # wires services to a run; may import api and domains
    "tracker._autoregister": "composition root",  # installed by the facade (report_to hook)
    "tracker._session": "composition root",  # setup/teardown/restore: reads through Api
    "tracker._init_extras": "composition root",  # TensorBoard mirroring and code capture for init
    "tracker.__main__": "apps",  # python -m tracker: the CLI
    **dict.fromkeys(
        (
            "errors",
            "_version",
            "_settings",
            "_optional",
            "_naming",
            "_port",
            "_client",
            "_lineage",
            "_ui_link",
            "_human",
            "_html",
            "_console",
        ),
        "foundation",
    ),
    **dict.fromkeys(("_values", "_config", "_summary", "_files", "_code"), "data"),
    **dict.fromkeys(
        ("_process", "_disabled", "_distributed", "_stats", "_capture", "_upload_files", "_sweep_trial"),
        "write path",
    ),
}
LAYER_OF = {(k if k.startswith("tracker") else f"tracker.{k}"): v for k, v in _EXACT.items()}
#: Families of write-path modules (``_writer_metrics``, ``_run_base``, ``_upload``, ...).
WRITE_PATH_PREFIXES = ("tracker._run", "tracker._writer", "tracker._upload")
PACKAGE_LAYER = {
    "tracker.storage": "data",
    "tracker.media": "data",
    "tracker.system_metrics": "data",
    "tracker.api": "read path",
    "tracker.artifacts": "domains",
    "tracker.tensorboard": "composition root",  # patches writers, logs into the current run
    "tracker.sweeps": "domains",
    "tracker.integrations": "adapters",
    "tracker.server": "apps",
    "tracker.cli": "apps",
    "tracker.importers": "apps",  # tracker import: other tools' runs written as tracker runs
}

#: The sanctioned lazy upward imports (docs/architecture.md), each with its reason.
EXCEPTIONS = {
    ("tracker._run", "tracker.integrations.torch"): "Run.watch attaches torch hooks (SPEC §8)",
    ("tracker._autoregister", "tracker.integrations.huggingface"): "the report_to='tracker' hook",
}

#: Violations that exist while issue 15's areas move code (letter: the area that removes it).
#: Shrinks to empty; an entry that no longer occurs fails the test, so it must be removed.
KNOWN: dict[tuple[str, str], str] = {}


# ---------------------------------------------------------------------- the graph
def module_name(path: Path) -> str:
    """``core/api/_api.py`` -> ``tracker.api._api``; ``core/__init__.py`` -> ``tracker``."""
    for folder, package in SOURCES.items():
        base = REPO / folder
        if path.is_relative_to(base):
            parts = list(path.relative_to(base).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            return ".".join([package, *parts])
    raise ValueError(path)


def source_files() -> dict[str, Path]:
    files = {}
    for folder in SOURCES:
        for path in sorted((REPO / folder).rglob("*.py")):
            if "static" not in path.parts:
                files[module_name(path)] = path
    return files


def _targets(node: ast.AST, module: str, is_package: bool, known: set[str]) -> Iterable[str]:
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield alias.name
    elif isinstance(node, ast.ImportFrom):
        if node.level:
            base = module.split(".")
            base = base[: len(base) - node.level + (1 if is_package else 0)]
            where = ".".join([*base, node.module] if node.module else base)
        else:
            where = node.module or ""
        for alias in node.names:
            sub = f"{where}.{alias.name}"
            yield sub if sub in known else where
    elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in known:
        if "." in node.value:  # importlib.import_module("tracker.x") and the _LAZY maps
            yield node.value


def _resolve(name: str, known: set[str]) -> str | None:
    """The longest known module that ``name`` starts with (``tracker.a.b.C`` -> ``tracker.a.b``)."""
    while name:
        if name in known:
            return name
        name = name.rpartition(".")[0]
    return None


def import_graph(files: Mapping[str, Path]) -> dict[str, set[str]]:
    """Each module's imports of other modules of the package, from every import in its AST."""
    known = set(files)
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        is_package = path.name == "__init__.py"
        edges = set()
        for node in ast.walk(tree):
            for target in _targets(node, module, is_package, known):
                found = _resolve(target, known) if target.startswith("tracker") else None
                if found is not None and found != module:
                    edges.add(found)
        graph[module] = edges
    return graph


def layer_of(module: str) -> str:
    if module in LAYER_OF:
        return LAYER_OF[module]
    if module.startswith(WRITE_PATH_PREFIXES):
        return "write path"
    for prefix in sorted(PACKAGE_LAYER, key=len, reverse=True):
        if module == prefix or module.startswith(prefix + "."):
            return PACKAGE_LAYER[prefix]
    raise KeyError(f"{module} has no layer: add it to LAYER_OF or PACKAGE_LAYER (docs/architecture.md)")


def package_of(module: str) -> str:
    """The package a module belongs to (a package's ``__init__`` belongs to the package itself)."""
    files = _FILES
    if module in files and files[module].name == "__init__.py":
        return module
    return module.rpartition(".")[0]


# ---------------------------------------------------------------------- the checks
def upward_imports(
    graph: Mapping[str, set[str]], layer: Mapping[str, str] | None = None
) -> set[tuple[str, str]]:
    """Edges from a lower layer to a higher one."""
    rank = {name: i for i, name in enumerate(LAYERS)}
    find = layer.__getitem__ if layer is not None else layer_of
    return {(a, b) for a, targets in graph.items() for b in targets if rank[find(a)] < rank[find(b)]}


def strongly_connected(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components (iterative), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    component.append(top)
                    if top == node:
                        break
                out.append(sorted(component))
    return out


def a_cycle(graph: Mapping[str, set[str]], component: list[str]) -> list[str]:
    """One cycle through the first module of ``component`` (a shortest one), for the message."""
    members, start = set(component), component[0]
    parent: dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt = []
        for node in frontier:
            for child in sorted(graph.get(node, ())):
                if child == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(parent[path[-1]])
                    return [start, *reversed(path[:-1]), start]
                if child in members and child not in parent:
                    parent[child] = node
                    nxt.append(child)
        frontier = nxt
    raise AssertionError("not a cycle")


def cross_package_cycles(graph: Mapping[str, set[str]], package: Callable[[str], str]) -> list[list[str]]:
    """A cycle for each strongly connected component whose modules lie in more than one package."""
    return [
        a_cycle(graph, c)
        for c in strongly_connected(graph)
        if len(c) > 1 and len({package(m) for m in c}) > 1
    ]


def without(graph: Mapping[str, set[str]], edges: Iterable[tuple[str, str]]) -> dict[str, set[str]]:
    drop = set(edges)
    return {a: {b for b in targets if (a, b) not in drop} for a, targets in graph.items()}


_FILES = source_files()
GRAPH = import_graph(_FILES)


# ---------------------------------------------------------------------- the tree
def test_every_module_has_a_layer() -> None:
    for module in GRAPH:
        assert layer_of(module) in LAYERS


def test_no_import_runs_from_a_lower_layer_to_a_higher_one() -> None:
    found = upward_imports(GRAPH) - EXCEPTIONS.keys()
    new = sorted(found - KNOWN.keys())
    assert not new, "imports from a lower layer to a higher one:\n" + "\n".join(
        f"  {a} ({layer_of(a)}) -> {b} ({layer_of(b)})" for a, b in new
    )


def test_no_import_cycle_spans_packages() -> None:
    cycles = cross_package_cycles(without(GRAPH, KNOWN.keys() | EXCEPTIONS.keys()), package_of)
    assert not cycles, "import cycles across packages:\n" + "\n".join("  " + " -> ".join(c) for c in cycles)


def test_the_known_violations_still_occur() -> None:
    # The list only shrinks: once an import is gone, its entry goes too.
    found = upward_imports(GRAPH)
    cyclic = {m for c in strongly_connected(GRAPH) if len({package_of(x) for x in c}) > 1 for m in c}
    stale = [e for e in KNOWN if e not in found and not (e[0] in cyclic and e[1] in GRAPH[e[0]])]
    assert not stale, f"remove from KNOWN (no longer imported that way): {stale}"


def test_the_sanctioned_upward_imports_exist() -> None:
    # They are listed in docs/architecture.md and pyproject's import-linter contracts.
    for a, b in EXCEPTIONS:
        assert b in GRAPH[a], f"{a} no longer imports {b}: drop the exception everywhere"
    assert {tuple(i.split(" -> ")) for i in _contract("only adapters")["ignore_imports"]} == EXCEPTIONS.keys()


def _contract(name: str) -> dict[str, Any]:
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    return next(c for c in config["tool"]["importlinter"]["contracts"] if c["name"].startswith(name))


@pytest.mark.parametrize(("contract", "layer"), [("foundation", "foundation"), ("write-path", "write path")])
def test_the_import_linter_contracts_name_every_module_of_a_layer(contract: str, layer: str) -> None:
    # import-linter names modules one by one: a new foundation or write-path module must be added.
    listed = set(_contract(contract)["source_modules"])
    assert listed == {m for m in GRAPH if layer_of(m) == layer}


# ---------------------------------------------------------------------- self-tests
SYNTHETIC_LAYER = {"p.low": "foundation", "p.mid": "data", "q.top": "apps", "q.other": "apps"}


def test_an_upward_import_is_found() -> None:
    graph = {"p.low": {"q.top"}, "p.mid": {"p.low"}, "q.top": {"p.mid"}, "q.other": set()}
    assert upward_imports(graph, SYNTHETIC_LAYER) == {("p.low", "q.top")}
    assert upward_imports(without(graph, [("p.low", "q.top")]), SYNTHETIC_LAYER) == set()


def test_a_cycle_across_packages_is_found_and_one_inside_a_package_is_not() -> None:
    def package(m: str) -> str:
        return m.partition(".")[0]

    inside = {"p.low": {"p.mid"}, "p.mid": {"p.low"}, "q.top": set()}
    assert cross_package_cycles(inside, package) == []
    across = {"p.low": {"p.mid"}, "p.mid": {"q.top"}, "q.top": {"p.low", "q.other"}, "q.other": set()}
    assert cross_package_cycles(across, package) == [["p.low", "p.mid", "q.top", "p.low"]]


def test_imports_of_every_kind_are_read(tmp_path: Path) -> None:
    pkg = tmp_path / "core"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from . import b\n")
    (pkg / "sub" / "b.py").write_text("")
    (pkg / "c.py").write_text("")
    (pkg / "d.py").write_text("")
    (pkg / "e.py").write_text("")
    (pkg / "a.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from tracker.c import X\n"
        "def f():\n    from .sub.b import Y\n    import tracker.d\n"
        "_LAZY = {'Z': 'tracker.e'}\n"
    )
    files = {
        "tracker": pkg / "__init__.py",
        "tracker.a": pkg / "a.py",
        "tracker.c": pkg / "c.py",
        "tracker.d": pkg / "d.py",
        "tracker.e": pkg / "e.py",
        "tracker.sub": pkg / "sub" / "__init__.py",
        "tracker.sub.b": pkg / "sub" / "b.py",
    }
    graph = import_graph(files)
    assert graph["tracker.a"] == {"tracker.c", "tracker.d", "tracker.e", "tracker.sub.b"}
    assert graph["tracker.sub"] == {"tracker.sub.b"}


def test_a_module_takes_its_own_layer_or_its_packages() -> None:
    assert layer_of("tracker._naming") == "foundation"
    assert layer_of("tracker.storage._base") == "data"
    assert layer_of("tracker.server") == "apps"
    with pytest.raises(KeyError, match="has no layer"):
        layer_of("tracker._new_module")
