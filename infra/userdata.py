"""Bridge from Pulumi outputs to the pure renderer in `cloudinit/`."""

from __future__ import annotations

from typing import Mapping

import pulumi

from relval.cloudinit import HostKey, NodeFacts, encode_user_data, render

from .config import StackConfig


def user_data(cfg: StackConfig, stack: str, role: str, *, public_key: pulumi.Input[str],
              head_address: pulumi.Input[str], signing_key: pulumi.Input[str],
              host_key: tuple[pulumi.Input[str], pulumi.Input[str]] | None = None,
              volume_ids: Mapping[str, pulumi.Input[str]] | None = None) -> pulumi.Output[str]:
    """The user-data of a `role` node, once every fact it needs is known.

    The result carries the pool signing key, so Pulumi keeps it secret.
    """
    volume_ids = dict(volume_ids or {})
    host_private, host_public = host_key if host_key is not None else (None, None)

    def build(args: list) -> str:
        key, address, signing, private, public, *ids = args
        facts = NodeFacts(
            stack=stack,
            head_address=address,
            signing_key=signing,
            ssh_authorized_keys=(key,) if key else (),
            host_key=HostKey(private, public) if private else None,
            volume_ids=dict(zip(volume_ids, ids)),
        )
        return encode_user_data(render(role, cfg, facts), role)

    return pulumi.Output.secret(pulumi.Output.all(
        public_key, head_address, signing_key, host_private, host_public,
        *volume_ids.values()).apply(build))
