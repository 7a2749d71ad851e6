"""Tear a release's stack down completely: scaler-made VMs first, then `pulumi destroy`.

The elastic scaler boots workers that Pulumi does not know about; they carry the
stack's metadata (`relval-stack`, `relval-role=worker`), so they are found and
deleted by it, failed boots included, before the engine removes the rest.
Running it twice is safe.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from relval.errors import RelvalError

OnOutput = Callable[[str], None]


@dataclass
class DownReport:
    stack: str
    scaler_vms_deleted: list[str] = field(default_factory=list)
    destroyed: bool = False

    def to_json(self) -> dict:
        return {"stack": self.stack, "scaler_vms_deleted": self.scaler_vms_deleted,
                "destroyed": self.destroyed}


def openstack_cloud(stack: str):
    """A cloud adapter for listing and deleting this stack's VMs, with the operator's
    credentials (OS_CLOUD + clouds.yaml, or OS_* variables)."""
    import openstack
    from openstack import exceptions

    from relval.autoscaler.adapters.openstack import OpenStackCloud

    try:
        conn = openstack.connect()
    except exceptions.SDKException as error:
        raise RelvalError(f"cannot connect to OpenStack ({error}); set OS_CLOUD or the OS_* "
                          "variables of your project") from None
    return OpenStackCloud(conn, stack, image_id="", flavor_id="", network_id="")


def down(stack: str, on_output: OnOutput = print,
         cloud_factory: Callable[[str], object] = openstack_cloud,
         timeout_s: float = 900, workspace=None) -> DownReport:
    from relval.infra import automation

    automation.require_cli()  # fail before touching the cloud if destroy cannot follow
    from relval.autoscaler.teardown import teardown

    report = DownReport(stack)
    result = teardown(cloud_factory(stack), stack, roles=("worker",), timeout_s=timeout_s)
    report.scaler_vms_deleted = result.deleted
    if not result.clean:
        raise RelvalError(f"stack {stack}: VMs still present after {result.waited_s:.0f} s: "
                          f"{', '.join(result.remaining)}; run relval down again"
                          + (f" ({'; '.join(result.errors)})" if result.errors else ""))
    on_output(f"deleted {len(result.deleted)} worker VM(s) of stack {stack} found by metadata")
    report.destroyed = automation.destroy(stack, on_output=on_output, workspace=workspace)
    if not report.destroyed:
        on_output(f"stack {stack} does not exist in the backend: nothing left to destroy")
    return report
