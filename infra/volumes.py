"""Cinder volumes attached to one instance."""

from __future__ import annotations

import pulumi
import pulumi_openstack as openstack

from .base import RelvalComponent
from .config import Volume


class Volumes(RelvalComponent):
    """Creates, per configured volume of the instance's role:
    - `blockstorage.Volume` (size, type, availability zone, relval metadata);
    - `compute.VolumeAttach` onto the instance (not `blockstorage.VolumeAttach`,
      which only reserves an attachment and attaches nothing).
    The guest formats and mounts them (cloud-init), see `cloudinit/`.
    """

    kind = "Volumes"

    def __init__(self, name: str, volumes: tuple[Volume, ...], instance: openstack.compute.Instance,
                 physical_prefix: str, metadata: dict[str, str], availability_zone: str | None,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__(name, opts)
        self.attachments = []
        for volume in volumes:
            disk = openstack.blockstorage.Volume(
                f"{name}-{volume.name}",
                name=f"{physical_prefix}-{volume.name}",
                size=volume.size_gb,
                volume_type=volume.volume_type,
                availability_zone=availability_zone,
                description=f"mounted at {volume.mount_point}",
                metadata={**metadata, "relval-mount": volume.mount_point},
                opts=self.child(),
            )
            self.attachments.append(openstack.compute.VolumeAttach(
                f"{name}-{volume.name}-attach",
                instance_id=instance.id,
                volume_id=disk.id,
                opts=self.child(),
            ))
        self.register_outputs({"attachments": [a.id for a in self.attachments]})
