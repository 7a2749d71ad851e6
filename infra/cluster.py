"""The whole cluster of one stack, built from a validated StackConfig."""

from __future__ import annotations

import pulumi
import pulumi_openstack as openstack

from .config import StackConfig
from .credentials import Credentials
from .base import image_id
from .nodes import HeadNode, WorkerPool, fixed_address, head_port
from .security import Security
from .userdata import ScalerInputs, scaler_files, user_data


class Cluster(pulumi.ComponentResource):
    """Creates `Security`, `Credentials`, the head's `networking.Port`, the `WorkerPool`
    and the `HeadNode`, in that order, so the head's address is known before any
    user-data is rendered."""

    def __init__(self, name: str, cfg: StackConfig, stack: str,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("relval:infra:Cluster", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        network = openstack.networking.get_network_output(
            name=cfg.network, opts=pulumi.InvokeOutputOptions(parent=self))
        # One image id for head, workers and the scaler: the one `relval up` pinned on the
        # first up (relval:imageId), else resolved here from relval:image.
        image = cfg.image_id or image_id(cfg.image, self)
        security = Security("security", cfg, stack, opts=child)
        credentials = Credentials("credentials", cfg, stack, opts=child)
        port = head_port(stack, network.id, security.group.id, opts=child)
        head_address = fixed_address(port)
        facts = dict(public_key=security.public_key, head_address=head_address,
                     signing_key=credentials.signing_key.result)
        workers = WorkerPool(
            "worker", cfg, stack, network.id, security.group.id, security.key_name,
            lambda volume_ids: user_data(cfg, stack, "worker", volume_ids=volume_ids, **facts),
            image, opts=child)
        host_key = (credentials.head_host_key.private_key_openssh,
                    credentials.head_host_key.public_key_openssh)
        scaler = None
        if cfg.autoscaler is not None:
            scaler = ScalerInputs(workers.server_group.id, security.key_name,
                                  credentials.scaler_credential_id,
                                  credentials.scaler_credential_secret, security.group.id, image)
        head = HeadNode(
            "head", cfg, stack, port, security.key_name,
            lambda volume_ids: user_data(cfg, stack, "head", volume_ids=volume_ids,
                                         host_key=host_key, scaler=scaler, **facts),
            image, opts=child, stack_id=workers.server_group.id)

        self.outputs: dict[str, pulumi.Input] = {
            "release": cfg.release,
            "headName": head.instance_name,
            # The head's server id: `relval up` delivers an upgrade of the scaler's files
            # (`scalerFiles`) to a head that was there before the update, never to a new
            # one (cloud-init is writing them).
            "headId": head.instance.id,
            "headAddress": head.public_address,
            "headPrivateAddress": head.private_address,
            "workerNames": workers.names,
            "securityGroupId": security.group.id,
            "imageId": image,
            # The stack's unique identity on its instances (`relval-stack-id`): the
            # workers' server group id. `relval down` sweeps by it, not by name alone.
            "stackId": workers.server_group.id,
            "headHostPublicKey": credentials.head_host_key.public_key_openssh,
            "sshUser": cfg.ssh_user,
            "sshCommand": head.public_address.apply(lambda a: f"ssh {cfg.ssh_user}@{a}"),
            "scalerFiles": scaler_files(cfg, stack, scaler=scaler, **facts),
        }
        self.register_outputs(self.outputs)


def build_cluster(cfg: StackConfig, stack: str) -> dict[str, pulumi.Input]:
    """Declare every resource of the stack; returns the stack outputs."""
    return Cluster(f"relval-{stack}", cfg, stack).outputs
