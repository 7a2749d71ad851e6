"""What every relval component shares: its type prefix, child options and labels."""

from __future__ import annotations

import ipaddress
import re

import pulumi
import pulumi_openstack as openstack

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)


class RelvalComponent(pulumi.ComponentResource):
    """Base of the relval components: type `relval:infra:<Kind>`, children parented here."""

    kind = "Component"

    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None):
        super().__init__(f"relval:infra:{self.kind}", name, None, opts)
        self.label = name

    def child(self, **kwargs) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, **kwargs)


def instance_metadata(stack: str, release: str, role: str,
                      stack_id: "pulumi.Input[str] | None" = None) -> dict:
    """Nova metadata that the elastic scaler and `relval down` find instances by.

    `relval-managed-by: pulumi` keeps the scaler's hands off what Pulumi declares, and
    `relval-stack-id` (the workers' server group id: unique per stack, unlike its name)
    tells two stacks of the same name apart.
    """
    md = {"relval-stack": stack, "relval-release": release, "relval-role": role,
          "relval-managed-by": "pulumi"}
    if stack_id is not None:
        md["relval-stack-id"] = stack_id
    return md


def resource_tags(stack: str) -> list[str]:
    """Neutron tags, so leftover ports and groups can be traced to their stack."""
    return ["relval", f"relval-stack={stack}"]


def image_id(image: str, parent: pulumi.Resource) -> pulumi.Input[str]:
    """The Glance id of `relval:image`, resolved once for the whole stack.

    Instances take it by id, never by name: a rotated image of the same name would make
    the provider rebuild an instance in place, wiping its root disk. Head, workers and the
    elastic scaler all get this one id.
    """
    if UUID_RE.match(image):
        return image
    return openstack.images.get_image_output(
        name=image, most_recent=True, opts=pulumi.InvokeOutputOptions(parent=parent)).id


def first_ipv4(addresses: list[str], what: str) -> str:
    """The IPv4 address among a port's fixed ips: condor's 9618 rules are IPv4-only, and on a
    dual-stack network the first fixed ip may be IPv6."""
    for address in addresses or ():
        if ipaddress.ip_address(address).version == 4:
            return address
    raise ValueError(f"{what} has no IPv4 fixed address (got {list(addresses or ())}); "
                     "relval needs an IPv4 subnet on relval:network")
