from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tracker import _settings


def _mounts(tmp_path: Path, fstype: str) -> Path:
    table = tmp_path / "mounts"
    table.write_text(f"/dev/vda / ext4 rw 0 0\nserver:/export {tmp_path}/shared {fstype} rw 0 0\n")
    return table


@pytest.mark.parametrize(("fstype", "network"), [("nfs4", True), ("lustre", True), ("ext4", False)])
def test_filesystem_type_uses_the_longest_mount(tmp_path: Path, fstype: str, network: bool) -> None:
    (tmp_path / "shared" / "runs").mkdir(parents=True)
    found = _settings.filesystem_type(
        tmp_path / "shared" / "runs" / "x", mounts=str(_mounts(tmp_path, fstype))
    )
    assert found == fstype
    assert (found in _settings._NETWORK_FS) is network


def test_network_root_moves_index_to_local_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    table = _mounts(tmp_path, "nfs")
    real = _settings.filesystem_type
    monkeypatch.setattr(_settings, "filesystem_type", lambda p: real(p, mounts=str(table)))
    monkeypatch.setattr(_settings, "_index_dirs", {})
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    with caplog.at_level(logging.INFO, logger="tracker"):
        chosen = _settings.index_dir(shared)
        again = _settings.index_dir(shared)
    assert chosen == again
    assert str(chosen).startswith(str(tmp_path / "home" / ".cache" / "tracker" / "index"))
    assert sum("local disk" in r.getMessage() for r in caplog.records) == 1
    monkeypatch.setenv("TRACKER_INDEX_DIR", str(tmp_path / "explicit"))
    assert _settings.index_dir(shared) == tmp_path / "explicit"


def test_local_root_keeps_index_in_the_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_settings, "_index_dirs", {})
    assert _settings.index_dir(tmp_path) == tmp_path
