"""What every relval component shares: its type prefix, child options and labels."""

from __future__ import annotations

import re

import pulumi

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


def image_args(image: str) -> dict[str, str]:
    """Nova takes either an image id or a name; pass whichever the config holds."""
    return {"image_id": image} if UUID_RE.match(image) else {"image_name": image}
