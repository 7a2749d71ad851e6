"""Real archive servers for the tests, on loopback: an XRootD server (Debian's
`xrootd-server`) and moto's S3 server (boto3 speaks real HTTP to it).

    xrootd_server   -> XRootDServer(url, data, port): exports /arch read-write, /ro read-only
    s3_server       -> S3Server(endpoint, bucket, client)
    small_toy(tmp)  -> a 2-job copy of examples/smoke.yaml (fast, same stages and QA)
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from .conftest import REPO


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class XRootDServer:
    host: str
    data: Path          # oss.localroot: /arch/x is data/arch/x on disk

    def url(self, path: str = "/arch") -> str:
        return f"root://{self.host}/{path}"


@contextmanager
def local_xrootd():
    """A real xrootd on a free loopback port, exporting /arch (read-write) and /ro
    (read-only) from a fresh directory; stopped and removed on exit. Also used by
    benchmarks/archive_xrootd.py."""
    root = Path(tempfile.mkdtemp(prefix="relval-xrd-"))
    data, admin = root / "data", root / "adm"
    for d in (data / "arch", data / "ro", admin):
        d.mkdir(parents=True)
    port = free_port()
    (root / "xrd.cfg").write_text(f"""
all.export /arch
all.export /ro r/o
oss.localroot {data}
xrootd.chksum adler32
all.adminpath {admin}
all.pidpath {admin}
xrd.port {port}
xrd.allow host localhost
xrd.allow host 127.0.0.1
""")
    argv = ["xrootd", "-c", str(root / "xrd.cfg"), "-l", str(root / "xrootd.log")]
    if os.geteuid() == 0:  # xrootd refuses to run as root: drop to nobody
        nobody = pwd.getpwnam("nobody")
        for path in [root, *root.rglob("*")]:
            os.chown(path, nobody.pw_uid, nobody.pw_gid)
        root.chmod(0o755)
        argv += ["-R", "nobody"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    logs = "\n".join(p.read_text()[-2000:] for p in root.glob("xrootd.log*"))
                    raise RuntimeError(f"xrootd did not start: {logs}") from None
                time.sleep(0.1)
        yield XRootDServer(f"127.0.0.1:{port}", data)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def xrootd_server():
    if shutil.which("xrootd") is None or shutil.which("xrdcp") is None:
        pytest.skip("xrootd-server / xrootd-client not installed (make setup installs them)")
    with local_xrootd() as server:
        yield server


@dataclass
class S3Server:
    endpoint: str
    bucket: str
    client: object

    def url(self, prefix: str = "relval") -> str:
        return f"s3://{self.bucket}/{prefix}?endpoint={self.endpoint}"


@pytest.fixture(scope="session")
def _moto():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_server(_moto, monkeypatch):
    import boto3

    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                        ("AWS_DEFAULT_REGION", "us-east-1")):
        monkeypatch.setenv(name, value)
    client = boto3.client("s3", endpoint_url=_moto)
    bucket = f"relval-{os.urandom(4).hex()}"
    client.create_bucket(Bucket=bucket)
    return S3Server(_moto, bucket, client)


def small_toy(tmp_path: Path, release: str = "toy/v2", reference: str = "toy/v1", jobs: int = 2,
              events: int = 400) -> Path:
    """examples/smoke.yaml with fewer jobs and events: the same chain, in seconds."""
    doc = yaml.safe_load((REPO / "examples" / "smoke.yaml").read_text())
    doc["release"], doc["reference"] = release, {"release": reference}
    doc["datasets"][0]["jobs"], doc["datasets"][0]["parameters"]["events"] = jobs, events
    for stage in doc["stages"]:
        stage["files"] = [str(REPO / f) for f in stage.get("files", [])]
    path = tmp_path / "smoke.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


TREND_RELEASES = ["toy/v1.1", "toy/v1.2", "toy/v2", "toy/v3", "toy/v4"]


@pytest.fixture(scope="session")
def trends_archive(tmp_path_factory) -> Path:
    """Five toy releases archived by `relval run --local --archive` (file://): toy/v1.1
    runs the toy/v1 reference chain too, the next four take it from the archive. toy/v2
    plants a physics regression, toy/v3 a memory one."""
    from .test_archive import relval

    if shutil.which("makeflow") is None:
        pytest.skip("makeflow not installed")
    tmp = tmp_path_factory.mktemp("trends")
    archive = tmp / "archive"
    campaign = small_toy(tmp)
    for n, release in enumerate(TREND_RELEASES):
        doc = yaml.safe_load(campaign.read_text())
        doc["release"] = release
        campaign.write_text(yaml.safe_dump(doc, sort_keys=False))
        result = relval("run", str(campaign), "--local", "--workdir", str(tmp / f"w{n}"),
                        "--archive", str(archive))
        assert result.returncode == (1 if release in ("toy/v2", "toy/v3") else 0), result.stderr
    return archive
