"""A real S3-compatible server for the tests (a pytest plugin, see ``tests/conftest.py``).

``s3_server`` (session) starts moto's standalone server (``ThreadedMotoServer``, werkzeug
in a daemon thread) on 127.0.0.1 with a free port, and sets fake AWS credentials in the
environment for the session only (restored afterwards). ``s3_url`` (function) creates a
fresh bucket and returns ``s3://<bucket>/<prefix>``, with ``TRACKER_S3_ENDPOINT_URL``
pointing at the server for that test; ``s3_env`` is the environment a subprocess (a
``tracker server --store s3://...``) needs to reach it.

moto and s3fs come with the test dependency group; in the unit session (no extras) these
fixtures are never requested.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

_FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}
_buckets = itertools.count()


@dataclass(frozen=True)
class S3Server:
    """The running server: its endpoint URL and the environment that reaches it."""

    endpoint: str

    @property
    def env(self) -> dict[str, str]:
        """Variables a subprocess needs: endpoint and the fake credentials."""
        return {"TRACKER_S3_ENDPOINT_URL": self.endpoint, **_FAKE_CREDENTIALS}


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """moto's S3 server on 127.0.0.1 (free port) with fake credentials in the environment."""
    from moto.server import ThreadedMotoServer

    with pytest.MonkeyPatch.context() as mp:
        for name, value in _FAKE_CREDENTIALS.items():
            mp.setenv(name, value)
        for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
            mp.delenv(name, raising=False)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        try:
            yield S3Server(f"http://{host}:{port}")
        finally:
            server.stop()


@pytest.fixture
def s3_url(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh, empty bucket: ``s3://<bucket>/objects``; the store's endpoint is set for this test."""
    import boto3

    monkeypatch.setenv("TRACKER_S3_ENDPOINT_URL", s3_server.endpoint)
    bucket = f"tracker-test-{next(_buckets)}"
    boto3.client("s3", endpoint_url=s3_server.endpoint, region_name="us-east-1").create_bucket(Bucket=bucket)
    return f"s3://{bucket}/objects"
