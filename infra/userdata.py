"""Bridge from Pulumi outputs to the pure renderer in `cloudinit/`."""

from __future__ import annotations

import pulumi

from relval.cloudinit import NodeContext, render

from .config import StackConfig


def _context(cfg: StackConfig, stack: str, role: str, public_key: str,
             head_address: str | None) -> NodeContext:
    return NodeContext(
        stack=stack,
        release=cfg.release,
        ssh_user=cfg.ssh_user,
        ssh_authorized_keys=(public_key,) if public_key else (),
        head_address=head_address,
        volumes=tuple((v.name, v.mount_point) for v in cfg.volumes_for(role)),
    )


def user_data(cfg: StackConfig, stack: str, role: str, public_key: pulumi.Input[str],
              head_address: pulumi.Input[str]) -> pulumi.Output[str]:
    """The `#cloud-config` of `role`, once the key and the head's address are known."""
    return pulumi.Output.all(public_key, head_address).apply(
        lambda args: render(role, _context(cfg, stack, role, args[0], args[1])))
