"""A stack's outputs: from a JSON file, or through the Pulumi Automation API.

The Automation API (`relval.infra.automation`) drives the `pulumi` CLI, a separate
install; without it we stop with a message that says how to install it, or how to
pass the outputs as a file instead (`pulumi stack output --json > outputs.json`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from relval.errors import RelvalError

DEFAULT_SSH_USER = "relval"  # the stack config's default `sshUser`
OUTPUTS_HINT = ("or pass --outputs FILE with the stack's outputs as JSON "
                "(`pulumi stack output --json --show-secrets > FILE` where the CLI is installed)")


def read_outputs_file(path: Path) -> dict[str, Any]:
    """Outputs saved as one JSON object, as `pulumi stack output --json` prints them."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise RelvalError(f"{path}: no such outputs file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise RelvalError(f"{path}: cannot read: {error}") from None
    except json.JSONDecodeError as error:
        raise RelvalError(f"{path}: not valid JSON: {error.msg} (line {error.lineno})") from None
    if not isinstance(data, dict):
        raise RelvalError(f"{path}: expected a JSON object of stack outputs")
    return data


def read_outputs_pulumi(stack: str) -> dict[str, Any]:
    """Outputs of an existing stack through the Automation API (needs the pulumi CLI)."""
    from relval.infra import automation

    try:
        automation.require_cli()
    except RelvalError as error:
        raise RelvalError([f"{problem}; {OUTPUTS_HINT}" for problem in error.problems]) from None
    return automation.outputs(stack, show_secrets=True)


def read_outputs(stack: str, outputs_file: Path | None = None) -> dict[str, Any]:
    """The stack's outputs: from `outputs_file` when given, else from Pulumi."""
    if outputs_file is not None:
        return read_outputs_file(outputs_file)
    return read_outputs_pulumi(stack)


@dataclass(frozen=True)
class HeadAccess:
    """What SSH to the head needs, taken from the outputs."""

    address: str
    host_public_key: str
    ssh_user: str
    ssh_port: int


def head_access(outputs: dict[str, Any], stack: str, source: str) -> HeadAccess:
    """Pick and check the head's address and pinned host key; every problem at once."""
    problems = []

    def text(key: str, required: bool) -> str | None:
        value = outputs.get(key)
        if value is None or value == "":
            if required:
                problems.append(f"{source}: stack {stack!r} has no output {key!r}"
                                + (" (needed to pin the head's SSH host key)"
                                   if key == "headHostPublicKey" else ""))
            return None
        if not isinstance(value, str):
            problems.append(f"{source}: output {key!r} must be a string, got {type(value).__name__}")
            return None
        return value

    address = text("headAddress", True)
    key = text("headHostPublicKey", True)
    user = text("sshUser", False) or DEFAULT_SSH_USER
    port = outputs.get("headSshPort", 22)
    if isinstance(port, float) and port.is_integer():  # Pulumi hands numbers over as floats
        port = int(port)
    if isinstance(port, str) and port.isdigit():
        port = int(port)
    if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
        problems.append(f"{source}: output 'headSshPort' must be a port number, got {port!r}")
    if key is not None:
        from relval.workflows.remote import HostKey

        try:
            HostKey.parse(key)
        except ValueError as error:
            problems.append(f"{source}: output 'headHostPublicKey' {error}")
    if problems:
        raise RelvalError(problems)
    return HeadAccess(address, key, user, port)
