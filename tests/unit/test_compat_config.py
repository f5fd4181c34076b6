"""Issue 19 point 3: ``init(config=...)`` and ``config.update(...)`` take what W&B takes: any
object with ``__dict__`` (``types.SimpleNamespace``, argparse), a YAML file path (W&B's
``config-defaults.yaml`` value-dict format too) and absl-style flags.
"""

from __future__ import annotations

import argparse
import types
from pathlib import Path
from typing import Any

import pytest

import tracker
from tracker.errors import UsageError

QUIET = {"disable_git": True, "stats_interval": 0, "capture_packages": False}


class FakeFlagValues:
    """What ``absl.flags.FLAGS`` offers: ``flag_values_dict()`` (absl is not a dependency)."""

    def __init__(self, **values: Any) -> None:
        self._values = values

    def flag_values_dict(self) -> dict[str, Any]:
        return dict(self._values)


class Hparams:
    def __init__(self) -> None:
        self.lr = 0.01
        self.layers = [64, 64]


def _config_of(root: Path, project: str = "cfg") -> dict[str, Any]:
    [run] = tracker.Api(root).runs(project)
    return dict(run.config)


@pytest.mark.parametrize(
    "config",
    [
        types.SimpleNamespace(lr=0.01, layers=[64, 64]),
        Hparams(),
        argparse.Namespace(lr=0.01, layers=[64, 64]),
        FakeFlagValues(lr=0.01, layers=[64, 64]),
    ],
    ids=["SimpleNamespace", "plain object", "argparse", "absl flags"],
)
def test_init_takes_objects(root: Path, config: Any) -> None:
    run = tracker.init(project="cfg", config=config, settings=QUIET)
    assert dict(run.config) == {"lr": 0.01, "layers": [64, 64]}
    run.finish()
    assert _config_of(root) == {"lr": 0.01, "layers": [64, 64]}


def test_config_update_takes_the_same(root: Path, tmp_path: Path) -> None:
    path = tmp_path / "extra.yml"
    path.write_text("dropout:\n  desc: keep probability\n  value: 0.1\nbatch: 32\n")
    run = tracker.init(project="cfg", settings=QUIET)
    run.config.update(types.SimpleNamespace(lr=0.5))
    run.config.update(FakeFlagValues(seed=3))
    run.config.update(str(path))
    run.config.setdefaults(types.SimpleNamespace(lr=9.0, momentum=0.9))
    run.finish()
    assert _config_of(root) == {"lr": 0.5, "seed": 3, "dropout": 0.1, "batch": 32, "momentum": 0.9}


def test_a_yaml_path_in_wandb_format(root: Path, tmp_path: Path) -> None:
    path = tmp_path / "config-defaults.yaml"
    path.write_text(
        "wandb_version: 1\n_wandb:\n  value: {}\nlr:\n  desc: learning rate\n  value: 0.3\nepochs: 2\n"
    )
    tracker.init(project="cfg", config=str(path), settings=QUIET).finish()
    assert _config_of(root) == {"lr": 0.3, "epochs": 2}


def test_config_defaults_yaml_in_the_working_directory(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "config-defaults.yaml").write_text("lr:\n  value: 0.3\nepochs: 2\n")
    monkeypatch.chdir(tmp_path)
    tracker.init(project="cfg", config={"epochs": 5}, settings=QUIET).finish()
    assert _config_of(root) == {"lr": 0.3, "epochs": 5}  # init's own config wins


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("not-a-file.txt", "a string config must be a YAML file path"),
        (42, "must be a dict, an object with attributes"),
        ("missing.yaml", "no such file"),
    ],
)
def test_bad_configs_are_refused(root: Path, config: Any, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        tracker.init(project="cfg", config=config, settings=QUIET)


def test_config_paths_from_settings_or_wandb_variable(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a.yaml").write_text("lr: 0.1\nbatch: 8\n")
    (tmp_path / "b.yml").write_text("batch: 16\n")
    monkeypatch.setenv("WANDB_CONFIG_PATHS", f"{tmp_path / 'a.yaml'},{tmp_path / 'b.yml'}")
    tracker.init(project="cfg", settings=QUIET).finish()
    assert _config_of(root) == {"lr": 0.1, "batch": 16}
    tracker.init(project="cfg2", settings={**QUIET, "config_paths": [str(tmp_path / "b.yml")]}).finish()
    assert _config_of(root, "cfg2") == {"batch": 16}
