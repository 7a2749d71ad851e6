"""Render the `#cloud-config` document of a node from its role and context."""

from __future__ import annotations

from dataclasses import dataclass, field

import yaml

ROLES = ("head", "worker")


@dataclass(frozen=True)
class NodeContext:
    """What a node's contextualization depends on, resolved to plain values."""

    stack: str
    release: str
    ssh_user: str
    ssh_authorized_keys: tuple[str, ...] = ()
    head_address: str | None = None
    volumes: tuple[tuple[str, str], ...] = field(default_factory=tuple)  # (name, mountPoint)


def render(role: str, ctx: NodeContext) -> str:
    """The cloud-config for `role`. Minimal for now: the login user and hostname policy."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
    document = {
        "preserve_hostname": False,
        "users": [
            "default",
            {
                "name": ctx.ssh_user,
                "groups": ["wheel"],
                "sudo": "ALL=(ALL) NOPASSWD:ALL",
                "shell": "/bin/bash",
                "ssh_authorized_keys": list(ctx.ssh_authorized_keys),
            },
        ],
    }
    return "#cloud-config\n" + yaml.safe_dump(document, sort_keys=False)
