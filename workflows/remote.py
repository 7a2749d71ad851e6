"""SSH to the head node with a pinned host key: run a command, upload a directory, read a file.

    HostKey.parse(line) -> HostKey          an OpenSSH public key line, checked
    SshTarget(host, host_key, user, port, identity, ssh_config, connect_timeout, origin)
    SshTransport(target)                    a context manager; the first use connects
      .connect()                            raises SshError(kind=...) with the reason
      .run(cmd) -> (rc, stdout, stderr)     .check(cmd) -> stdout (rc must be 0)
      .upload(local_dir, remote_dir, exclude=())   .download(remote_dir, local_dir, include=())
      .read_file(remote_path, offset=0) -> bytes | None
    wait_until_reachable(ssh, timeout_s, interval_s)   retries a booting head's transient errors

This drives the system OpenSSH client (and rsync over it) rather than a Python SSH
library: it honours the user's agent, identities and `~/.ssh/config` (ProxyJump and
the like), and OpenSSH does the host key check itself.

The head's host key is pinned from the stack outputs (`headHostPublicKey`). Every
connection gets a private known_hosts file that holds exactly that key, under a fixed
alias, with strict checking, so there is no trust-on-first-use and nothing is ever
written to the user's own known_hosts. Options given on the command line win over any
ssh_config, so a user's config cannot loosen the pin.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
import shlex
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from relval.errors import NoVerdictError, RelvalError

log = logging.getLogger(__name__)

# The alias under which the pinned key is stored: the check then does not depend on
# how the address or port is spelt.
HOST_ALIAS = "relval-head"

# Host key algorithms that OpenSSH may negotiate for each public key type. An RSA key
# signs with rsa-sha2-*; plain ssh-rsa (SHA-1) is disabled by modern servers.
KEY_ALGORITHMS = {
    "ssh-ed25519": "ssh-ed25519",
    "ecdsa-sha2-nistp256": "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384": "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521": "ecdsa-sha2-nistp521",
    "ssh-rsa": "rsa-sha2-512,rsa-sha2-256",
}

# ssh exits 255 on its own errors; its stderr then says which one: (kind, pattern, message).
_SSH_FAILURES = [
    ("host-key", re.compile(r"REMOTE HOST IDENTIFICATION HAS CHANGED|Host key verification failed"),
     "host key of {where} does not match headHostPublicKey{origin}; refusing to connect "
     "(the head was rebuilt, or this is not the head)"),
    ("host-key", re.compile(r"no matching host key type found"),
     "host key of {where} does not match headHostPublicKey{origin}: the server offers no "
     "{key_type} host key; refusing to connect"),
    ("refused", re.compile(r"Connection refused"),
     "cannot connect to {where}: connection refused (is sshd running and the port open?)"),
    ("timeout", re.compile(r"timed out|Connection timeout"),
     "cannot connect to {where}: timed out (is the address reachable from here and SSH "
     "allowed by the security group's sshAllowedCidrs?)"),
    ("resolve", re.compile(r"Could not resolve hostname|Name or service not known"),
     "cannot resolve the head's address {host!r}"),
    ("unreachable", re.compile(r"No route to host|Network is unreachable"),
     "cannot connect to {where}: no route to host"),
    ("auth", re.compile(r"Permission denied \(|Too many authentication failures"),
     "authentication as {user!r} on {where} failed: pass --identity FILE or load the key "
     "into ssh-agent, and check --ssh-user"),
    ("identity", re.compile(r"Identity file .* not accessible|Load key .*: "),
     "cannot use the identity file {identity}"),
]
# Failures that can go away while a freshly booted head starts its sshd.
TRANSIENT = ("refused", "timeout", "unreachable", "closed")


class SshError(NoVerdictError):
    """ssh itself failed; `kind` is one of host-key, refused, timeout, resolve,
    unreachable, auth, identity, closed, other. Exit code 3: the head is unreachable."""

    def __init__(self, message: str, kind: str):
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class HostKey:
    """An OpenSSH public key line: `type base64 [comment]`."""

    key_type: str
    blob: str

    @classmethod
    def parse(cls, line: str) -> "HostKey":
        """Parse and check a pinned key; the problem says what is wrong with it."""
        fields = line.strip().split() if isinstance(line, str) else []
        if len(fields) < 2:
            raise ValueError("is not an OpenSSH public key line ('ssh-ed25519 AAAA...')")
        key_type, blob = fields[0], fields[1]
        if key_type not in KEY_ALGORITHMS:
            raise ValueError(f"has unsupported key type {key_type!r} "
                             f"(one of {', '.join(sorted(KEY_ALGORITHMS))})")
        try:
            raw = base64.b64decode(blob, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("has a key that is not valid base64") from None
        # The blob starts with its own type as an SSH string; a mismatch means a pasting slip.
        length = int.from_bytes(raw[:4], "big") if len(raw) >= 4 else -1
        if raw[4:4 + length].decode("latin-1") != key_type:
            raise ValueError(f"has a key blob that is not a {key_type} key")
        return cls(key_type, blob)

    def known_hosts_line(self, alias: str = HOST_ALIAS) -> str:
        return f"{alias} {self.key_type} {self.blob}\n"


@dataclass(frozen=True)
class SshTarget:
    """Where and how to connect. `origin` names the pin's source in messages."""

    host: str
    host_key: HostKey
    user: str | None = None
    port: int = 22
    identity: Path | None = None
    ssh_config: Path | None = None
    connect_timeout: int = 15
    origin: str = ""

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}" if self.port != 22 else self.host


def _require_tool(name: str) -> str:
    path = shutil.which(name)
    if not path:
        raise NoVerdictError(f"the {name!r} command is not installed here; it is needed to reach "
                          "the head node (Debian: apt-get install openssh-client rsync)")
    return path


class SshTransport:
    """A narrow SSH interface to one host. Use it as a context manager.

    `run(cmd)` returns (rc, stdout, stderr) of a shell command on the host and raises
    SshError (a RelvalError) only when ssh itself failed (host key, connection, login).
    The first use connects (see `connect`); `close` ends the shared connection.
    """

    def __init__(self, target: SshTarget):
        self.target = target
        self._dir: tempfile.TemporaryDirectory | None = None
        self._known_hosts: Path | None = None
        self._control: Path | None = None  # master connection socket, once connected
        self._connected = False

    # lifecycle ----------------------------------------------------------
    def __enter__(self) -> "SshTransport":
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def open(self) -> None:
        if self._dir is None:
            self._dir = tempfile.TemporaryDirectory(prefix="relval-ssh-")
            self._known_hosts = Path(self._dir.name) / "known_hosts"
            self._known_hosts.write_text(self.target.host_key.known_hosts_line())

    def connect(self) -> None:
        """Authenticate once and keep a master connection that later commands share.

        Raises SshError with the reason (host key, refused, timeout, auth) when the
        head cannot be reached. The master exits by itself after a minute unused, so
        it cannot outlive a crashed relval for long.
        """
        if self._connected:
            return
        self.open()
        control = Path(self._dir.name) / "control"
        if len(str(control)) > 90:  # unix socket paths are limited to ~100 bytes: no master
            self._connected = True
            try:
                self.check("true")
            except RelvalError:
                self._connected = False
                raise
            return
        errors = Path(self._dir.name) / "master.err"
        argv = [_require_tool("ssh"), *self.ssh_options(), "-M", "-N", "-f",
                "-o", "ControlPersist=60", "-S", str(control), "--", self.target.host]
        # stderr goes to a file: the backgrounded master keeps it open, and a pipe
        # would make us wait for the master to exit.
        with open(errors, "wb") as sink:
            try:
                done = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                      stderr=sink, timeout=self.target.connect_timeout + 30)
            except subprocess.TimeoutExpired:
                raise SshError(f"cannot connect to {self.target.where}: timed out", "timeout") from None
        if done.returncode != 0:
            raise self.explain(errors.read_text(errors="replace"))
        self._control = control
        self._connected = True

    def close(self) -> None:
        if self._control is not None:
            config = ["-F", str(self.target.ssh_config)] if self.target.ssh_config else []
            subprocess.run([_require_tool("ssh"), *config, "-S", str(self._control), "-O", "exit",
                            "--", self.target.host], capture_output=True,
                           stdin=subprocess.DEVNULL, timeout=30)
            self._control = None
        self._connected = False
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None
            self._known_hosts = None

    # command lines ------------------------------------------------------
    def ssh_options(self) -> list[str]:
        """The ssh options that pin the key and forbid prompts; shared by ssh and rsync."""
        if self._known_hosts is None:
            self.open()
        t = self.target
        options = []
        if t.ssh_config is not None:
            options += ["-F", str(t.ssh_config)]
        pinned = {
            "HostKeyAlias": HOST_ALIAS,
            "StrictHostKeyChecking": "yes",
            "UserKnownHostsFile": str(self._known_hosts),
            "GlobalKnownHostsFile": "/dev/null",
            "KnownHostsCommand": "none",
            "HostKeyAlgorithms": KEY_ALGORITHMS[t.host_key.key_type],
            "CheckHostIP": "no",
            "UpdateHostKeys": "no",
            "VerifyHostKeyDNS": "no",
            "BatchMode": "yes",
            "ConnectTimeout": str(t.connect_timeout),
            "ServerAliveInterval": "15",
            "ServerAliveCountMax": "4",
        }
        for key, value in pinned.items():
            options += ["-o", f"{key}={value}"]
        options += ["-p", str(t.port)]
        if t.user:
            options += ["-l", t.user]
        if t.identity is not None:
            options += ["-i", str(t.identity), "-o", "IdentitiesOnly=yes"]
        if self._control is not None:
            options += ["-S", str(self._control), "-o", "ControlMaster=no"]
        return options

    def ssh_argv(self, command: str) -> list[str]:
        self.connect()
        return [_require_tool("ssh"), *self.ssh_options(), "--", self.target.host, command]

    # errors -------------------------------------------------------------
    def explain(self, stderr: str) -> SshError:
        """The error for an ssh failure, from its stderr."""
        t = self.target
        fields = {"where": t.where, "host": t.host, "user": t.user or "(default user)",
                  "identity": t.identity, "key_type": t.host_key.key_type,
                  "origin": f" {t.origin}" if t.origin else ""}
        for kind, pattern, message in _SSH_FAILURES:
            if pattern.search(stderr):
                return SshError(message.format(**fields), kind)
        detail = " ".join(stderr.strip().splitlines()[-2:]) or "no message"
        kind = "closed" if re.search(r"Connection (closed|reset)|kex_exchange", stderr) else "other"
        return SshError(f"ssh to {t.where} failed: {detail}", kind)

    # the interface ------------------------------------------------------
    def run(self, command: str, timeout: float | None = 300, input: bytes | None = None
            ) -> tuple[int, bytes, bytes]:
        """Run a shell command on the host: (exit code, stdout, stderr)."""
        argv = self.ssh_argv(command)
        log.debug("ssh %s: %s", self.target.where, command)
        try:
            done = subprocess.run(argv, input=input, capture_output=True, timeout=timeout,
                                  stdin=None if input is not None else subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise NoVerdictError(f"ssh to {self.target.where} did not finish within {timeout:.0f} s "
                              f"running: {command}") from None
        stderr = done.stderr.decode(errors="replace")
        if done.returncode == 255 and _looks_like_ssh_failure(stderr):
            raise self.explain(stderr) from None
        return done.returncode, done.stdout, done.stderr

    def check(self, command: str, timeout: float | None = 300, input: bytes | None = None) -> bytes:
        """Run a command that must succeed (with `input` on its stdin); its stdout."""
        rc, out, err = self.run(command, timeout=timeout, input=input)
        if rc != 0:
            detail = err.decode(errors="replace").strip() or out.decode(errors="replace").strip()
            raise NoVerdictError(f"on {self.target.where}, `{command}` failed (exit {rc}): "
                              f"{detail or 'no message'}")
        return out

    def upload(self, local_dir: Path, remote_dir: str, exclude: tuple[str, ...] = ()) -> None:
        """Copy the contents of local_dir into remote_dir (created if needed) with rsync.

        Files whose content is unchanged are left alone, time stamps included (checksum
        comparison, no -t), and nothing on the remote side is deleted, so outputs that
        an earlier run produced there stay as they are.
        """
        local_dir = Path(local_dir)
        if not local_dir.is_dir():
            raise RelvalError(f"{local_dir} is not a directory")
        self.check(f"mkdir -p {quote_path(remote_dir)}")  # also connects
        # rsync's remote side starts in the home directory, like ssh.
        destination = remote_dir[2:] if remote_dir.startswith("~/") else remote_dir
        self._rsync(["--checksum", *(f"--exclude={pattern}" for pattern in exclude), f"{local_dir}/",
                     f"{self._rsync_host()}:{destination.rstrip('/')}/"],
                    f"upload of {local_dir} to {self.target.where}:{remote_dir}")

    def download(self, remote_dir: str, local_dir: Path, include: tuple[str, ...] = ()) -> None:
        """Copy remote_dir's contents into local_dir; with `include`, only the files whose
        names match one of those patterns (the directory structure is kept)."""
        Path(local_dir).mkdir(parents=True, exist_ok=True)
        source = remote_dir[2:] if remote_dir.startswith("~/") else remote_dir
        filters = ([*(f"--include={p}" for p in include), "--include=*/", "--exclude=*",
                    "--prune-empty-dirs"] if include else [])
        self._rsync(["--times", *filters, f"{self._rsync_host()}:{source.rstrip('/')}/",
                     f"{local_dir}/"],
                    f"download of {self.target.where}:{remote_dir} to {local_dir}")

    def _rsync_host(self) -> str:
        return f"[{self.target.host}]" if ":" in self.target.host else self.target.host

    def _rsync(self, args: list[str], what: str) -> None:
        self.connect()
        rsh = shlex.join([_require_tool("ssh"), *self.ssh_options()])
        argv = [_require_tool("rsync"), "--recursive", "--links", "--perms", "-e", rsh, *args]
        log.debug("rsync %s", " ".join(args))
        done = subprocess.run(argv, capture_output=True, stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            stderr = done.stderr.decode(errors="replace")
            if _looks_like_ssh_failure(stderr):
                raise self.explain(stderr) from None
            if "command not found" in stderr or "rsync: not found" in stderr:
                raise NoVerdictError(f"rsync is not installed on {self.target.where}")
            detail = " ".join(stderr.strip().splitlines()[-3:])
            raise NoVerdictError(f"{what} failed (rsync exit {done.returncode}): {detail}")

    def read_file(self, remote_path: str, offset: int = 0) -> bytes | None:
        """The bytes of a remote file from `offset` on; None when the file does not exist."""
        path = quote_path(remote_path)
        rc, out, err = self.run(f"test -f {path} || exit 3; tail -c +{int(offset) + 1} {path}")
        if rc == 3:
            return None
        if rc != 0:
            raise NoVerdictError(f"cannot read {remote_path} on {self.target.where}: "
                              f"{err.decode(errors='replace').strip()}")
        return out


def _looks_like_ssh_failure(stderr: str) -> bool:
    return (any(pattern.search(stderr) for _, pattern, _ in _SSH_FAILURES)
            or stderr.startswith("ssh:") or "kex_exchange_identification" in stderr)


def wait_until_reachable(ssh: SshTransport, timeout_s: float = 600.0, interval_s: float = 10.0,
                         sleep: Callable[[float], None] = time.sleep,
                         clock: Callable[[], float] = time.monotonic,
                         on_retry: Callable[[SshError], None] | None = None) -> None:
    """Connect, retrying while a booting head is not answering yet.

    Only transient failures (refused, timed out, unreachable, closed) are retried; a
    host key mismatch or a failed login is raised at once, since waiting cannot fix it.
    """
    deadline = clock() + timeout_s
    while True:
        try:
            ssh.connect()
            return
        except SshError as error:
            if error.kind not in TRANSIENT or clock() + interval_s > deadline:
                raise
            if on_retry is not None:
                on_retry(error)
        sleep(interval_s)


def quote_path(path: str) -> str:
    """Quote a remote path for the shell, keeping a leading `~/` working."""
    if path == "~":
        return '"$HOME"'
    if path.startswith("~/"):
        return '"$HOME"/' + shlex.quote(path[2:])
    return shlex.quote(path)
