"""Cinder volumes of one instance: created before it, attached after it."""

from __future__ import annotations

import pulumi
import pulumi_openstack as openstack

from .base import RelvalComponent
from .config import Volume


class Volumes(RelvalComponent):
    """Creates, per configured volume of the instance's role:
    - `blockstorage.Volume` (size, type, availability zone, relval metadata), before the
      instance, so the guest's user-data can name the volume ids it waits for;
    - `compute.VolumeAttach` onto the instance, in `attach` (not `blockstorage.VolumeAttach`,
      which only reserves an attachment and attaches nothing).
    The guest formats (only if empty) and mounts them, see `cloudinit/`.
    """

    kind = "Volumes"

    def __init__(self, name: str, volumes: tuple[Volume, ...], physical_prefix: str,
                 metadata: dict[str, str], availability_zone: str | None,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__(name, opts)
        self.disks = {
            volume.name: openstack.blockstorage.Volume(
                f"{name}-{volume.name}",
                name=f"{physical_prefix}-{volume.name}",
                size=volume.size_gb,
                volume_type=volume.volume_type,
                availability_zone=availability_zone,
                description=f"relval: mounted at {volume.mount_point}",
                metadata={**metadata, "relval-mount": volume.mount_point},
                opts=self.child(),
            )
            for volume in volumes
        }
        self.ids: dict[str, pulumi.Output[str]] = {n: d.id for n, d in self.disks.items()}

    def attach(self, instance: openstack.compute.Instance) -> None:
        attachments = [
            openstack.compute.VolumeAttach(f"{self.label}-{name}-attach", instance_id=instance.id,
                                           volume_id=disk.id, opts=self.child())
            for name, disk in self.disks.items()
        ]
        self.register_outputs({"attachments": [a.id for a in attachments]})
