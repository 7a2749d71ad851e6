"""Network access: the cluster security group and the SSH keypair."""

from __future__ import annotations

import ipaddress

import pulumi
import pulumi_openstack as openstack

from .base import RelvalComponent, resource_tags
from .config import StackConfig

CONDOR_PORT = 9618
SSH_PORT = 22


class Security(RelvalComponent):
    """Creates:
    - `networking.SecGroup` shared by head and workers;
    - `networking.SecGroupRule`s: condor 9618/tcp and ICMP only from members of the group,
      SSH 22/tcp from each of `sshAllowedCidrs` (none by default); nothing from the world;
    - `compute.Keypair` from `sshPublicKey`, or a lookup of the existing `keypair`.
    """

    kind = "Security"

    def __init__(self, name: str, cfg: StackConfig, stack: str,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__(name, opts)
        self.group = openstack.networking.SecGroup(
            f"{name}-group",
            name=f"{stack}-cluster",
            description=f"relval cluster of stack {stack}: condor and ICMP inside, SSH from allowed CIDRs",
            tags=resource_tags(stack),
            opts=self.child(),
        )
        self._rule("condor", protocol="tcp", port=CONDOR_PORT, remote_group_id=self.group.id,
                   description="HTCondor shared port, cluster members only")
        self._rule("icmp", protocol="icmp", remote_group_id=self.group.id,
                   description="ICMP between cluster members")
        for index, cidr in enumerate(cfg.ssh_allowed_cidrs):
            self._rule(f"ssh-{index}", protocol="tcp", port=SSH_PORT, remote_ip_prefix=cidr,
                       ethertype="IPv6" if ipaddress.ip_network(cidr).version == 6 else "IPv4",
                       description=f"SSH from {cidr}")

        if cfg.ssh_public_key is not None:
            keypair = openstack.compute.Keypair(
                f"{name}-keypair", name=f"{stack}-key", public_key=cfg.ssh_public_key,
                opts=self.child())
            self.key_name: pulumi.Output[str] = keypair.name
            self.public_key: pulumi.Output[str] = keypair.public_key
        else:
            found = openstack.compute.get_keypair_output(
                name=cfg.keypair, opts=pulumi.InvokeOutputOptions(parent=self))
            self.key_name = found.name
            self.public_key = found.public_key

        self.register_outputs({"securityGroupId": self.group.id, "keyName": self.key_name})

    def _rule(self, label: str, protocol: str, port: int | None = None,
              ethertype: str = "IPv4", **remote) -> openstack.networking.SecGroupRule:
        return openstack.networking.SecGroupRule(
            f"{self.label}-{label}",
            direction="ingress",
            ethertype=ethertype,
            protocol=protocol,
            port_range_min=port,
            port_range_max=port,
            security_group_id=self.group.id,
            opts=self.child(),
            **remote,
        )
