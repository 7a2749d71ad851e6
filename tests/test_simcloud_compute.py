"""Nova of the simulated cloud through openstacksdk: servers, keypairs, server groups,
limits and quotas, volume attachments, microversions, and the 404/409 cases."""

from __future__ import annotations

import base64

import pytest
import requests
from openstack import exceptions

from tests.simcloud_support import PUBLIC_KEY, connect, until

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
USER_DATA = "#cloud-config\nruncmd: [echo hi]\n"


def boot(conn, sim, name="w1", flavor="m1.small", **extra):
    kwargs = {"name": name, "image_id": sim.ids["images"]["alma9"],
              "flavor_id": sim.ids["flavors"][flavor],
              "networks": [{"uuid": sim.ids["networks"]["relval-net"]}]}
    kwargs.update(extra)
    return conn.compute.create_server(**kwargs)


def test_server_builds_then_is_active_with_metadata_user_data_and_address(simcloud):
    conn = connect(simcloud)
    server = boot(conn, simcloud, metadata={"relval-stack": "alice"}, key_name="ops",
                  user_data=base64.b64encode(USER_DATA.encode()).decode())
    assert conn.compute.get_server(server.id).status == "BUILD"
    active = conn.compute.wait_for_server(server, wait=10, interval=0.05)
    assert active.status == "ACTIVE" and active.metadata == {"relval-stack": "alice"}
    assert active.key_name == "ops"
    [address] = active.addresses["relval-net"]
    assert address["addr"].startswith("10.10.0.") and address["OS-EXT-IPS:type"] == "fixed"
    # What the guest received, as the inventory keeps it.
    [record] = simcloud.server.inventory()["servers"]
    assert base64.b64decode(record["user_data"]).decode() == USER_DATA
    # Nova made the port and bound it to the server.
    [port] = conn.network.ports(device_id=server.id)
    assert port.device_owner == "compute:nova" and port.status == "ACTIVE"


def test_list_filters_by_name_regex_and_shows_detail(simcloud):
    conn = connect(simcloud)
    for name in ("alice-worker-1", "alice-worker-2", "bob-head"):
        boot(conn, simcloud, name=name)
    assert sorted(s.name for s in conn.compute.servers(name="^alice-worker")) == \
        ["alice-worker-1", "alice-worker-2"]
    assert {s.status for s in conn.compute.servers(details=True)} == {"BUILD"}


def test_delete_takes_time_and_frees_the_port(simcloud):
    conn = connect(simcloud)
    server = conn.compute.wait_for_server(boot(conn, simcloud), wait=10, interval=0.05)
    conn.compute.delete_server(server)
    deleting = conn.compute.get_server(server.id)
    assert deleting.status == "ACTIVE" and deleting.task_state == "deleting"
    conn.compute.wait_for_delete(server, wait=10, interval=0.05)
    assert list(conn.network.ports(device_id=server.id)) == []
    assert simcloud.server.inventory()["leftovers"] == 0


def test_missing_things_are_404_or_400_as_in_nova(simcloud):
    conn = connect(simcloud)
    with pytest.raises(exceptions.NotFoundException):
        conn.compute.get_server("00000000-0000-0000-0000-000000000000")
    with pytest.raises(exceptions.NotFoundException):
        conn.compute.get_flavor("nope")
    with pytest.raises(exceptions.BadRequestException, match="Flavor nope could not be found"):
        conn.compute.create_server(name="x", image_id=simcloud.ids["images"]["alma9"],
                                   flavor_id="nope", networks="none")
    with pytest.raises(exceptions.BadRequestException, match="key_name"):
        boot(conn, simcloud, key_name="missing")
    with pytest.raises(exceptions.BadRequestException, match="base64"):
        boot(conn, simcloud, user_data="not base64!")


def test_keypairs_import_show_conflict_delete(simcloud):
    conn = connect(simcloud)
    created = conn.compute.create_keypair(name="alice-key", public_key=PUBLIC_KEY)
    assert created.fingerprint.count(":") == 15
    assert conn.compute.get_keypair("alice-key").public_key == PUBLIC_KEY
    with pytest.raises(exceptions.ConflictException):
        conn.compute.create_keypair(name="alice-key", public_key=PUBLIC_KEY)
    conn.compute.delete_keypair("alice-key")
    with pytest.raises(exceptions.NotFoundException):
        conn.compute.get_keypair("alice-key")


def test_server_group_members_and_their_quota(simcloud):
    simcloud.server.configure(quotas={"server_group_members": 2})
    conn = connect(simcloud)
    group = conn.compute.create_server_group(name="workers", policy="soft-anti-affinity")
    for index in range(2):
        boot(conn, simcloud, name=f"w{index}", scheduler_hints={"group": group.id})
    assert len(conn.compute.get_server_group(group.id).member_ids) == 2
    with pytest.raises(exceptions.ForbiddenException, match="too many servers in group"):
        boot(conn, simcloud, name="w3", scheduler_hints={"group": group.id})


def test_limits_follow_usage_and_quota_refuses_with_403(simcloud):
    simcloud.server.configure(quotas={"instances": 2, "cores": 5})
    conn = connect(simcloud)
    boot(conn, simcloud, name="a", flavor="m2.large")
    absolute = conn.compute.get_limits().absolute
    assert (absolute.instances, absolute.instances_used) == (2, 1)
    assert (absolute.total_cores_used, absolute.total_ram_used) == (4, 8192)
    assert absolute.server_group_members == 10
    with pytest.raises(exceptions.ForbiddenException, match="Quota exceeded for cores"):
        boot(conn, simcloud, name="b", flavor="m2.large")
    boot(conn, simcloud, name="b")
    with pytest.raises(exceptions.ForbiddenException, match="Quota exceeded for instances"):
        boot(conn, simcloud, name="c")


def test_volume_attach_detach_moves_cinder_statuses(simcloud):
    conn = connect(simcloud)
    volume = conn.block_storage.create_volume(size=10, name="data", volume_type="standard")
    assert volume.status == "creating"
    conn.block_storage.wait_for_status(volume, "available", wait=5, interval=0.05)
    server = boot(conn, simcloud)
    # Nova refuses to attach to a server still building.
    with pytest.raises(exceptions.ConflictException, match="vm_state building"):
        conn.compute.create_volume_attachment(server, volume_id=volume.id)
    conn.compute.wait_for_server(server, wait=10, interval=0.05)
    attachment = conn.compute.create_volume_attachment(server, volume_id=volume.id)
    assert attachment.device == "/dev/vdb"
    conn.block_storage.wait_for_status(volume, "in-use", wait=5, interval=0.05)
    assert conn.block_storage.get_volume(volume.id).attachments[0]["server_id"] == server.id
    with pytest.raises(exceptions.BadRequestException, match="must be available"):
        conn.block_storage.delete_volume(volume)
    conn.compute.delete_volume_attachment(server, volume.id)
    conn.block_storage.wait_for_status(volume, "available", wait=5, interval=0.05)
    assert list(conn.compute.volume_attachments(server)) == []
    listed = requests.get(f"{simcloud.url}/volume/v3/{conn.current_project_id}/volumes/detail",
                          headers={"X-Auth-Token": conn.auth_token,
                                   "OpenStack-API-Version": "volume 3.60"}, timeout=5)
    assert listed.headers["OpenStack-API-Version"] == "volume 3.60"
    assert [v["status"] for v in listed.json()["volumes"]] == ["available"]
    conn.block_storage.delete_volume(volume)
    conn.block_storage.wait_for_delete(volume, wait=5, interval=0.05)


def test_boot_from_volume_with_block_device_mapping(simcloud):
    conn = connect(simcloud)
    server = boot(conn, simcloud, image_id=None, block_device_mapping=[{
        "boot_index": 0, "uuid": simcloud.ids["images"]["alma9"], "source_type": "image",
        "destination_type": "volume", "volume_size": 20, "delete_on_termination": True}])
    conn.compute.wait_for_server(server, wait=10, interval=0.05)
    [volume] = conn.block_storage.volumes()
    until(lambda: conn.block_storage.get_volume(volume.id).status == "in-use")
    conn.compute.delete_server(server)
    conn.compute.wait_for_delete(server, wait=10, interval=0.05)
    until(lambda: not list(conn.block_storage.volumes()))


def _get(sim, conn, path, version=None):
    headers = {"X-Auth-Token": conn.auth_token}
    if version:
        headers["OpenStack-API-Version"] = f"compute {version}"
    return requests.get(sim.url + "/compute/v2.1" + path, headers=headers, timeout=5)


def test_microversions_are_negotiated_echoed_and_change_shapes(simcloud):
    conn = connect(simcloud)
    versions = requests.get(simcloud.url + "/compute/v2.1", timeout=5).json()["version"]
    assert (versions["min_version"], versions["version"]) == ("2.1", "2.96")
    server = boot(conn, simcloud)
    old = _get(simcloud, conn, f"/servers/{server.id}")
    assert old.headers["OpenStack-API-Version"] == "compute 2.1"
    assert old.json()["server"]["flavor"]["id"] == simcloud.ids["flavors"]["m1.small"]
    new = _get(simcloud, conn, f"/servers/{server.id}", "2.47")
    assert new.headers["X-OpenStack-Nova-API-Version"] == "2.47"
    assert new.json()["server"]["flavor"]["original_name"] == "m1.small"
    assert _get(simcloud, conn, "/servers", "2.200").status_code == 406
    # Server groups: `policies` before 2.64, `policy` and `rules` from it.
    token = {"X-Auth-Token": conn.auth_token}
    legacy = requests.post(simcloud.url + "/compute/v2.1/os-server-groups", headers=token,
                           json={"server_group": {"name": "g", "policy": "anti-affinity"}}, timeout=5)
    assert legacy.status_code == 400
    group = requests.post(simcloud.url + "/compute/v2.1/os-server-groups", headers=token,
                          json={"server_group": {"name": "g", "policies": ["anti-affinity"]}},
                          timeout=5).json()["server_group"]
    assert group["policies"] == ["anti-affinity"]
    assert _get(simcloud, conn, f"/os-server-groups/{group['id']}", "2.64").json()[
        "server_group"]["policy"] == "anti-affinity"


def test_networks_are_required_from_2_37_and_ports_in_use_conflict(simcloud):
    conn = connect(simcloud)
    with pytest.raises(exceptions.BadRequestException, match="networks"):
        conn.compute.create_server(name="x", image_id=simcloud.ids["images"]["alma9"],
                                   flavor_id=simcloud.ids["flavors"]["m1.small"])
    port = conn.network.create_port(network_id=simcloud.ids["networks"]["relval-net"])
    boot(conn, simcloud, name="a", networks=[{"port": port.id}])
    with pytest.raises(exceptions.ConflictException, match="still in use"):
        boot(conn, simcloud, name="b", networks=[{"port": port.id}])
