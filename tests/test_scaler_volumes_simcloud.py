"""Workers the scaler boots get the configured worker volumes, over real HTTP against the
simulated OpenStack: blank volumes in Nova's block_device_mapping_v2, created with the
server, tagged for the guest, and deleted with it (nothing left behind)."""

from __future__ import annotations

import pytest

from relval.autoscaler.adapters.openstack import OpenStackCloud
from relval.autoscaler.config import WorkerVolume

from .scaler_simcloud import FLAVOR, IMAGE, NETWORK, STACK
from .simcloud_support import connect, until

pytestmark = pytest.mark.filterwarnings("ignore::openstack.warnings.RemovedInSDK50Warning")


def test_a_scaled_worker_gets_its_volumes_and_they_go_with_it(simcloud):
    operator = connect(simcloud)
    ids = simcloud.ids
    cloud = OpenStackCloud(operator, STACK, ids["images"][IMAGE], ids["flavors"][FLAVOR],
                           ids["networks"][NETWORK], user_data="#cloud-config\n",
                           volumes=(WorkerVolume("scratch", 20), WorkerVolume("cache", 5)))
    server_id = cloud.create_worker(f"{STACK}-worker-x", {"relval-stack": STACK, "relval-role": "worker"})
    until(lambda: operator.compute.get_server(server_id).status == "ACTIVE")
    attached = {a.volume_id for a in operator.compute.volume_attachments(server_id)}
    volumes = {v.id: v for v in operator.block_storage.volumes()}
    assert len(attached) == 2 and attached <= set(volumes)
    assert sorted(volumes[v].size for v in attached) == [5, 20]
    # The guest finds each volume by its tag in Nova's device metadata.
    server = simcloud.server.inventory()["servers"]
    [record] = [s for s in server if s["id"] == server_id]
    assert {v["tag"] for v in record["volumes"]} == {"relval-scratch", "relval-cache"}
    assert all(v["delete_on_termination"] for v in record["volumes"])

    cloud.delete_worker(server_id)
    until(lambda: not [s for s in operator.compute.servers() if s.id == server_id], timeout=20)
    until(lambda: not attached & {v.id for v in operator.block_storage.volumes()}, timeout=20)


def test_volumes_nova_failed_to_delete_with_a_worker_are_swept_and_no_other(simcloud):
    """The block device mapping sets no metadata on the volumes Nova makes: when Nova's
    delete leaves them behind, `relval down`'s sweep still finds them, through the server
    they were made with. A volume attached by hand (not delete_on_termination) is kept."""
    from relval.autoscaler.teardown import sweep
    from relval.openstack_sweep import OpenStackStackResources
    from relval.simcloud import client

    operator = connect(simcloud)
    ids = simcloud.ids
    cloud = OpenStackCloud(operator, STACK, ids["images"][IMAGE], ids["flavors"][FLAVOR],
                           ids["networks"][NETWORK], user_data="#cloud-config\n",
                           volumes=(WorkerVolume("scratch", 20),))
    server_id = cloud.create_worker(f"{STACK}-worker-y", {"relval-stack": STACK, "relval-role": "worker"})
    until(lambda: operator.compute.get_server(server_id).status == "ACTIVE")
    [made] = [a.volume_id for a in operator.compute.volume_attachments(server_id)]
    data = operator.block_storage.create_volume(size=1, name="someones-data")
    until(lambda: operator.block_storage.get_volume(data.id).status == "available")
    operator.compute.create_volume_attachment(server_id, volume_id=data.id)
    until(lambda: operator.block_storage.get_volume(data.id).status == "in-use")
    client.add_fault(simcloud.url, {"kind": "volume_kept", "name": "worker-y"})

    report = sweep(OpenStackStackResources(operator, STACK), STACK, timeout_s=60, poll_s=0.3)
    assert report.clean, report.to_json()
    assert report.deleted["volume"] == [made]
    left = {v.id: v.status for v in operator.block_storage.volumes()}
    assert made not in left
    assert left[data.id] == "available"
