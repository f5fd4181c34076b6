"""``run.config``: W&B's Config semantics, inputs, filtering, redaction and persistence."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import pytest

import tracker
from tracker._init import LOG_NAME, read_log
from tracker.errors import UsageError

REDACTED = "***REDACTED***"


def _logged_config(run: tracker.Run) -> dict[str, Any]:
    return read_log(Path(run.dir) / LOG_NAME).config


@dataclasses.dataclass
class _Opt:
    name: str = "adam"
    betas: tuple[float, float] = (0.9, 0.999)


@dataclasses.dataclass
class _Hparams:
    lr: float = 0.1
    epochs: int = 3
    opt: _Opt = dataclasses.field(default_factory=_Opt)


class _ReadOnlyMapping(Mapping[str, Any]):
    """An OmegaConf-like mapping that is not a dict."""

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)


# ---------------------------------------------------------------------- access


def test_attribute_and_item_access() -> None:
    run = tracker.init(project="p", config={"lr": 0.1, "opt": {"name": "adam", "betas": [0.9, 0.99]}})
    cfg = run.config
    assert cfg.lr == 0.1
    assert cfg["lr"] == 0.1
    assert cfg.opt == {"name": "adam", "betas": [0.9, 0.99]}
    assert cfg["opt"]["betas"][1] == 0.99
    assert "lr" in cfg
    assert "nope" not in cfg
    assert len(cfg) == 2
    assert sorted(cfg) == ["lr", "opt"]
    assert dict(cfg.items()) == {"lr": 0.1, "opt": {"name": "adam", "betas": [0.9, 0.99]}}
    assert cfg.as_dict() == {"lr": 0.1, "opt": {"name": "adam", "betas": [0.9, 0.99]}}
    assert cfg.get("nope", 5) == 5
    assert cfg.get("lr") == 0.1
    with pytest.raises(AttributeError, match="config has no key 'nope'"):
        _ = cfg.nope
    with pytest.raises(KeyError):
        _ = cfg["nope"]


def test_set_by_attribute_item_update_and_kwargs() -> None:
    run = tracker.init(project="p", config={"lr": 0.1})
    run.config.bs = 32
    run.config["wd"] = 0.01
    run.config.update({"lr": 0.2}, allow_val_change=True)
    run.config.update(epochs=5)
    assert run.config.as_dict() == {"lr": 0.2, "bs": 32, "wd": 0.01, "epochs": 5}
    run.finish()
    assert _logged_config(run) == {"lr": 0.2, "bs": 32, "wd": 0.01, "epochs": 5}


def test_setdefaults_only_adds_missing_keys() -> None:
    run = tracker.init(project="p", config={"lr": 0.1})
    run.config.setdefaults({"lr": 9.0, "epochs": 3})
    assert run.config.lr == 0.1
    assert run.config.epochs == 3
    run.finish()
    assert _logged_config(run) == {"lr": 0.1, "epochs": 3}


def test_nested_values_stay_nested_and_plain() -> None:
    run = tracker.init(
        project="p",
        config={
            "model": {"layers": [64, 32], "act": "relu", "drop": {"p": 0.1}},
            "arr": np.array([1, 2]),
            "f32": np.float32(0.5),
            "tup": (1, 2),
            "path": Path("/data/x"),
        },
    )
    expected = {
        "model": {"layers": [64, 32], "act": "relu", "drop": {"p": 0.1}},
        "arr": [1, 2],
        "f32": 0.5,
        "tup": [1, 2],
        "path": "/data/x",
    }
    assert run.config.as_dict() == expected
    assert type(run.config.f32) is float
    run.finish()
    assert _logged_config(run) == expected


# ---------------------------------------------------------------------- inputs


def test_dataclass_input_including_nested_dataclass() -> None:
    run = tracker.init(project="p", config=_Hparams())
    assert run.config.as_dict() == {"lr": 0.1, "epochs": 3, "opt": {"name": "adam", "betas": [0.9, 0.999]}}
    run.config.update(_Opt(name="sgd"))
    assert run.config.name == "sgd"


def test_argparse_namespace_input() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--layers", type=int, nargs="+", default=[1])
    args = parser.parse_args(["--lr", "0.5", "--layers", "4", "8"])
    run = tracker.init(project="p", config=args)
    assert run.config.as_dict() == {"lr": 0.5, "layers": [4, 8]}
    run.config.update(argparse.Namespace(extra=True))
    run.finish()
    assert _logged_config(run) == {"lr": 0.5, "layers": [4, 8], "extra": True}


def test_mapping_input() -> None:
    run = tracker.init(project="p", config=_ReadOnlyMapping({"a": 1, "nested": _ReadOnlyMapping({"b": 2})}))
    assert run.config.as_dict() == {"a": 1, "nested": {"b": 2}}
    run.config.update(MappingProxyType({"c": 3}))
    assert run.config.c == 3


def test_yaml_file_in_wandb_config_defaults_style(tmp_path: Path) -> None:
    path = tmp_path / "config-defaults.yaml"
    path.write_text(
        "lr:\n  desc: learning rate\n  value: 0.1\n"
        "epochs:\n  value: 5\n"
        "plain: 3\n"
        "nested:\n  a: 1\n  b: [1, 2]\n"
    )
    run = tracker.init(project="p", config=str(path))
    expected = {"lr": 0.1, "epochs": 5, "plain": 3, "nested": {"a": 1, "b": [1, 2]}}
    assert run.config.as_dict() == expected
    run.finish()
    assert _logged_config(run) == expected
    run2 = tracker.init(project="p", config=path)  # a Path works too
    assert run2.config.lr == 0.1


def test_config_include_and_exclude_keys() -> None:
    cfg = {"a": 1, "b": 2, "c": 3}
    run = tracker.init(project="p", config=cfg, config_include_keys=["a", "c"])
    assert run.config.as_dict() == {"a": 1, "c": 3}
    run.finish()
    assert _logged_config(run) == {"a": 1, "c": 3}
    run = tracker.init(project="p", config=cfg, config_exclude_keys=["b"])
    assert run.config.as_dict() == {"a": 1, "c": 3}
    run.finish()
    assert _logged_config(run) == {"a": 1, "c": 3}


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            5,
            r"init\(config=\.\.\.\) must be a dict, an object with attributes \(__dict__\), a dataclass, "
            r".* not int",
        ),
        ([1, 2], r"not list"),
        ("params.txt", r"a string config must be a YAML file path"),
        ("missing.yaml", r"init\(config=\.\.\.\): no such file: missing\.yaml"),
        ({1: "x"}, r"init\(config=\.\.\.\) keys must be strings; got int 1"),
    ],
)
def test_invalid_config_input_raises(config: Any, message: str, root: Path) -> None:
    with pytest.raises(UsageError, match=message):
        tracker.init(project="p", config=config)
    # Nothing was started or written: no half-made run is left behind.
    assert tracker.run is None
    assert not (root / "projects").exists()


def test_yaml_that_is_not_a_mapping_raises(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- 1\n- 2\n")
    with pytest.raises(UsageError, match="must be a mapping at the top level"):
        tracker.init(project="p", config=str(path))


def test_update_with_invalid_input_raises() -> None:
    run = tracker.init(project="p")
    with pytest.raises(UsageError, match=r"config\.update\(\) input must be a dict.*not int"):
        run.config.update(5)
    with pytest.raises(UsageError, match="config keys must be strings; got int 1"):
        run.config.update({1: "x"})
    assert len(run.config) == 0


# ---------------------------------------------------------------------- secrets


def test_secret_looking_string_values_are_redacted_numbers_are_not() -> None:
    run = tracker.init(
        project="p",
        config={
            "api_key": "sk-123",
            "token": "abc",
            "password": "hunter2",
            "db": {"password": "pw", "host": "localhost"},
            "token_count": 512,
            "key_dim": 64,
            "tokenizer": "bpe",
            "lr": 0.1,
        },
    )
    run.config.update({"hf_token": "hf_xyz"})
    expected = {
        "api_key": REDACTED,
        "token": REDACTED,
        "password": REDACTED,
        "db": {"password": REDACTED, "host": "localhost"},
        "token_count": 512,
        "key_dim": 64,
        "tokenizer": "bpe",
        "lr": 0.1,
        "hf_token": REDACTED,
    }
    assert run.config.as_dict() == expected
    run.finish()
    assert _logged_config(run) == expected
    raw = (Path(run.dir) / LOG_NAME).read_bytes()
    for secret in (b"sk-123", b"hunter2", b"hf_xyz"):
        assert secret not in raw


# ---------------------------------------------------------------------- persistence & snapshots


def test_config_changes_after_init_are_in_the_log() -> None:
    run = tracker.init(project="p", config={"lr": 0.1, "drop": 0.5})
    run.config.lr = 0.2
    run.config["bs"] = 16
    run.config.update({"opt": {"name": "sgd"}})
    del run.config["drop"]
    run.log({"loss": 1.0})
    run.finish()
    assert _logged_config(run) == {"lr": 0.2, "bs": 16, "opt": {"name": "sgd"}}


def test_config_snapshots_inputs_at_call_time() -> None:
    cfg = {"layers": [64, 32], "opt": {"lr": 0.1, "betas": [0.9]}, "arr": np.array([1.0, 2.0])}
    run = tracker.init(project="p", config=cfg)
    later = {"aug": {"flip": True}, "sizes": [1, 2]}
    run.config.update(later)
    cfg["layers"].append(16)
    cfg["opt"]["lr"] = 9.0
    cfg["opt"]["betas"][0] = 0.0
    cfg["arr"][0] = -1.0
    cfg["new"] = 1
    later["aug"]["flip"] = False
    later["sizes"].append(3)
    expected = {
        "layers": [64, 32],
        "opt": {"lr": 0.1, "betas": [0.9]},
        "arr": [1.0, 2.0],
        "aug": {"flip": True},
        "sizes": [1, 2],
    }
    assert run.config.as_dict() == expected
    run.finish()
    assert _logged_config(run) == expected


def test_module_level_config_follows_the_current_run() -> None:
    run = tracker.init(project="p", config={"lr": 0.1})
    tracker.config.update({"epochs": 2})
    tracker.config.bs = 4
    assert tracker.config.lr == 0.1
    assert tracker.config["bs"] == 4
    tracker.finish()
    assert _logged_config(run) == {"lr": 0.1, "epochs": 2, "bs": 4}
