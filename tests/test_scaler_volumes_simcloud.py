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
