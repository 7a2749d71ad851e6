"""Head node and worker pool: ports first, then instances, then their volumes."""

from __future__ import annotations

from typing import Callable

import pulumi
import pulumi_openstack as openstack

from relval.autoscaler.live_config import PREFIX, to_metadata

from .base import RelvalComponent, first_ipv4, instance_metadata, resource_tags
from .config import StackConfig
from .volumes import Volumes


def _port(name: str, stack: str, network_id: pulumi.Input[str], security_group_id: pulumi.Input[str],
          physical_name: str, opts: pulumi.ResourceOptions) -> openstack.networking.Port:
    return openstack.networking.Port(
        name,
        name=physical_name,
        network_id=network_id,
        admin_state_up=True,
        security_group_ids=[security_group_id],
        tags=resource_tags(stack),
        opts=opts,
    )


def _instance(name: str, cfg: StackConfig, stack: str, role: str, physical_name: str,
              flavor: str, port: openstack.networking.Port, key_name: pulumi.Input[str],
              user_data: pulumi.Input[str], opts: pulumi.ResourceOptions, image: pulumi.Input[str],
              server_group_id: pulumi.Input[str] | None = None,
              stack_id: pulumi.Input[str] | None = None,
              extra_metadata: dict[str, str] | None = None) -> openstack.compute.Instance:
    return openstack.compute.Instance(
        name,
        name=physical_name,
        image_id=image,
        flavor_name=flavor,
        key_pair=key_name,
        networks=[openstack.compute.InstanceNetworkArgs(port=port.id)],
        metadata={**instance_metadata(stack, cfg.release, role, stack_id), **(extra_metadata or {})},
        user_data=user_data,
        availability_zone=cfg.availability_zone,
        scheduler_hints=[openstack.compute.InstanceSchedulerHintArgs(group=server_group_id)]
        if server_group_id is not None else None,
        opts=opts,
    )


def scaler_metadata(cfg: StackConfig) -> dict[str, str]:
    """The head's `relval-scaler.*` items: every knob and the pool bounds, read by the
    running scaler every cycle. Without a scaler, `enabled: false`, so a scaler left
    running on a head after the key was removed stops acting."""
    if cfg.autoscaler is None:
        return {PREFIX + "enabled": "false"}
    return to_metadata(cfg.autoscaler.scaler)


def fixed_address(port: openstack.networking.Port, what: str = "the head's port") -> pulumi.Output[str]:
    """The port's IPv4 fixed address, chosen explicitly (never simply the first fixed ip)."""
    return port.all_fixed_ips.apply(lambda ips: first_ipv4(ips, what))


def head_port(stack: str, network_id: pulumi.Input[str], security_group_id: pulumi.Input[str],
              opts: pulumi.ResourceOptions) -> openstack.networking.Port:
    """The head's port, made before any instance so its address can go into user-data."""
    return _port("head-port", stack, network_id, security_group_id, f"{stack}-head", opts)


UserDataFor = Callable[[dict[str, pulumi.Output[str]]], pulumi.Output[str]]


def _volumes(name: str, cfg: StackConfig, stack: str, role: str, physical: str,
             parent: RelvalComponent) -> Volumes | None:
    if not cfg.volumes_for(role):
        return None
    # Cinder's zone, not Nova's: the two services name their zones independently.
    return Volumes(name, cfg.volumes_for(role), physical, instance_metadata(stack, cfg.release, role),
                   cfg.volume_availability_zone, opts=parent.child())


class HeadNode(RelvalComponent):
    """Creates:
    - `Volumes` for the volumes with role `head` (before the instance, attached after);
    - `compute.Instance` (central manager + schedd) on the pre-made `head_port`;
    - optional `networking.FloatingIp` + `networking.FloatingIpAssociate`.
    """

    kind = "HeadNode"

    def __init__(self, name: str, cfg: StackConfig, stack: str, port: openstack.networking.Port,
                 key_name: pulumi.Input[str], user_data_for: UserDataFor, image: pulumi.Input[str],
                 opts: pulumi.ResourceOptions | None = None,
                 stack_id: pulumi.Input[str] | None = None):
        super().__init__(name, opts)
        self.instance_name = f"{stack}-head"
        volumes = _volumes(f"{name}-volumes", cfg, stack, "head", self.instance_name, self)
        # The head boots once with its user-data and keeps it: a later change of it (a
        # relval upgrade, the scaler's bundle) would replace the head (user_data is ForceNew)
        # and lose the schedd's queue. The scaler's knobs reach it through metadata instead,
        # which the provider updates in place.
        self.instance = _instance(f"{name}-instance", cfg, stack, "head", self.instance_name,
                                  cfg.head_flavor, port, key_name,
                                  user_data_for(volumes.ids if volumes else {}),
                                  self.child(ignore_changes=["userData"]),
                                  image, stack_id=stack_id, extra_metadata=scaler_metadata(cfg))
        if volumes:
            volumes.attach(self.instance)
        self.private_address = fixed_address(port)
        self.public_address: pulumi.Output[str] = self.private_address
        if cfg.floating_ip_pool is not None:
            fip = openstack.networking.FloatingIp(
                f"{name}-fip", pool=cfg.floating_ip_pool,
                description=f"relval head of stack {stack}", tags=resource_tags(stack),
                opts=self.child())
            openstack.networking.FloatingIpAssociate(
                f"{name}-fip-assoc", floating_ip=fip.address, port_id=port.id,
                opts=self.child(depends_on=[self.instance]))
            self.public_address = fip.address
        self.register_outputs({"name": self.instance_name, "privateAddress": self.private_address,
                               "publicAddress": self.public_address})


class WorkerPool(RelvalComponent):
    """Creates:
    - `compute.ServerGroup` with `serverGroupPolicy` (the elastic scaler boots into it);
    - without the elastic scaler, per initial worker: `networking.Port`, `Volumes` for the
      volumes with role `worker`, then `compute.Instance` in the server group, then the
      volume attachments. These workers are static: nothing else touches them.
    With the scaler, Pulumi declares no worker: the scaler boots and owns every one
    (`workers.initial` are its first boots), so `pulumi up` never recreates a worker the
    scaler removed, and no worker has two owners.
    """

    kind = "WorkerPool"

    def __init__(self, name: str, cfg: StackConfig, stack: str, network_id: pulumi.Input[str],
                 security_group_id: pulumi.Input[str], key_name: pulumi.Input[str],
                 user_data_for: UserDataFor, image: pulumi.Input[str],
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__(name, opts)
        self.server_group = openstack.compute.ServerGroup(
            f"{name}-group", name=f"{stack}-workers", policies=cfg.server_group_policy,
            opts=self.child())
        self.names: list[str] = []
        static = 0 if cfg.autoscaler is not None else cfg.workers.initial
        # Without per-worker volumes every worker gets the same user-data: render it once.
        shared_user_data = None if cfg.volumes_for("worker") or not static else user_data_for({})
        for index in range(static):
            label = f"{name}-{index:03d}"
            physical = worker_name(stack, index)
            port = _port(f"{label}-port", stack, network_id, security_group_id, physical,
                         self.child())
            volumes = _volumes(f"{label}-volumes", cfg, stack, "worker", physical, self)
            instance = _instance(label, cfg, stack, "worker", physical, cfg.worker_flavor, port,
                                 key_name, shared_user_data or user_data_for(volumes.ids),
                                 self.child(), image, server_group_id=self.server_group.id,
                                 stack_id=self.server_group.id)
            if volumes:
                volumes.attach(instance)
            self.names.append(physical)
        self.register_outputs({"serverGroupId": self.server_group.id, "names": self.names})


def worker_name(stack: str, index: int) -> str:
    return f"{stack}-worker-{index:03d}"
