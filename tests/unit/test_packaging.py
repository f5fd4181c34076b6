"""The explicit package list in pyproject.toml matches the source folders (STYLE §2.3)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = pytest.importorskip("tomli")

REPO = Path(__file__).resolve().parents[2]
MAPPING = {
    "core": "tracker",
    "integrations": "tracker.integrations",
    "system_metrics": "tracker.system_metrics",
}


def _pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def test_packages_list_matches_source_tree() -> None:
    found = set()
    for folder, dotted in MAPPING.items():
        for init in (REPO / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(REPO / folder)
            if "static" in rel.parts:
                continue
            found.add(".".join([dotted, *rel.parts]) if rel.parts else dotted)
    assert set(_pyproject()["tool"]["setuptools"]["packages"]) == found


def test_package_dir_mapping() -> None:
    assert _pyproject()["tool"]["setuptools"]["package-dir"] == {v: k for k, v in MAPPING.items()}


def test_every_adapter_has_an_extra() -> None:
    extras = _pyproject()["project"]["optional-dependencies"]
    names = {"huggingface": "hf"}
    for module in (REPO / "integrations").glob("*.py"):
        if module.name.startswith("_") or module.name == "__init__.py":
            continue
        stem = module.stem
        assert names.get(stem, stem) in extras or stem == "pytorch_lightning", stem


def test_all_extra_covers_every_extra() -> None:
    extras = _pyproject()["project"]["optional-dependencies"]
    (all_spec,) = extras["all"]
    inside = set(all_spec.split("[", 1)[1].rstrip("]").split(","))
    # [import] stays out on purpose: with wandb installed, HF's report_to="all" starts W&B.
    assert inside == set(extras) - {"all", "import"}


def test_console_script_and_typed_marker() -> None:
    assert _pyproject()["project"]["scripts"] == {"tracker": "tracker.cli:main"}
    assert (REPO / "core" / "py.typed").is_file()
