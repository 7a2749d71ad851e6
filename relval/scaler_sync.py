"""Deliver a relval upgrade to the elastic scaler on a running head.

The head boots once with its user-data, and Pulumi ignores later changes to it
(`ignoreChanges`): a new user-data would replace the head and lose its schedd queue.
The scaler's knobs travel in the head's metadata (`autoscaler/live_config.py`), but its
code, its config, the workers' user-data, its credential and its unit are files. The
stack exports them as the secret output `scalerFiles`, exactly as the user-data writes
them; after `relval up` keeps a head (and before a campaign runs on it) they are
compared with the head's own over SSH, the ones that differ are replaced atomically,
and the service is restarted (its state file survives restarts, and its install step
runs again when the pinned requirements changed).

    wanted_files(output) -> [HeadFile]                 pure: decode the output
    sync(ssh, files, apply=True) -> SyncReport         one SSH call; root on the head
    deliver(stack, outputs, head, say) -> SyncReport   the above for a deployed stack
"""

from __future__ import annotations

import base64
import gzip
import json
import shlex
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Callable, Sequence

from relval.cloudinit.fragments import SCALER_UNIT, SCALER_UNIT_FILE
from relval.errors import NoVerdictError, RelvalError


@dataclass(frozen=True)
class HeadFile:
    path: str
    mode: int
    content: bytes


@dataclass
class SyncReport:
    changed: list[str] = field(default_factory=list)   # paths replaced (or to replace)
    restarted: bool = False                           # the scaler's restart was requested
    applied: bool = True                              # False: only compared (--dry-run)

    def sentence(self) -> str:
        if not self.changed:
            return "the scaler's files on the head are up to date"
        names = ", ".join(p.rsplit("/", 1)[-1] for p in self.changed)
        if not self.applied:
            return f"the scaler's files on the head differ from this relval's: {names}"
        return (f"replaced the scaler's files on the head ({names})"
                + (f" and restarted {SCALER_UNIT}" if self.restarted else ""))


def wanted_files(output: Any) -> list[HeadFile]:
    """The `scalerFiles` output (cloud-init `write_files` entries) as bytes to write."""
    if not isinstance(output, list):
        raise RelvalError("stack output 'scalerFiles' is not a list (a stack deployed by an "
                          "older relval: run relval up once)")
    files = []
    for number, entry in enumerate(output):
        try:
            content = entry["content"]
            data = (gzip.decompress(base64.b64decode(content))
                    if entry.get("encoding") == "gz+b64" else content.encode())
            files.append(HeadFile(entry["path"], int(entry.get("permissions", "0644"), 8), data))
        except (KeyError, TypeError, ValueError, AttributeError, OSError) as error:
            raise RelvalError(f"stack output 'scalerFiles' entry {number} is malformed "
                              f"({type(error).__name__}: {error})") from None
    return files


def _request(files: Sequence[HeadFile]) -> bytes:
    return json.dumps({"unit": SCALER_UNIT, "unit_file": SCALER_UNIT_FILE, "files": [
        {"path": f.path, "mode": f.mode,
         "gz_b64": base64.b64encode(gzip.compress(f.content, mtime=0)).decode()}
        for f in files]}).encode()


def remote_command(apply: bool, root: str = "/", systemctl: str = "systemctl") -> str:
    """The shell command run on the head: the program in `scaler_sync_remote.py`, as root
    (through `sudo -n` for the login user, who has passwordless sudo on relval's nodes).
    `root` and `systemctl` let a test aim it at a directory and a stand-in service manager."""
    program = resources.files("relval").joinpath("scaler_sync_remote.py").read_text()
    argv = " ".join(shlex.quote(a) for a in ("python3", "-c", program,
                                              "apply" if apply else "check", root, systemctl))
    return f'if [ "$(id -u)" = 0 ]; then {argv}; else sudo -n {argv}; fi'


def sync(ssh, files: Sequence[HeadFile], apply: bool = True, root: str = "/",
         systemctl: str = "systemctl") -> SyncReport:
    """Compare the head's scaler files with `files`; with `apply`, replace the ones that
    differ and restart the scaler. Raises NoVerdictError (exit 3) saying what failed."""
    rc, out, err = ssh.run(remote_command(apply, root, systemctl), timeout=300,
                           input=_request(files))
    text = out.decode(errors="replace").strip()
    try:
        answer = json.loads(text.splitlines()[-1]) if text else {}
    except json.JSONDecodeError:
        answer = {}
    if rc != 0 or "changed" not in answer:
        detail = (answer.get("error") or err.decode(errors="replace").strip() or text
                  or f"exit code {rc}")
        raise NoVerdictError(f"could not update the scaler's files on the head: "
                             f"{detail.splitlines()[-1]}")
    return SyncReport(list(answer["changed"]), bool(answer.get("restarted")), apply)


def head_kept(before: dict[str, Any] | None, after: dict[str, Any]) -> bool:
    """Whether the update kept a head that was there before it (same server id)."""
    return bool(before) and bool(before.get("headId")) and before.get("headId") == after.get("headId")


def deliver(stack: str, outputs: dict[str, Any], head, say: Callable[[str], None] = print,
            apply: bool = True, root: str = "/", systemctl: str = "systemctl") -> SyncReport:
    """`sync` for a deployed stack: `outputs` with secrets in clear, `head` the
    `HeadOptions` that reach it (the host key is pinned from the outputs)."""
    from relval.infra.automation import SECRET_MASK
    from relval.workflows.remote import SshTransport
    from relval.workflows.submit import target_from_outputs

    output = outputs.get("scalerFiles")
    if output is None:   # a stack deployed by an older relval, or an outputs file without it
        return SyncReport()
    if output == SECRET_MASK:
        say("relval: the outputs hold scalerFiles masked (read without --show-secrets): the "
            "scaler's files on the head were not compared with this relval's")
        return SyncReport(applied=False)
    files = wanted_files(output)
    if not files:
        return SyncReport()
    target = target_from_outputs(outputs, stack, head, f"stack {stack}")
    try:
        with SshTransport(target) as ssh:
            report = sync(ssh, files, apply=apply, root=root, systemctl=systemctl)
    except RelvalError as error:
        raise NoVerdictError(
            f"stack {stack} is up, but its head still runs the scaler of the relval that "
            f"created it: {error}. Run `relval up --stack {stack}` again from where the head "
            f"is reachable (--identity, --ssh-config)") from None
    say(f"relval: {report.sentence()}")
    return report
