"""OpenStack nova through openstacksdk.

Creates workers with user-data, metadata, flavor, image, network and the workers'
server group (as a scheduler hint); lists the project's servers and keeps those with
this stack's `relval-stack` metadata (nova cannot filter on metadata server-side);
deletes by id (a missing server is fine); reads the absolute limits.

Credentials: a clouds.yaml entry holding an application credential (`cloud`, and
`cloudsYaml` for a file outside the default search path). Only the head has it.
"""

from __future__ import annotations

import base64
from datetime import datetime

from ..interfaces import CloudError, QuotaError
from ..model import (ACTIVE, BUILD, DELETING, ERROR, GONE, STACK_KEY, TRANSIENT, TRANSIENT_STATUSES,
                     Limits, Worker)

# Nova statuses -> the scaler's. Nova's transient statuses (a live migration, a reboot,
# a resize, an operator's pause or shelve, or UNKNOWN while nova-compute is unreachable)
# are waited out: a migrating VM keeps running its jobs. Only ERROR and a stopped VM
# count as failed; a status this table does not know is waited out too, never failed.
STATUS = {"BUILD": BUILD, "ACTIVE": ACTIVE, "ERROR": ERROR, "DELETED": GONE,
          "SOFT_DELETED": GONE, "SHUTOFF": ERROR, "STOPPED": ERROR,
          **{status: TRANSIENT for status in TRANSIENT_STATUSES}}


def parse_time(value: str | None) -> float:
    if not value:
        return 0.0
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


# openstacksdk waits forever by default: every API call gives up after this long, so
# one hung connection cannot freeze the scaler's loop (a failed call skips the cycle).
API_TIMEOUT_S = 30


def cloud_region(settings):
    """The clouds.yaml entry (from `cloudsYaml`, or the usual search path), with the
    API timeout set: without it openstacksdk waits for an answer forever."""
    from openstack.config import loader

    files = [settings.clouds_yaml] if settings.clouds_yaml else None
    return loader.OpenStackConfig(config_files=files).get_one(cloud=settings.cloud,
                                                              api_timeout=API_TIMEOUT_S)


def volume_tag(name: str) -> str:
    """The device tag of a worker volume: the guest finds the volume's id by it in Nova's
    device metadata (`openstack/latest/meta_data.json`, "devices")."""
    return f"relval-{name}"


def block_devices(image_id: str, volumes) -> list[dict]:
    """Nova's block_device_mapping_v2 for a worker: the image as its root disk, and one
    blank volume per configured worker volume, created with the server and deleted with it
    (`delete_on_termination`), so a deleted worker leaves no volume behind."""
    mappings = [{"boot_index": 0, "uuid": image_id, "source_type": "image",
                 "destination_type": "local", "delete_on_termination": True}]
    for volume in volumes:
        mapping = {"boot_index": -1, "source_type": "blank", "destination_type": "volume",
                   "volume_size": volume.size_gb, "delete_on_termination": True,
                   "tag": volume_tag(volume.name)}
        if volume.volume_type:
            mapping["volume_type"] = volume.volume_type
        mappings.append(mapping)
    return mappings


class OpenStackCloud:
    def __init__(self, conn, stack: str, image_id: str, flavor_id: str, network_id: str,
                 user_data: str = "", server_group_id: str | None = None,
                 availability_zone: str | None = None, keypair: str | None = None,
                 security_groups: tuple[str, ...] = (), flavor_size: tuple[int, int] | None = None,
                 volumes: tuple = ()):
        self.conn, self.stack = conn, stack
        self.image_id, self.flavor_id, self.network_id = image_id, flavor_id, network_id
        self.user_data, self.server_group_id = user_data, server_group_id
        self.availability_zone, self.keypair = availability_zone, keypair
        self.security_groups = security_groups
        self.flavor_size = flavor_size
        self.volumes = tuple(volumes)   # WorkerVolume: every worker gets each one

    @classmethod
    def from_settings(cls, settings, stack: str, user_data: str) -> "OpenStackCloud":
        """Connect with clouds.yaml and resolve image, flavor and network names once."""
        import openstack

        try:
            conn = openstack.connection.Connection(config=cloud_region(settings))
            image = conn.image.find_image(settings.image, ignore_missing=False)
            flavor = conn.compute.find_flavor(settings.flavor, ignore_missing=False)
            network = conn.network.find_network(settings.network, ignore_missing=False)
        except Exception as error:  # noqa: BLE001 - config and auth errors come in many types
            raise CloudError(f"{type(error).__name__}: {error}") from error
        return cls(conn, stack, image.id, flavor.id, network.id, user_data, settings.server_group,
                   settings.availability_zone, settings.keypair, settings.security_groups,
                   (flavor.vcpus, flavor.ram), settings.volumes)

    @classmethod
    def for_teardown(cls, conn, stack: str) -> "OpenStackCloud":
        """An adapter that lists, tags and deletes the stack's VMs but boots nothing:
        `relval down`'s side of the teardown protocol, with the operator's connection."""
        return cls(conn, stack, image_id="", flavor_id="", network_id="")

    def worker_size(self) -> tuple[int, int]:
        """(cores, RAM MB) of the worker flavor, for packing jobs."""
        if self.flavor_size is None:
            flavor = self._call("get flavor", lambda: self.conn.compute.get_flavor(self.flavor_id))
            self.flavor_size = (flavor.vcpus, flavor.ram)
        return self.flavor_size

    def _call(self, what: str, fn):
        """fn() with every failure as a CloudError. `fn` is called here, whole: even
        `conn.compute` can fail (the SDK makes its proxy, with a Keystone call, on first use)."""
        from keystoneauth1 import exceptions as ks_exceptions
        from openstack import exceptions
        try:
            return fn()
        except exceptions.SDKException as error:
            raise CloudError(f"{what}: {error}") from error
        except ks_exceptions.ClientException as error:   # timeouts, refused connections, a
            # revoked credential (keystoneauth raises its own Unauthorized while re-authenticating)
            raise CloudError(f"{what}: {type(error).__name__}: {error}") from error

    def create_worker(self, name: str, metadata: dict[str, str]) -> str:
        kwargs = {"name": name, "image_id": self.image_id, "flavor_id": self.flavor_id,
                  "networks": [{"uuid": self.network_id}], "metadata": dict(metadata)}
        if self.user_data:
            kwargs["user_data"] = base64.b64encode(self.user_data.encode()).decode()
        if self.server_group_id:
            kwargs["scheduler_hints"] = {"group": self.server_group_id}
        if self.availability_zone:
            kwargs["availability_zone"] = self.availability_zone
        if self.keypair:
            kwargs["key_name"] = self.keypair
        if self.security_groups:
            kwargs["security_groups"] = [{"name": g} for g in self.security_groups]
        if self.volumes:
            kwargs["block_device_mapping"] = block_devices(self.image_id, self.volumes)
        from openstack import exceptions
        try:
            server = self._call("create server", lambda: self.conn.compute.create_server(**kwargs))
        except CloudError as error:
            # Nova refuses a boot past a quota with 403 (413 before microversion 2.1).
            cause = error.__cause__
            if (isinstance(cause, exceptions.HttpException) and cause.status_code in (403, 413)
                    and "quota" in str(cause).lower()):
                raise QuotaError(str(error)) from cause
            raise
        return server.id

    def list_workers(self) -> list[Worker]:
        servers = self._call("list servers", lambda: list(self.conn.compute.servers(details=True)))
        out = []
        for s in servers:
            md = dict(s.metadata or {})
            if md.get(STACK_KEY) != self.stack:
                continue
            status = (s.status or "").upper()
            scaler_status = STATUS.get(status, TRANSIENT)
            # A server being deleted keeps its status; nova's task_state says "deleting".
            if scaler_status != GONE and (s.task_state or "").lower() == "deleting":
                scaler_status, status = DELETING, f"{status}/deleting"
            out.append(Worker(s.id, s.name or "", scaler_status, parse_time(s.created_at), md,
                              detail=status))
        return out

    def delete_worker(self, worker_id: str) -> None:
        self._call("delete server",
                   lambda: self.conn.compute.delete_server(worker_id, ignore_missing=True))

    def set_metadata(self, vm_id: str, metadata: dict[str, str]) -> None:
        self._call("set server metadata",
                   lambda: self.conn.compute.set_server_metadata(vm_id, **metadata))

    def limits(self) -> Limits:
        absolute = self._call("limits", lambda: self.conn.compute.get_limits()).absolute
        members, used_members = None, 0
        if self.server_group_id:
            # The server group's member quota: nova does not report its use, the group does.
            group = self._call("get server group",
                               lambda: self.conn.compute.get_server_group(self.server_group_id))
            members = absolute.server_group_members
            used_members = len(group.member_ids or [])
        return Limits(max_instances=absolute.instances, max_cores=absolute.total_cores,
                      max_ram_mb=absolute.total_ram,
                      used_instances=absolute.instances_used or 0,
                      used_cores=absolute.total_cores_used or 0,
                      used_ram_mb=absolute.total_ram_used or 0,
                      max_group_members=members, used_group_members=used_members)
