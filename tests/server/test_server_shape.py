"""The server package keeps its shape (issue 15): small functions, a small app factory,
modules under 600 lines, and endpoints that are module-level functions (no closures).

Read from the source with ``ast``, so a long factory or an endpoint defined inside one
fails here whatever it does at runtime.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

SERVER = Path(__file__).resolve().parents[2] / "core" / "server"
#: The longest function (lines from ``def`` to its last line, docstring included).
MAX_FUNCTION = 60
#: ``_app.py`` stays below this many lines: it only assembles the app.
MAX_APP = 200
#: Every module of the package stays below this many lines.
MAX_MODULE = 600


def modules() -> list[Path]:
    found = sorted(SERVER.glob("*.py"))
    assert len(found) > 10, SERVER  # the package is where this test thinks it is
    return found


def long_functions(source: str, limit: int) -> list[tuple[str, int, int]]:
    """``(name, line, length)`` of every function, method or nested function over ``limit`` lines."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            assert node.end_lineno is not None
            length = node.end_lineno - node.lineno + 1
            if length > limit:
                out.append((node.name, node.lineno, length))
    return out


@pytest.mark.parametrize("path", modules(), ids=lambda p: p.name)
def test_functions_are_short(path: Path) -> None:
    found = long_functions(path.read_text(encoding="utf-8"), MAX_FUNCTION)
    assert not found, f"{path.name}: functions over {MAX_FUNCTION} lines (name, line, length): {found}"


@pytest.mark.parametrize("path", modules(), ids=lambda p: p.name)
def test_modules_are_small(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines < MAX_MODULE, f"{path.name} has {lines} lines (split it)"


def test_app_factory_is_small() -> None:
    lines = len((SERVER / "_app.py").read_text(encoding="utf-8").splitlines())
    assert lines < MAX_APP, f"_app.py has {lines} lines: it should only assemble the app"


def test_the_checks_can_fail() -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION))
    assert long_functions(f"def f():\n{body}\n", MAX_FUNCTION) == [("f", 1, MAX_FUNCTION + 1)]
    nested = f"def outer():\n    def inner():\n{body.replace('    ', '        ')}\n    return inner\n"
    assert [name for name, _, _ in long_functions(nested, MAX_FUNCTION)] == ["outer", "inner"]


def endpoints(app: Any) -> list[tuple[str, str]]:
    """``(path format, endpoint qualname)`` of every route of ``app`` that has an endpoint."""
    return [
        (route.path_format, route.endpoint.__qualname__)
        for route in app.router.routes
        if getattr(route, "endpoint", None) is not None
        and route.endpoint.__module__.startswith("tracker.server")
    ]


def test_endpoints_are_module_level_functions(root: Path, team: Any) -> None:
    from tracker.server import create_app

    for app in (create_app(root, token="t"), team.app):
        found = endpoints(app)
        assert len(found) > 20
        closures = [(path, name) for path, name in found if "<locals>" in name or "." in name]
        assert not closures, f"endpoints defined inside a function or class: {closures}"
