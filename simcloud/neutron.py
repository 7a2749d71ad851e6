"""Neutron v2.0: networks, subnets, ports, security groups and rules, floating IPs, tags.

Records live in their API shape; fields starting with `_` are ours. Errors carry
neutron's type (`NetworkNotFound`, `SecurityGroupRuleExists`, ...), as NeutronError.
"""

from __future__ import annotations

import ipaddress
import random

from flask import Blueprint, request

from .errors import ApiError, bad_request, conflict, not_found
from .store import Store, iso_z, new_id
from .web import base_url, body, no_content, reply, store

bp = Blueprint("neutron", __name__, url_prefix="/network")

# Collections as the URL names them -> store collection and the body's singular key.
COLLECTIONS = {
    "networks": ("networks", "network"),
    "subnets": ("subnets", "subnet"),
    "ports": ("ports", "port"),
    "security-groups": ("security_groups", "security_group"),
    "security-group-rules": ("security_group_rules", "security_group_rule"),
    "floatingips": ("floating_ips", "floatingip"),
}
NOT_FOUND_KIND = {"networks": "NetworkNotFound", "subnets": "SubnetNotFound",
                  "ports": "PortNotFound", "security_groups": "SecurityGroupNotFound",
                  "security_group_rules": "SecurityGroupRuleNotFound",
                  "floating_ips": "FloatingIPNotFound"}
NOT_FOUND_TEXT = {"networks": "Network {} could not be found.",
                  "subnets": "Subnet {} could not be found.",
                  "ports": "Port {} could not be found.",
                  "security_groups": "Security group {} does not exist",
                  "security_group_rules": "Security group rule {} does not exist",
                  "floating_ips": "Floating IP {} could not be found"}
EXTENSIONS = ("standard-attr-tag", "standard-attr-description", "standard-attr-timestamp",
              "standard-attr-revisions", "security-group", "external-net", "router",
              "port-security", "binding", "allowed-address-pairs", "extra_dhcp_opt", "quotas",
              "network_availability_zone", "availability_zone", "net-mtu", "project-id",
              "fip-port-details", "stateful-security-group", "filter-validation")
_COMMON = {"id", "name", "tenant_id", "project_id", "description", "created_at", "updated_at",
           "revision_number", "tags"}
# What neutron accepts as a filter per collection (filter validation, on since Stein).
FILTERABLE = {
    "networks": _COMMON | {"status", "admin_state_up", "shared", "mtu", "router:external",
                           "port_security_enabled", "is_default", "subnets"},
    "subnets": _COMMON | {"network_id", "ip_version", "cidr", "gateway_ip", "enable_dhcp",
                          "subnetpool_id"},
    "ports": _COMMON | {"network_id", "mac_address", "fixed_ips", "device_id", "device_owner",
                        "status", "admin_state_up", "security_groups", "port_security_enabled",
                        "binding:vnic_type", "ip_allocation"},
    "security_groups": _COMMON | {"stateful", "shared"},
    "security_group_rules": _COMMON - {"name", "tags"} | {
        "security_group_id", "direction", "ethertype", "protocol", "port_range_min",
        "port_range_max", "remote_ip_prefix", "remote_group_id", "normalized_cidr"},
    "floatingips": _COMMON - {"name"} | {"floating_ip_address", "floating_network_id",
                                         "router_id", "port_id", "fixed_ip_address", "status"},
}
PAGING_ARGS = {"limit", "marker", "sort_key", "sort_dir", "fields", "page_reverse",
               "tags", "tags-any", "not-tags", "not-tags-any"}


# ---------------------------------------------------------------- records and lookups

def lookup(s: Store, collection: str, record_id: str) -> dict:
    return s.get(collection, record_id, NOT_FOUND_TEXT[collection].format(record_id),
                 NOT_FOUND_KIND[collection])


def _stamp(s: Store, record: dict) -> dict:
    now = iso_z(s.now())
    record.update({"tenant_id": s.settings.project_id, "project_id": s.settings.project_id,
                   "created_at": now, "updated_at": now, "revision_number": 0})
    record.setdefault("description", "")
    record.setdefault("tags", [])
    return record


def _touch(s: Store, record: dict) -> None:
    record["updated_at"] = iso_z(s.now())
    record["revision_number"] += 1


def _check_quota(s: Store, collection: str, quota: str, adding: int = 1) -> None:
    if len(s.data[collection]) + adding > s.quota(quota):
        raise ApiError(409, f"Quota exceeded for resources: ['{quota}'].", "OverQuota")


def render(record: dict) -> dict:
    return {k: v for k, v in record.items() if not k.startswith("_")}


def create_network(s: Store, spec: dict, seeded: bool = False) -> dict:
    _check_quota(s, "networks", "network")
    external = bool(spec.get("router:external", False))
    net = _stamp(s, {
        "id": new_id(), "name": spec.get("name", ""), "status": "ACTIVE",
        "admin_state_up": spec.get("admin_state_up", True), "shared": spec.get("shared", False),
        "subnets": [], "mtu": spec.get("mtu", 1450), "router:external": external,
        "port_security_enabled": spec.get("port_security_enabled", True),
        "availability_zone_hints": [], "availability_zones": ["nova"],
        "ipv4_address_scope": None, "ipv6_address_scope": None, "l2_adjacency": True,
        "qos_policy_id": None, "dns_domain": "", "is_default": False,
        "description": spec.get("description", "")})
    return s.add("networks", net, seeded)


def create_subnet(s: Store, spec: dict, seeded: bool = False) -> dict:
    net = lookup(s, "networks", spec.get("network_id", ""))
    _check_quota(s, "subnets", "subnet")
    try:
        cidr = ipaddress.ip_network(spec.get("cidr", ""), strict=False)
    except ValueError:
        raise bad_request(f"Invalid input for cidr. Reason: '{spec.get('cidr')}' is not a valid "
                          "IP subnet.", "HTTPBadRequest") from None
    hosts = list(cidr.hosts()) if cidr.num_addresses <= 65536 else [cidr[1], cidr[-2]]
    gateway = spec.get("gateway_ip", str(hosts[0]))
    pools = spec.get("allocation_pools") or [{"start": str(hosts[1]), "end": str(hosts[-1])}]
    subnet = _stamp(s, {
        "id": new_id(), "name": spec.get("name", ""), "network_id": net["id"],
        "ip_version": cidr.version, "cidr": str(cidr), "gateway_ip": gateway,
        "allocation_pools": pools, "dns_nameservers": spec.get("dns_nameservers", []),
        "host_routes": [], "enable_dhcp": spec.get("enable_dhcp", True),
        "ipv6_ra_mode": None, "ipv6_address_mode": None, "subnetpool_id": None,
        "service_types": [], "description": spec.get("description", "")})
    net["subnets"].append(subnet["id"])
    return s.add("subnets", subnet, seeded)


def _used_addresses(s: Store) -> set[str]:
    used = {ip["ip_address"] for p in s.data["ports"].values() for ip in p["fixed_ips"]}
    used |= {f["floating_ip_address"] for f in s.data["floating_ips"].values()}
    return used


def allocate_ip(s: Store, subnet: dict, wanted: str | None = None) -> str:
    used = _used_addresses(s) | {subnet["gateway_ip"]}
    if wanted:
        if ipaddress.ip_address(wanted) not in ipaddress.ip_network(subnet["cidr"]):
            raise bad_request(f"IP address {wanted} is not a valid IP for the specified subnet.",
                              "InvalidIpForSubnet")
        if wanted in used:
            raise conflict(f"IP address {wanted} already allocated in subnet {subnet['id']}",
                           "IpAddressAlreadyAllocated")
        return wanted
    for pool in subnet["allocation_pools"]:
        address = ipaddress.ip_address(pool["start"])
        while address <= ipaddress.ip_address(pool["end"]):
            if str(address) not in used:
                return str(address)
            address += 1
    raise conflict(f"No more IP addresses available on network {subnet['network_id']}.",
                   "IpAddressGenerationFailure")


def default_security_group(s: Store) -> dict:
    """Neutron makes each project's `default` group on first use."""
    for group in s.data["security_groups"].values():
        if group["name"] == "default" and group.get("_default"):
            return group
    group = _new_security_group(s, {"name": "default",
                                    "description": "Default security group"}, seeded=True)
    group["_default"] = True
    for ethertype in ("IPv4", "IPv6"):
        create_rule(s, {"security_group_id": group["id"], "direction": "ingress",
                        "ethertype": ethertype, "remote_group_id": group["id"]}, seeded=True)
    return group


def _new_security_group(s: Store, spec: dict, seeded: bool = False) -> dict:
    group = _stamp(s, {"id": new_id(), "name": spec.get("name", ""),
                       "description": spec.get("description", ""),
                       "stateful": spec.get("stateful", True), "shared": False})
    s.add("security_groups", group, seeded)
    for ethertype in ("IPv4", "IPv6"):
        create_rule(s, {"security_group_id": group["id"], "direction": "egress",
                        "ethertype": ethertype}, seeded=seeded)
    return group


def create_security_group(s: Store, spec: dict) -> dict:
    default_security_group(s)
    _check_quota(s, "security_groups", "security_group")
    return _new_security_group(s, spec)


def rules_of(s: Store, group_id: str) -> list[dict]:
    return [r for r in s.data["security_group_rules"].values() if r["security_group_id"] == group_id]


def render_security_group(s: Store, group: dict) -> dict:
    out = render(group)
    out["security_group_rules"] = [render(r) for r in rules_of(s, group["id"])]
    return out


PROTOCOLS = {"tcp": 6, "udp": 17, "icmp": 1, "icmpv6": 58, "ipv6-icmp": 58, "sctp": 132}


def create_rule(s: Store, spec: dict, seeded: bool = False) -> dict:
    group = lookup(s, "security_groups", spec.get("security_group_id") or "")
    direction, ethertype = spec.get("direction"), spec.get("ethertype", "IPv4")
    if direction not in ("ingress", "egress"):
        raise bad_request(f"Invalid input for direction. Reason: {direction} is not in "
                          "valid_values.", "HTTPBadRequest")
    if ethertype not in ("IPv4", "IPv6"):
        raise bad_request(f"Invalid input for ethertype. Reason: {ethertype} is not in "
                          "valid_values.", "HTTPBadRequest")
    protocol = spec.get("protocol")
    if protocol is not None and str(protocol).lower() not in PROTOCOLS and not str(protocol).isdigit():
        raise bad_request(f"Security group rule protocol {protocol} not supported. Only protocol "
                          "values [None, 'tcp', 'udp', 'icmp', 'icmpv6'] and integer "
                          "representations [0 to 255] are supported.",
                          "SecurityGroupRuleInvalidProtocol")
    low, high = spec.get("port_range_min"), spec.get("port_range_max")
    if protocol in ("tcp", "udp", "sctp"):
        if (low is None) != (high is None):
            raise bad_request("For TCP/UDP protocols, port_range_min must be <= port_range_max",
                              "SecurityGroupInvalidPortRange")
        if low is not None and not (1 <= int(low) <= int(high) <= 65535):
            raise bad_request("Invalid value for port " + str(low if int(low) < 1 else high),
                              "SecurityGroupInvalidPortValue")
    elif low is not None and protocol is None:
        raise bad_request("Must also specify protocol if port range is given.",
                          "SecurityGroupProtocolRequiredWithPorts")
    prefix, remote_group = spec.get("remote_ip_prefix"), spec.get("remote_group_id")
    if prefix and remote_group:
        raise bad_request("Only remote_ip_prefix or remote_group_id may be provided.",
                          "SecurityGroupRemoteGroupAndRemoteIpPrefix")
    if remote_group:
        lookup(s, "security_groups", remote_group)
    normalized = None
    if prefix:
        try:
            net = ipaddress.ip_network(prefix, strict=False)
        except ValueError:
            raise bad_request(f"Invalid input for remote_ip_prefix. Reason: '{prefix}' is not a "
                              "valid IP subnet.", "HTTPBadRequest") from None
        if f"IPv{net.version}" != ethertype:
            raise bad_request(f"Conflicting value ethertype {ethertype} for CIDR {prefix}",
                              "SecurityGroupRuleParameterConflict")
        normalized = str(net)
    signature = (direction, ethertype, protocol, low, high, normalized, remote_group)
    for rule in rules_of(s, group["id"]):
        if rule["_signature"] == signature:
            raise conflict(f"Security group rule already exists. Rule id is {rule['id']}.",
                           "SecurityGroupRuleExists")
    if not seeded:
        _check_quota(s, "security_group_rules", "security_group_rule")
    rule = _stamp(s, {
        "id": new_id(), "security_group_id": group["id"], "direction": direction,
        "ethertype": ethertype, "protocol": protocol, "port_range_min": low,
        "port_range_max": high, "remote_ip_prefix": prefix, "normalized_cidr": normalized,
        "remote_group_id": remote_group, "remote_address_group_id": None,
        "description": spec.get("description", ""), "belongs_to_default_sg": bool(group.get("_default")),
        "_signature": signature})
    rule.pop("tags")
    return s.add("security_group_rules", rule, seeded)


def create_port(s: Store, spec: dict) -> dict:
    net = lookup(s, "networks", spec.get("network_id") or "")
    _check_quota(s, "ports", "port")
    fixed_ips = _allocate_fixed_ips(s, net, spec.get("fixed_ips"))
    security_enabled = spec.get("port_security_enabled", net["port_security_enabled"])
    groups = spec.get("security_groups")
    if groups is None:
        groups = [default_security_group(s)["id"]] if security_enabled else []
    for group_id in groups:
        lookup(s, "security_groups", group_id)
    port = _stamp(s, {
        "id": new_id(), "name": spec.get("name", ""), "network_id": net["id"],
        "admin_state_up": spec.get("admin_state_up", True),
        "mac_address": spec.get("mac_address") or "fa:16:3e:%02x:%02x:%02x" % tuple(
            random.randrange(256) for _ in range(3)),
        "fixed_ips": fixed_ips, "device_id": spec.get("device_id", ""),
        "device_owner": spec.get("device_owner", ""), "status": "DOWN",
        "security_groups": list(groups), "allowed_address_pairs": spec.get("allowed_address_pairs", []),
        "extra_dhcp_opts": [], "port_security_enabled": security_enabled,
        "binding:vnic_type": spec.get("binding:vnic_type", "normal"), "qos_policy_id": None,
        "propagate_uplink_status": False, "ip_allocation": "immediate",
        "dns_name": "", "dns_assignment": [], "description": spec.get("description", "")})
    return s.add("ports", port)


def _allocate_fixed_ips(s: Store, net: dict, wanted: list | None) -> list[dict]:
    subnets = [s.data["subnets"][i] for i in net["subnets"]]
    if not wanted:
        return [{"subnet_id": sub["id"], "ip_address": allocate_ip(s, sub)} for sub in subnets[:1]]
    out = []
    for item in wanted:
        subnet_id = item.get("subnet_id")
        if subnet_id is None:
            address = item.get("ip_address")
            matching = [sub for sub in subnets if address and
                        ipaddress.ip_address(address) in ipaddress.ip_network(sub["cidr"])]
            if not matching:
                raise bad_request(f"IP address {address} is not a valid IP for the specified "
                                  "network.", "InvalidIpForNetwork")
            subnet = matching[0]
        else:
            subnet = lookup(s, "subnets", subnet_id)
            if subnet["network_id"] != net["id"]:
                raise bad_request(f"Invalid input for operation: Failed to create port on network "
                                  f"{net['id']}, because fixed_ips included invalid subnet "
                                  f"{subnet_id}.", "InvalidInput")
        out.append({"subnet_id": subnet["id"], "ip_address": allocate_ip(s, subnet, item.get("ip_address"))})
    return out


def bind_port(s: Store, port: dict, server_id: str, zone: str) -> None:
    port.update({"device_id": server_id, "device_owner": f"compute:{zone}", "status": "ACTIVE"})
    _touch(s, port)


def unbind_port(s: Store, port: dict) -> None:
    port.update({"device_id": "", "device_owner": "", "status": "DOWN"})
    _touch(s, port)


def delete_port(s: Store, port: dict) -> None:
    for fip in s.find("floating_ips", port_id=port["id"]):
        _associate(s, fip, None, None)
    server = s.data["servers"].get(port["device_id"])
    if server is not None and port["id"] in server["ports"]:
        server["ports"].remove(port["id"])
    s.remove("ports", port["id"])


def _associate(s: Store, fip: dict, port: dict | None, fixed_ip: str | None) -> None:
    if port is None:
        fip.update({"port_id": None, "fixed_ip_address": None, "status": "DOWN",
                    "router_id": None, "port_details": None})
    else:
        if not port["fixed_ips"]:
            raise bad_request(f"Port {port['id']} does not have any IP addresses on it.",
                              "BadRequest")
        address = fixed_ip or port["fixed_ips"][0]["ip_address"]
        for other in s.find("floating_ips", port_id=port["id"]):
            if other["id"] != fip["id"] and other["fixed_ip_address"] == address:
                raise conflict(f"Cannot associate floating IP {fip['floating_ip_address']} "
                               f"({fip['id']}) with port {port['id']} using fixed IP {address}, "
                               f"as that fixed IP already has a floating IP on external network "
                               f"{other['floating_network_id']}.", "FloatingIPPortAlreadyAssociated")
        fip.update({"port_id": port["id"], "fixed_ip_address": address, "status": "ACTIVE",
                    "router_id": fip["_router_id"],
                    "port_details": {"name": port["name"], "network_id": port["network_id"],
                                     "mac_address": port["mac_address"],
                                     "admin_state_up": port["admin_state_up"],
                                     "status": port["status"], "device_id": port["device_id"],
                                     "device_owner": port["device_owner"]}})
    _touch(s, fip)


def create_floating_ip(s: Store, spec: dict) -> dict:
    net = lookup(s, "networks", spec.get("floating_network_id") or "")
    if not net["router:external"]:
        raise bad_request(f"Bad floatingip request: Network {net['id']} is not a valid external "
                          "network.", "BadRequest")
    if not net["subnets"]:
        raise bad_request(f"Bad floatingip request: Network {net['id']} does not contain any "
                          "IPv4 subnet.", "BadRequest")
    _check_quota(s, "floating_ips", "floatingip")
    address = allocate_ip(s, s.data["subnets"][net["subnets"][0]], spec.get("floating_ip_address"))
    fip = _stamp(s, {"id": new_id(), "floating_ip_address": address,
                     "floating_network_id": net["id"], "router_id": None, "port_id": None,
                     "fixed_ip_address": None, "status": "DOWN", "port_details": None,
                     "dns_domain": "", "dns_name": "", "qos_policy_id": None,
                     "description": spec.get("description", ""), "_router_id": new_id()})
    s.add("floating_ips", fip)
    if spec.get("port_id"):
        _associate(s, fip, lookup(s, "ports", spec["port_id"]), spec.get("fixed_ip_address"))
    return fip


# ---------------------------------------------------------------- listing

def _text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _matches(record: dict, key: str, wanted: list[str]) -> bool:
    if key == "fixed_ips":
        pairs = [w.split("=", 1) for w in wanted]
        return all(any(ip.get(k) == v for ip in record["fixed_ips"]) for k, v in pairs)
    value = record[key]
    if isinstance(value, list):
        return any(w in value for w in wanted)
    return _text(value) in wanted


def list_records(records: list[dict], collection_key: str, link_base: str) -> dict:
    """Neutron's generic filters (any attribute, repeated = OR), tags, fields, paging."""
    args = request.args
    for key in args:
        if key in PAGING_ARGS:
            continue
        if key not in FILTERABLE[collection_key]:
            raise bad_request(f"[{key}] is invalid attribute for filtering", "HTTPBadRequest")
        records = [r for r in records if _matches(r, key, args.getlist(key))]
    for key, test in (("tags", all), ("tags-any", any)):
        if key in args:
            wanted = args[key].split(",")
            records = [r for r in records if test(t in r.get("tags", []) for t in wanted)]
    for key, test in (("not-tags", all), ("not-tags-any", any)):
        if key in args:
            wanted = args[key].split(",")
            records = [r for r in records if not test(t in r.get("tags", []) for t in wanted)]
    links = []
    if "marker" in args:
        ids = [r["id"] for r in records]
        if args["marker"] in ids:
            records = records[ids.index(args["marker"]) + 1:]
    if args.get("limit"):
        limit = int(args["limit"])
        if len(records) > limit:
            records = records[:limit]
            links = [{"rel": "next",
                      "href": f"{link_base}?limit={limit}&marker={records[-1]['id']}"}]
    fields = args.getlist("fields")
    if fields:
        records = [{k: v for k, v in r.items() if k in fields} for r in records]
    out = {collection_key: records}
    if links:
        out[f"{collection_key}_links"] = links
    return out


# ---------------------------------------------------------------- routes

@bp.get("")
def versions():
    href = f"{base_url()}/network/v2.0/"
    return reply({"versions": [{"id": "v2.0", "status": "CURRENT",
                                "links": [{"rel": "self", "href": href}]}]})


@bp.get("/v2.0")
def resources():
    href = f"{base_url()}/network/v2.0"
    return reply({"resources": [
        {"name": singular, "collection": url, "links": [{"rel": "self", "href": f"{href}/{url}"}]}
        for url, (_, singular) in COLLECTIONS.items()]})


@bp.get("/v2.0/extensions")
def extensions():
    return reply({"extensions": [{"alias": a, "name": a, "description": a, "links": [],
                                  "updated": "2023-01-01T00:00:00-00:00"} for a in EXTENSIONS]})


def _render(s: Store, collection: str, record: dict) -> dict:
    if collection == "security_groups":
        return render_security_group(s, record)
    return render(record)


def _collection(url_name: str) -> tuple[str, str]:
    if url_name not in COLLECTIONS:
        raise ApiError(404, "The resource could not be found.", "HTTPNotFound")
    return COLLECTIONS[url_name]


@bp.get("/v2.0/<url_name>")
def list_collection(url_name):
    s = store()
    if url_name == "security-groups" or url_name == "ports":
        default_security_group(s)
    collection, _ = _collection(url_name)
    records = [_render(s, collection, r) for r in s.data[collection].values()]
    return reply(list_records(records, url_name.replace("-", "_"),
                              f"{base_url()}/network/v2.0/{url_name}"))


@bp.get("/v2.0/<url_name>/<record_id>")
def show(url_name, record_id):
    s = store()
    collection, singular = _collection(url_name)
    record = _render(s, collection, lookup(s, collection, record_id))
    fields = request.args.getlist("fields")
    if fields:
        record = {k: v for k, v in record.items() if k in fields}
    return reply({singular: record})


@bp.post("/v2.0/<url_name>")
def create(url_name):
    s = store()
    collection, singular = _collection(url_name)
    spec = body(singular)
    maker = {"networks": create_network, "subnets": create_subnet, "ports": create_port,
             "security_groups": create_security_group, "security_group_rules": create_rule,
             "floating_ips": create_floating_ip}[collection]
    record = maker(s, spec)
    return reply({singular: _render(s, collection, record)}, 201)


UPDATABLE = {
    "networks": {"name", "description", "admin_state_up", "mtu", "port_security_enabled", "shared"},
    "subnets": {"name", "description", "gateway_ip", "dns_nameservers", "enable_dhcp"},
    "ports": {"name", "description", "admin_state_up", "security_groups", "device_id",
              "device_owner", "fixed_ips", "allowed_address_pairs", "port_security_enabled",
              "binding:host_id", "binding:vnic_type", "binding:profile", "extra_dhcp_opts"},
    "security_groups": {"name", "description", "stateful"},
    "floating_ips": {"port_id", "fixed_ip_address", "description"},
}


@bp.put("/v2.0/<url_name>/<record_id>")
def update(url_name, record_id):
    s = store()
    collection, singular = _collection(url_name)
    record = lookup(s, collection, record_id)
    spec = body(singular)
    allowed = UPDATABLE.get(collection, set())
    for key in spec:
        if key not in allowed:
            raise bad_request(f"Cannot update read-only attribute {key}", "HTTPBadRequest")
    if collection == "floating_ips":
        if "port_id" in spec:
            port = lookup(s, "ports", spec["port_id"]) if spec["port_id"] else None
            _associate(s, record, port, spec.get("fixed_ip_address"))
        if "description" in spec:
            record["description"] = spec["description"]
    else:
        if collection == "ports":
            for group_id in spec.get("security_groups") or []:
                lookup(s, "security_groups", group_id)
            if "fixed_ips" in spec:
                old = record["fixed_ips"]
                record["fixed_ips"] = []
                try:
                    spec["fixed_ips"] = _allocate_fixed_ips(
                        s, s.data["networks"][record["network_id"]], spec["fixed_ips"])
                except ApiError:
                    record["fixed_ips"] = old
                    raise
        record.update({k: v for k, v in spec.items() if k in allowed})
    _touch(s, record)
    return reply({singular: _render(s, collection, record)})


@bp.delete("/v2.0/<url_name>/<record_id>")
def delete(url_name, record_id):
    s = store()
    collection, _ = _collection(url_name)
    record = lookup(s, collection, record_id)
    if collection == "networks":
        if s.find("ports", network_id=record_id):
            raise conflict(f"Unable to complete operation on network {record_id}. There are one "
                           "or more ports still in use on the network.", "NetworkInUse")
        for subnet_id in record["subnets"]:
            s.remove("subnets", subnet_id)
    elif collection == "subnets":
        if any(ip["subnet_id"] == record_id for p in s.data["ports"].values() for ip in p["fixed_ips"]):
            raise conflict(f"Unable to complete operation on subnet {record_id}: One or more "
                           "ports have an IP allocation from this subnet.", "SubnetInUse")
        s.data["networks"][record["network_id"]]["subnets"].remove(record_id)
    elif collection == "ports":
        delete_port(s, record)
        return no_content()
    elif collection == "security_groups":
        if record.get("_default"):
            raise conflict("Insufficient rights for removing default security group.",
                           "SecurityGroupCannotRemoveDefault")
        if any(record_id in p["security_groups"] for p in s.data["ports"].values()):
            raise conflict(f"Security Group {record_id} in use.", "SecurityGroupInUse")
        for rule in list(s.data["security_group_rules"].values()):
            if record_id in (rule["security_group_id"], rule["remote_group_id"]):
                s.remove("security_group_rules", rule["id"])
    s.remove(collection, record_id)
    return no_content()


def _tagged(url_name: str, record_id: str) -> dict:
    s = store()
    collection, _ = _collection(url_name)
    return lookup(s, collection, record_id)


@bp.get("/v2.0/<url_name>/<record_id>/tags")
def get_tags(url_name, record_id):
    return reply({"tags": _tagged(url_name, record_id)["tags"]})


@bp.put("/v2.0/<url_name>/<record_id>/tags")
def replace_tags(url_name, record_id):
    record = _tagged(url_name, record_id)
    tags = body().get("tags")
    if not isinstance(tags, list) or not all(isinstance(t, str) and t for t in tags):
        raise bad_request("Invalid input for tags.", "HTTPBadRequest")
    record["tags"] = sorted(set(tags), key=tags.index)
    _touch(store(), record)
    return reply({"tags": record["tags"]})


@bp.delete("/v2.0/<url_name>/<record_id>/tags")
def clear_tags(url_name, record_id):
    _tagged(url_name, record_id)["tags"] = []
    return no_content()


@bp.route("/v2.0/<url_name>/<record_id>/tags/<tag>", methods=["GET", "PUT", "DELETE"])
def one_tag(url_name, record_id, tag):
    record = _tagged(url_name, record_id)
    present = tag in record["tags"]
    if request.method == "PUT":
        if not present:
            record["tags"].append(tag)
        return no_content(201)
    if not present:
        raise not_found(f"Tag {tag} could not be found for {url_name} {record_id}.", "TagNotFound")
    if request.method == "DELETE":
        record["tags"].remove(tag)
    return no_content()
