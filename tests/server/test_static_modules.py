"""The dashboard's ES modules (``tracker/server/static``): size, layering, preloads, serving.

The layers, checked over every module's import lines: ``js/*.js`` (the API client, URL
helpers, formatting, templates and the in-app link, run rows) import no component and no
page; ``js/components/`` import no page; ``js/pages/`` are one module per page; ``app.js``
is the entry (header, routes, pages loaded on demand). Every module stays under
``MAX_LINES``, every relative import resolves to a file, every bare import is in the page's
import map, and ``index.html`` preloads exactly what the entry imports statically.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = pytest.importorskip("tomli")

REPO = Path(__file__).resolve().parents[2]
STATIC = REPO / "core" / "server" / "static"
MAX_LINES = 400
IMPORT = re.compile(
    r"""^\s*(?:import|export)\b[^"';]*?\bfrom\s*["']([^"']+)["']|^\s*import\s*["']([^"']+)["']""", re.M
)
DYNAMIC = re.compile(r"""\bimport\s*\(\s*["']([^"']+)["']""")


def modules() -> list[Path]:
    """Every first-party module: the entry and everything under ``js/`` (not ``vendor/``)."""
    return [STATIC / "app.js", *sorted((STATIC / "js").rglob("*.js"))]


def static_imports(text: str) -> list[str]:
    """The specifiers of a module's ``import ... from``, ``import "..."`` and ``export ... from``."""
    return [a or b for a, b in IMPORT.findall(text)]


def imports(text: str) -> list[str]:
    """Every specifier a module imports: static ones and ``import()``."""
    return static_imports(text) + DYNAMIC.findall(text)


def layer(path: Path) -> str:
    """``entry``, ``lib`` (js/*.js), ``components``, ``pages`` or ``vendor``."""
    rel = path.resolve().relative_to(STATIC.resolve())
    if rel.parts[0] == "vendor":
        return "vendor"
    if rel.parts[0] != "js":
        return "entry"
    return rel.parts[1] if len(rel.parts) > 2 else "lib"


# What each layer may import (besides the vendored libraries through the import map).
ALLOWED = {
    "entry": {"lib", "components", "pages"},
    "pages": {"lib", "components"},
    "components": {"lib", "components"},
    "lib": {"lib"},
}


def import_map() -> dict[str, str]:
    html = (STATIC / "index.html").read_text(encoding="utf-8")
    (body,) = re.findall(r'<script type="importmap">(.*?)</script>', html, re.S)
    return json.loads(body)["imports"]


def layering_problems(path: Path, text: str) -> list[str]:
    """Imports of ``text`` (the source of ``path``) that break the layers or resolve to nothing."""
    bare = import_map()
    problems = []
    for spec in imports(text):
        if not spec.startswith("."):
            if spec not in bare:
                problems.append(f"{spec}: not in the import map")
            continue
        target = (path.parent / spec).resolve()
        if not target.is_file():
            problems.append(f"{spec}: no such module")
        elif layer(target) not in ALLOWED[layer(path)]:
            problems.append(f"{spec}: a {layer(path)} module imports a {layer(target)} module")
    return problems


def test_there_are_modules_in_each_layer() -> None:
    layers = {layer(p) for p in modules()}
    assert layers == {"entry", "lib", "components", "pages"}


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(STATIC)))
def test_module_is_small(path: Path) -> None:
    n = len(path.read_text(encoding="utf-8").splitlines())
    assert n <= MAX_LINES, f"{path.name}: {n} lines (split it: at most {MAX_LINES})"


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(STATIC)))
def test_module_imports_follow_the_layers(path: Path) -> None:
    assert layering_problems(path, path.read_text(encoding="utf-8")) == []


def test_layer_check_catches_upward_imports() -> None:
    component = STATIC / "js" / "components" / "chart.js"
    lib = STATIC / "js" / "api.js"
    assert layering_problems(component, 'import { RunPage } from "../pages/run.js";\n') == [
        "../pages/run.js: a components module imports a pages module"
    ]
    assert layering_problems(lib, 'import { RunsTable } from "./components/runs-table.js";') == [
        "./components/runs-table.js: a lib module imports a components module"
    ]
    assert layering_problems(lib, 'const p = import("./pages/run.js");') == [
        "./pages/run.js: a lib module imports a pages module"
    ]
    assert layering_problems(component, 'import {\n  Nope,\n} from "./nope.js";') == [
        "./nope.js: no such module"
    ]
    assert layering_problems(component, 'import x from "lodash";') == ["lodash: not in the import map"]
    assert layering_problems(component, 'export { RunsTable } from "./runs-table.js";') == []


def static_closure(entry: Path) -> set[Path]:
    """The modules ``entry`` loads before it runs: its static imports, transitively."""
    found: set[Path] = set()
    todo = [entry.resolve()]
    while todo:
        path = todo.pop()
        if path in found:
            continue
        found.add(path)
        specs = static_imports(path.read_text(encoding="utf-8"))
        todo.extend((path.parent / s).resolve() for s in specs if s.startswith("."))
    return found


def test_index_preloads_what_the_entry_imports() -> None:
    """The first load fetches every module at once (no import-by-import waterfall) and no more."""
    html = (STATIC / "index.html").read_text(encoding="utf-8")
    preloaded = set(re.findall(r'<link rel="modulepreload" href="/static/([^"]+)">', html))
    first_party = {p.relative_to(STATIC.resolve()).as_posix() for p in static_closure(STATIC / "app.js")}
    vendored = {v.removeprefix("/static/") for v in import_map().values()}
    assert preloaded == first_party | vendored
    assert "js/pages/run.js" not in first_party  # loaded on demand
    # The only inline script is the import map (its hash is in the page's CSP).
    assert re.findall(r"<script(?: [^>]*)?>", html) == [
        '<script type="importmap">',
        '<script type="module" src="/static/app.js">',
    ]


def test_every_module_is_reachable_from_the_entry() -> None:
    reachable: set[Path] = set()
    todo = [(STATIC / "app.js").resolve()]
    while todo:
        path = todo.pop()
        if path not in reachable:
            reachable.add(path)
            todo.extend(
                (path.parent / s).resolve()
                for s in imports(path.read_text(encoding="utf-8"))
                if s.startswith(".")
            )
    assert {p.resolve() for p in modules()} <= reachable


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(STATIC)))
def test_module_needs_no_unsafe_eval(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert not re.search(r"\beval\s*\(|\bnew\s+Function\s*\(|\bset(?:Timeout|Interval)\s*\(\s*[\"'`]", text)


def test_package_data_ships_the_modules() -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    globs = pyproject["tool"]["setuptools"]["package-data"]["tracker.server"]
    shipped = {p for g in globs for p in (REPO / "core" / "server").glob(g) if p.is_file()}
    assert set(modules()) <= shipped


def test_modules_are_served_as_javascript(tmp_path: Path) -> None:
    pytest.importorskip("fastapi")
    pytest.importorskip("httpx")
    from fastapi.testclient import TestClient

    from tracker.server import create_app

    client = TestClient(create_app(tmp_path, token=None), base_url="http://127.0.0.1:8765")
    for path in modules():
        res = client.get("/static/" + path.relative_to(STATIC).as_posix())
        assert res.status_code == 200, path
        assert res.headers["content-type"] == "text/javascript; charset=utf-8", path
        assert res.headers["x-content-type-options"] == "nosniff"
        assert res.text == path.read_text(encoding="utf-8")
