"""Neutron of the simulated cloud through openstacksdk: ports, security groups and
rules, floating IPs, filters and tags, with neutron's 404 and 409 answers."""

from __future__ import annotations

import pytest
import requests
from openstack import exceptions

from tests.simcloud_support import connect

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_port_create_show_update_list_delete(simcloud):
    conn = connect(simcloud)
    net_id = simcloud.ids["networks"]["relval-net"]
    port = conn.network.create_port(network_id=net_id, name="head",
                                    fixed_ips=[{"ip_address": "10.10.0.50"}])
    assert port.fixed_ips[0]["ip_address"] == "10.10.0.50" and port.status == "DOWN"
    assert port.mac_address.startswith("fa:16:3e:")
    with pytest.raises(exceptions.ConflictException, match="already allocated"):
        conn.network.create_port(network_id=net_id, fixed_ips=[{"ip_address": "10.10.0.50"}])
    renamed = conn.network.update_port(port, name="head-0")
    assert renamed.name == "head-0" and renamed.revision_number == 1
    assert [p.id for p in conn.network.ports(name="head-0")] == [port.id]
    conn.network.delete_port(port)
    with pytest.raises(exceptions.NotFoundException):
        conn.network.get_port(port.id)
    with pytest.raises(exceptions.NotFoundException):
        conn.network.create_port(network_id="no-such-network")


def test_security_group_rules_conflict_on_duplicates_and_groups_in_use(simcloud):
    conn = connect(simcloud)
    group = conn.network.create_security_group(name="alice-cluster", description="x")
    assert {r["direction"] for r in group.security_group_rules} == {"egress"}
    rule = dict(security_group_id=group.id, direction="ingress", ethertype="IPv4",
                protocol="tcp", port_range_min=9618, port_range_max=9618,
                remote_group_id=group.id)
    created = conn.network.create_security_group_rule(**rule)
    with pytest.raises(exceptions.ConflictException, match=created.id):
        conn.network.create_security_group_rule(**rule)
    with pytest.raises(exceptions.BadRequestException, match="Conflicting value ethertype"):
        conn.network.create_security_group_rule(
            security_group_id=group.id, direction="ingress", ethertype="IPv6", protocol="tcp",
            port_range_min=22, port_range_max=22, remote_ip_prefix="137.138.0.0/16")
    with pytest.raises(exceptions.NotFoundException):
        conn.network.create_security_group_rule(security_group_id="missing", direction="ingress")
    port = conn.network.create_port(network_id=simcloud.ids["networks"]["relval-net"],
                                    security_group_ids=[group.id])
    with pytest.raises(exceptions.ConflictException, match="in use"):
        conn.network.delete_security_group(group)
    conn.network.delete_port(port)
    conn.network.delete_security_group_rule(created)
    with pytest.raises(exceptions.NotFoundException):
        conn.network.get_security_group_rule(created.id)
    conn.network.delete_security_group(group)
    assert simcloud.server.inventory()["leftovers"] == 0


def test_floating_ip_from_pool_associates_to_a_server_port(simcloud):
    conn = connect(simcloud)
    pool = simcloud.ids["floating_ip_pools"]["public"]
    port = conn.network.create_port(network_id=simcloud.ids["networks"]["relval-net"])
    server = conn.compute.create_server(
        name="head", image_id=simcloud.ids["images"]["alma9"],
        flavor_id=simcloud.ids["flavors"]["m1.small"], networks=[{"port": port.id}])
    assert conn.network.get_port(port.id).device_id == server.id
    fip = conn.network.create_ip(floating_network_id=pool)
    assert fip.floating_ip_address.startswith("198.51.100.") and fip.status == "DOWN"
    with pytest.raises(exceptions.BadRequestException, match="not a valid external network"):
        conn.network.create_ip(floating_network_id=simcloud.ids["networks"]["relval-net"])
    conn.network.update_ip(fip, port_id=port.id)
    [found] = conn.network.ips(floating_ip_address=fip.floating_ip_address)
    assert found.port_id == port.id and found.status == "ACTIVE"
    addresses = conn.compute.get_server(server.id).addresses["relval-net"]
    assert {a["OS-EXT-IPS:type"] for a in addresses} == {"fixed", "floating"}
    second = conn.network.create_ip(floating_network_id=pool)
    with pytest.raises(exceptions.ConflictException):
        conn.network.update_ip(second, port_id=port.id)
    # Deleting the server leaves a port it did not make, unbound, with its floating IP.
    conn.compute.delete_server(server)
    conn.compute.wait_for_delete(server, wait=10, interval=0.05)
    assert conn.network.get_port(port.id).device_id == ""
    conn.network.update_ip(fip, port_id=None)
    for ip in (fip, second):
        conn.network.delete_ip(ip)
    conn.network.delete_port(port)
    assert simcloud.server.inventory()["leftovers"] == 0


def test_filters_tags_and_unknown_filters(simcloud):
    conn = connect(simcloud)
    token = {"X-Auth-Token": conn.auth_token}
    nets = requests.get(simcloud.url + "/network/v2.0/networks",
                        params={"name": "public", "router:external": "true"}, headers=token,
                        timeout=5).json()["networks"]
    assert [n["id"] for n in nets] == [simcloud.ids["floating_ip_pools"]["public"]]
    group = conn.network.create_security_group(name="tagged")
    tags = requests.put(f"{simcloud.url}/network/v2.0/security-groups/{group.id}/tags",
                        json={"tags": ["relval-stack=alice"]}, headers=token, timeout=5)
    assert tags.status_code == 200 and tags.json() == {"tags": ["relval-stack=alice"]}
    assert [g.id for g in conn.network.security_groups(tags="relval-stack=alice")] == [group.id]
    bad = requests.get(simcloud.url + "/network/v2.0/ports", params={"colour": "red"},
                       headers=token, timeout=5)
    assert bad.status_code == 400 and bad.json()["NeutronError"]["type"] == "HTTPBadRequest"
    missing = requests.get(simcloud.url + "/network/v2.0/networks/nope", headers=token, timeout=5)
    assert missing.json()["NeutronError"]["type"] == "NetworkNotFound"


def test_network_quota_answers_409_over_quota(simcloud):
    simcloud.server.configure(quotas={"port": 1})
    conn = connect(simcloud)
    conn.network.create_port(network_id=simcloud.ids["networks"]["relval-net"])
    with pytest.raises(exceptions.ConflictException, match="Quota exceeded"):
        conn.network.create_port(network_id=simcloud.ids["networks"]["relval-net"])
