"""Bridge from Pulumi outputs to the pure renderer in `cloudinit/`."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Mapping

import pulumi

from relval.cloudinit import AutoscalerFacts, HostKey, NodeFacts, encode_user_data, render
from relval.cloudinit.fragments import scaler_fragment_files

from .autoscaler_install import autoscaler_facts
from .config import StackConfig


@dataclass
class ScalerInputs:
    """What the head's scaler install depends on, as Pulumi inputs."""

    server_group_id: pulumi.Input[str]
    key_name: pulumi.Input[str]
    credential_id: pulumi.Input[str] | None
    credential_secret: pulumi.Input[str] | None
    security_group_id: pulumi.Input[str]   # by id: two groups may share a name (409)
    image_id: pulumi.Input[str]            # the stack's one resolved image id


def user_data(cfg: StackConfig, stack: str, role: str, *, public_key: pulumi.Input[str],
              head_address: pulumi.Input[str], signing_key: pulumi.Input[str],
              host_key: tuple[pulumi.Input[str], pulumi.Input[str]] | None = None,
              volume_ids: Mapping[str, pulumi.Input[str]] | None = None,
              scaler: ScalerInputs | None = None) -> pulumi.Output[str]:
    """The user-data of a `role` node, once every fact it needs is known.

    The result carries the pool signing key, so Pulumi keeps it secret.
    """
    volume_ids = dict(volume_ids or {})
    host_private, host_public = host_key if host_key is not None else (None, None)
    scaler_inputs = _scaler_inputs(scaler) if scaler is not None else []

    def build(args: list) -> str:
        key, address, signing, private, public = args[:5]
        scaler_values, ids = args[5:5 + len(scaler_inputs)], args[5 + len(scaler_inputs):]
        facts = NodeFacts(
            stack=stack,
            head_address=address,
            signing_key=signing,
            ssh_authorized_keys=(key,) if key else (),
            host_key=HostKey(private, public) if private else None,
            volume_ids=dict(zip(volume_ids, ids)),
        )
        if scaler_values:
            facts = replace(facts, autoscaler=_scaler_facts(cfg, stack, key, address, signing,
                                                            scaler_values))
        return encode_user_data(render(role, cfg, facts), role)

    return pulumi.Output.secret(pulumi.Output.all(
        public_key, head_address, signing_key, host_private, host_public, *scaler_inputs,
        *volume_ids.values()).apply(build))


def _scaler_inputs(scaler: ScalerInputs) -> list:
    return [scaler.server_group_id, scaler.key_name, scaler.credential_id,
            scaler.credential_secret, scaler.security_group_id, scaler.image_id]


def _scaler_facts(cfg: StackConfig, stack: str, key: str, address: str, signing: str,
                  scaler_values: list) -> AutoscalerFacts:
    # The scaler boots the same workers; Nova makes their volumes (found by tag).
    worker = render("worker", cfg, NodeFacts(
        stack=stack, head_address=address, signing_key=signing,
        ssh_authorized_keys=(key,) if key else (), attach_volumes=False))
    return autoscaler_facts(cfg, stack, worker, *scaler_values)


def scaler_files(cfg: StackConfig, stack: str, *, public_key: pulumi.Input[str],
                 head_address: pulumi.Input[str], signing_key: pulumi.Input[str],
                 scaler: ScalerInputs | None) -> pulumi.Output[list]:
    """The scaler's files on the head (cloud-init `write_files` entries), exactly as the
    head's user-data has them: what `relval up` delivers to a running head after an
    upgrade, since Pulumi ignores changes to the head's user-data (`scaler_sync`).
    Secret: they hold the scaler's credential and the pool signing key."""
    if scaler is None:
        return pulumi.Output.from_input([])   # nothing secret, and nothing to deliver

    def build(args: list) -> list:
        key, address, signing, *scaler_values = args
        return scaler_fragment_files(_scaler_facts(cfg, stack, key, address, signing,
                                                   scaler_values))

    return pulumi.Output.secret(pulumi.Output.all(
        public_key, head_address, signing_key, *_scaler_inputs(scaler)).apply(build))
