"""A real sshd on 127.0.0.1 for the submission tests and benchmark.

It gets a temporary host key, an authorized_keys file holding a temporary client key,
and a free port; nothing under ~/.ssh is read or written (clients get --ssh-config
/dev/null and --identity, and the host key pin lives in a private known_hosts file).
"""

from __future__ import annotations

import getpass
import json
import os
import shutil
import socket
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

from relval.workflows.remote import HostKey, SshTarget
from relval.workflows.submit import HeadOptions

SSHD = "/usr/sbin/sshd"  # sshd insists on an absolute path


def sshd_available() -> bool:
    return os.path.exists(SSHD) and bool(shutil.which("ssh")) and bool(shutil.which("rsync"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def keygen(path: Path, kind: str) -> str:
    """A new key pair at path; returns the public key line."""
    subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", "relval-test", "-f", str(path)],
                   check=True, capture_output=True)
    return Path(str(path) + ".pub").read_text().strip()


class Server:
    """Keys and address of the test server, and the client options that reach it."""

    def __init__(self, root: Path, host_private_key: str | None = None):
        self.root = root
        self.host = "127.0.0.1"
        self.user = getpass.getuser()
        self.port = free_port()
        if host_private_key is None:
            self.host_key = keygen(root / "host_ed25519", "ed25519")
        else:  # a given host key, e.g. the one a stack generated for its head
            (root / "host_ed25519").write_text(host_private_key)
            (root / "host_ed25519").chmod(0o600)
            self.host_key = subprocess.run(["ssh-keygen", "-y", "-f", str(root / "host_ed25519")],
                                           check=True, capture_output=True, text=True).stdout.strip()
        self.client_key = root / "client_ed25519"
        (root / "authorized_keys").write_text(keygen(self.client_key, "ed25519"))
        self.other_key = keygen(root / "other_ed25519", "ed25519")     # a wrong pin
        self.ecdsa_key = keygen(root / "other_ecdsa", "ecdsa")         # a pin of another type

    def config(self) -> str:
        return "\n".join([
            f"Port {self.port}", "ListenAddress 127.0.0.1",
            f"HostKey {self.root / 'host_ed25519'}",
            f"AuthorizedKeysFile {self.root / 'authorized_keys'}",
            f"PidFile {self.root / 'sshd.pid'}",
            "UsePAM no", "StrictModes no", "PermitRootLogin yes", "PasswordAuthentication no",
            "KbdInteractiveAuthentication no", "UseDNS no", "PrintMotd no",
            "MaxStartups 50", "MaxSessions 50", ""])

    def outputs(self, path: Path, key: str | None = None) -> Path:
        """A stack outputs file, as `pulumi stack output --json` would write it."""
        path.write_text(json.dumps({"headAddress": self.host, "headSshPort": self.port,
                                    "headHostPublicKey": key or self.host_key,
                                    "release": "toy/v2"}))
        return path

    def head(self, outputs: Path, identity: Path | None = None) -> HeadOptions:
        return HeadOptions(outputs_file=outputs, ssh_user=self.user,
                           identity=identity or self.client_key, ssh_config=Path("/dev/null"))

    def target(self, key: str | None = None, port: int | None = None,
               identity: Path | None = None, timeout: int = 10) -> SshTarget:
        return SshTarget(self.host, HostKey.parse(key or self.host_key), user=self.user,
                         port=port or self.port, identity=identity or self.client_key,
                         ssh_config=Path("/dev/null"), connect_timeout=timeout,
                         origin="from stack t1")

    def ssh_args(self, outputs: Path) -> list[str]:
        """The `relval submit|status` options that reach this server as stack t1."""
        return ["--stack", "t1", "--outputs", str(outputs), "--ssh-user", self.user,
                "--identity", str(self.client_key), "--ssh-config", "/dev/null"]


@contextmanager
def running_sshd(root: Path, host_private_key: str | None = None) -> Iterator[Server]:
    """Start sshd in the foreground, wait for its port, and always stop it."""
    server = Server(root, host_private_key)
    config = root / "sshd_config"
    config.write_text(server.config())
    try:
        os.makedirs("/run/sshd", exist_ok=True)  # its privilege separation directory
    except OSError:
        pass  # not root: sshd says so in its log if it needs the directory
    log = open(root / "sshd.log", "wb")
    process = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 10
        while True:
            if process.poll() is not None:
                raise RuntimeError("sshd exited: " + (root / "sshd.log").read_text())
            try:
                socket.create_connection((server.host, server.port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


# A two-stage campaign that runs anywhere; `gen` is a shell prefix for the first stage
# (e.g. one that makes a job fail). With `compare`, it has a reference chain too.
TINY = """\
campaign: {name}
release: toy/v2
reference:
  release: toy/v1
datasets:
  - name: mc
    jobs: 2
stages:
  - name: gen
    per: job
    command: {gen} echo {{release}} {{job}} > {{outputs[0]}}
    outputs: [gen.txt]
  - name: sum
    per: dataset
    after: [gen]
    command: cat {{inputs}} > {{outputs[0]}}
    outputs: [sum.txt]
retries: 1
"""


def tiny_campaign(directory: Path, name: str = "tiny", gen: str = "", compare: bool = True) -> Path:
    path = directory / f"{name}.yaml"
    path.write_text(TINY.format(name=name, gen=gen) + ("compare: {files: [sum.txt]}\n" if compare else ""))
    return path


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    """One loopback sshd per test module (import it into the module); skips where the
    OpenSSH server, client or rsync are missing."""
    if not sshd_available():
        pytest.skip("needs openssh-server, openssh-client and rsync")
    with running_sshd(tmp_path_factory.mktemp("sshd")) as server:
        yield server
