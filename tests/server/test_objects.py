"""The object store contract (tracker.storage._objects), run against a local folder and real S3 (moto)."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest

from tracker.errors import MissingExtraError, StorageError, UsageError
from tracker.storage._objects import LocalObjectStore, ObjectStore, blob_key, open_store


class ObjectStoreContract:
    """Every store passes these; subclasses provide the ``store`` fixture."""

    def test_put_get_exists_size(self, store: ObjectStore) -> None:
        assert not store.exists("a/b.bin")
        store.put("a/b.bin", b"hello")
        assert store.exists("a/b.bin")
        assert store.get("a/b.bin") == b"hello"
        assert store.size("a/b.bin") == 5
        store.put("a/b.bin", b"replaced!")  # a put replaces the object as a whole
        assert store.get("a/b.bin") == b"replaced!"
        assert store.size("a/b.bin") == 9

    def test_open_streams_the_bytes(self, store: ObjectStore) -> None:
        data = bytes(range(256)) * 4096  # 1 MiB
        store.put("big", data)
        with store.open("big") as f:
            head = f.read(10)
            rest = f.read()
        assert head + rest == data

    def test_put_file_and_get_file(self, store: ObjectStore, tmp_path: Path) -> None:
        src = tmp_path / "src.bin"
        src.write_bytes(b"x" * 5000)
        store.put_file("files/one", src)
        assert src.exists()
        store.put_file("files/two", src, move=True)
        assert not src.exists()
        dest = tmp_path / "out" / "copy.bin"
        store.get_file("files/two", dest)
        assert dest.read_bytes() == b"x" * 5000
        assert sorted(p.name for p in dest.parent.iterdir()) == ["copy.bin"]  # no temporary left

    def test_list_and_delete(self, store: ObjectStore) -> None:
        for key in ("blobs/sha256/aa/1", "blobs/sha256/bb/2", "other/3"):
            store.put(key, key.encode())
        assert store.list() == ["blobs/sha256/aa/1", "blobs/sha256/bb/2", "other/3"]
        assert store.list("blobs/") == ["blobs/sha256/aa/1", "blobs/sha256/bb/2"]
        assert store.list("nothing/") == []
        assert store.delete("other/3") is True
        assert store.delete("other/3") is False
        assert not store.exists("other/3")
        assert store.list() == ["blobs/sha256/aa/1", "blobs/sha256/bb/2"]

    def test_missing_objects_are_storage_errors_naming_the_key(self, store: ObjectStore) -> None:
        for read in (store.get, store.size, store.open):
            with pytest.raises(StorageError, match="missing/key") as info:
                read("missing/key")
            assert info.value.path == "missing/key"

    @pytest.mark.parametrize(
        "key", ["", "/abs", "a//b", "a/../b", "..", "./a", "a\\b", "a\x00b", "a/", "a/."]
    )
    def test_bad_keys_are_refused(self, store: ObjectStore, key: str) -> None:
        with pytest.raises(UsageError, match="object key"):
            store.put(key, b"x")
        with pytest.raises(UsageError, match="object key"):
            store.exists(key)

    def test_blob_keys(self, store: ObjectStore) -> None:
        data = b"content-addressed"
        sha = hashlib.sha256(data).hexdigest()
        store.put(blob_key(sha), data)
        assert store.list("blobs/") == [f"blobs/sha256/{sha[:2]}/{sha}"]
        assert store.get(f"blobs/sha256/{sha[:2]}/{sha}") == data

    def test_check_passes(self, store: ObjectStore) -> None:
        store.check()


class TestLocal(ObjectStoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> ObjectStore:
        return open_store(tmp_path / "objects")

    def test_files_live_under_the_folder_and_temporaries_are_hidden(self, tmp_path: Path) -> None:
        store = open_store(f"file://{tmp_path / 'objects'}")
        assert isinstance(store, LocalObjectStore)
        store.put("k/v", b"1")
        assert (tmp_path / "objects" / "k" / "v").read_bytes() == b"1"
        assert store.list() == ["k/v"]  # the .tmp folder is never listed
        assert list((tmp_path / "objects" / ".tmp").iterdir()) == []

    def test_unusable_folder_is_a_clear_error(self, tmp_path: Path) -> None:
        (tmp_path / "file").write_text("not a folder")
        with pytest.raises(StorageError, match="--store"):
            open_store(tmp_path / "file" / "objects").check()


class TestS3(ObjectStoreContract):
    @pytest.fixture
    def store(self, s3_url: str) -> ObjectStore:
        store = open_store(s3_url)
        assert store.url == s3_url
        return store

    def test_objects_live_under_the_prefix(self, s3_url: str, s3_server: Any) -> None:
        import boto3

        store = open_store(s3_url)
        store.put("k/v", b"1")
        bucket = s3_url[5:].split("/")[0]
        client = boto3.client("s3", endpoint_url=s3_server.endpoint, region_name="us-east-1")
        listed = client.list_objects_v2(Bucket=bucket)["Contents"]
        assert [o["Key"] for o in listed] == ["objects/k/v"]

    def test_missing_bucket_is_a_clear_error(self, s3_url: str) -> None:
        with pytest.raises(StorageError, match="does not exist; create it first"):
            open_store("s3://no-such-bucket-here/x").check()


def test_missing_s3fs_names_the_extra() -> None:
    with patch.dict(sys.modules, {"s3fs": None}), pytest.raises(MissingExtraError) as info:
        open_store("s3://bucket/prefix")
    assert "pip install 'tracker[server]'" in str(info.value)


@pytest.mark.parametrize("bad", ["", "s3://", "s3:///"])
def test_malformed_urls(bad: str) -> None:
    with pytest.raises(UsageError, match="object store"):
        open_store(bad)


@pytest.mark.parametrize("bad", ["abc", "A" * 64, "0" * 63, None])
def test_blob_key_wants_a_sha256(bad: object) -> None:
    with pytest.raises(UsageError, match="SHA-256"):
        blob_key(bad)  # type: ignore[arg-type]
