"""Nova v2.1: servers, flavors, keypairs, server groups, limits, volume attachments,
interfaces, metadata and tags, with microversion negotiation.

Shapes follow nova's api_samples per microversion where a client can tell them apart:
the embedded flavor (2.47), keypair type and status codes (2.2), server group policy and
rules (2.64), limits without network quotas (2.36) and personality (2.57), volume
attachment ids (2.89).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets

from flask import Blueprint, g, request

from . import cinder, glance, lifecycle, neutron
from .errors import ApiError, bad_request, conflict, not_found
from .settings import COMPUTE_MAX, COMPUTE_MIN
from .store import Store, iso_micro, iso_z, new_id
from .web import base_url, body, no_content, reply, store

bp = Blueprint("nova", __name__, url_prefix="/compute")

USER_DATA_MAX = 65535
SERVER_GROUP_POLICIES = {"anti-affinity", "affinity", "soft-anti-affinity", "soft-affinity"}


# ---------------------------------------------------------------- microversions

def parse_version(text: str) -> tuple[int, int]:
    major, minor = text.strip().split(".")
    return int(major), int(minor)


def requested_version() -> tuple[int, int]:
    """From `OpenStack-API-Version: compute X.Y` or the legacy nova header; 2.1 without."""
    wanted = None
    for part in request.headers.get("OpenStack-API-Version", "").split(","):
        service, _, version = part.strip().partition(" ")
        if service == "compute" and version:
            wanted = version
    wanted = wanted or request.headers.get("X-OpenStack-Nova-API-Version")
    if not wanted:
        return parse_version(COMPUTE_MIN)
    if wanted.strip() == "latest":
        return parse_version(COMPUTE_MAX)
    try:
        version = parse_version(wanted)
    except ValueError:
        raise bad_request(f"API Version String {wanted} is of invalid format. Must be of format "
                          "MajorNum.MinorNum.") from None
    if not parse_version(COMPUTE_MIN) <= version <= parse_version(COMPUTE_MAX):
        raise ApiError(406, f"Version {wanted} is not supported by the API. Minimum is "
                            f"{COMPUTE_MIN} and maximum is {COMPUTE_MAX}.")
    return version


def at_least(version: str) -> bool:
    return g.compute_version >= parse_version(version)


@bp.before_request
def negotiate():
    g.compute_version = parse_version(COMPUTE_MIN)  # what a refused version is answered with
    g.compute_version = requested_version()


@bp.after_request
def echo_version(response):
    if request.path.startswith("/compute/v2.1/"):
        text = "%d.%d" % g.get("compute_version", parse_version(COMPUTE_MIN))
        response.headers["OpenStack-API-Version"] = f"compute {text}"
        response.headers["X-OpenStack-Nova-API-Version"] = text
        response.headers["Vary"] = "OpenStack-API-Version, X-OpenStack-Nova-API-Version"
    return response


def _version_doc(status: str, version: str, min_version: str, path: str) -> dict:
    return {"id": path.strip("/"), "status": status, "version": version,
            "min_version": min_version, "updated": "2013-07-23T11:33:21Z",
            "links": [{"rel": "self", "href": f"{base_url()}/compute/{path}"}]}


@bp.get("")
def versions():
    return reply({"versions": [_version_doc("SUPPORTED", "", "", "v2/"),
                               _version_doc("CURRENT", COMPUTE_MAX, COMPUTE_MIN, "v2.1/")]})


@bp.get("/v2.1")
def version():
    doc = _version_doc("CURRENT", COMPUTE_MAX, COMPUTE_MIN, "v2.1/")
    doc["media-types"] = [{"base": "application/json",
                           "type": "application/vnd.openstack.compute+json;version=2.1"}]
    return reply({"version": doc})


def _link(path: str) -> list[dict]:
    return [{"rel": "self", "href": f"{base_url()}/compute/v2.1/{path}"},
            {"rel": "bookmark", "href": f"{base_url()}/compute/{path}"}]


# ---------------------------------------------------------------- flavors

def add_flavor(s: Store, spec: dict, seeded: bool = True) -> dict:
    flavor = {"id": str(spec.get("id") or new_id()), "name": spec["name"],
              "vcpus": int(spec.get("vcpus", 1)), "ram": int(spec.get("ram", 2048)),
              "disk": int(spec.get("disk", 20)), "ephemeral": int(spec.get("ephemeral", 0)),
              "swap": int(spec.get("swap", 0)), "description": spec.get("description"),
              "extra_specs": dict(spec.get("extra_specs") or {})}
    return s.add("flavors", flavor, seeded)


def render_flavor(flavor: dict, detail: bool) -> dict:
    out = {"id": flavor["id"], "name": flavor["name"], "links": _link(f"flavors/{flavor['id']}")}
    if at_least("2.55"):
        out["description"] = flavor["description"]
    if detail:
        out.update({"ram": flavor["ram"], "vcpus": flavor["vcpus"], "disk": flavor["disk"],
                    "OS-FLV-EXT-DATA:ephemeral": flavor["ephemeral"],
                    "OS-FLV-DISABLED:disabled": False, "rxtx_factor": 1.0,
                    "swap": flavor["swap"] if (flavor["swap"] or at_least("2.75")) else "",
                    "os-flavor-access:is_public": True})
        if at_least("2.61"):
            out["extra_specs"] = flavor["extra_specs"]
    return out


@bp.get("/v2.1/flavors")
@bp.get("/v2.1/flavors/detail")
def list_flavors():
    s = store()
    flavors = sorted(s.data["flavors"].values(), key=lambda f: f["id"])
    if "minRam" in request.args:
        flavors = [f for f in flavors if f["ram"] >= int(request.args["minRam"])]
    if "minDisk" in request.args:
        flavors = [f for f in flavors if f["disk"] >= int(request.args["minDisk"])]
    flavors, links = _page(flavors, "flavors")
    out = {"flavors": [render_flavor(f, request.path.endswith("/detail")) for f in flavors]}
    if links:
        out["flavors_links"] = links
    return reply(out)


def _flavor(s: Store, flavor_id: str) -> dict:
    return s.get("flavors", flavor_id, f"Flavor {flavor_id} could not be found.")


@bp.get("/v2.1/flavors/<flavor_id>")
def show_flavor(flavor_id):
    return reply({"flavor": render_flavor(_flavor(store(), flavor_id), True)})


@bp.get("/v2.1/flavors/<flavor_id>/os-extra_specs")
def flavor_extra_specs(flavor_id):
    return reply({"extra_specs": _flavor(store(), flavor_id)["extra_specs"]})


def _page(records: list[dict], what: str) -> tuple[list[dict], list[dict]]:
    """Nova's limit/marker paging, with a next link when the page is full."""
    marker = request.args.get("marker")
    if marker:
        ids = [r["id"] for r in records]
        if marker not in ids:
            raise bad_request(f"marker [{marker}] not found")
        records = records[ids.index(marker) + 1:]
    if request.args.get("limit"):
        limit = int(request.args["limit"])
        if len(records) > limit or len(records) == limit:
            page = records[:limit]
            href = f"{base_url()}/compute/v2.1/{what}?limit={limit}&marker={page[-1]['id']}" \
                if page else None
            return page, ([{"rel": "next", "href": href}] if href else [])
    return records, []


# ---------------------------------------------------------------- keypairs

def fingerprint(public_key: str) -> str:
    try:
        blob = base64.b64decode(public_key.split()[1], validate=True)
    except (IndexError, binascii.Error, ValueError):
        raise bad_request("Keypair data is invalid: failed to generate fingerprint") from None
    digest = hashlib.md5(blob).hexdigest()
    return ":".join(digest[i:i + 2] for i in range(0, 32, 2))


def add_keypair(s: Store, name: str, public_key: str, seeded: bool = False,
                key_type: str = "ssh") -> dict:
    if not re.fullmatch(r"[\w .@-]{1,255}", name or "") or name != name.strip():
        raise bad_request("Keypair data is invalid: Keypair name contains unsafe characters")
    if name in s.data["keypairs"]:
        raise conflict(f"Key pair '{name}' already exists.")
    if not seeded and len(s.data["keypairs"]) >= s.quota("key_pairs"):
        raise ApiError(403, "Quota exceeded, too many key pairs.")
    keypair = {"id": name, "name": name, "public_key": public_key, "type": key_type,
               "fingerprint": fingerprint(public_key), "user_id": s.settings.user_id,
               "created": s.now(), "_num": len(s.data["keypairs"]) + 1}
    return s.add("keypairs", keypair, seeded)


def _generate_key() -> tuple[str, str]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                           serialization.PublicFormat.OpenSSH).decode()
    return public + " Generated-by-Nova", private


def render_keypair(keypair: dict, full: bool) -> dict:
    out = {"name": keypair["name"], "public_key": keypair["public_key"],
           "fingerprint": keypair["fingerprint"]}
    if at_least("2.2"):
        out["type"] = keypair["type"]
    if full:
        out.update({"user_id": keypair["user_id"], "id": keypair["_num"], "deleted": False,
                    "created_at": iso_micro(keypair["created"]), "updated_at": None,
                    "deleted_at": None})
    return out


@bp.get("/v2.1/os-keypairs")
def list_keypairs():
    s = store()
    return reply({"keypairs": [{"keypair": render_keypair(k, False)}
                               for k in s.data["keypairs"].values()]})


@bp.post("/v2.1/os-keypairs")
def create_keypair():
    s = store()
    spec = body("keypair")
    allowed = {"name", "public_key", "type", "user_id"}
    if set(spec) - allowed:
        raise bad_request("Invalid input for field/attribute keypair. Additional properties are "
                          f"not allowed ({min(set(spec) - allowed)!r} was unexpected)")
    public_key, private_key = spec.get("public_key"), None
    if not public_key:
        if at_least("2.92"):
            raise bad_request("Invalid input for field/attribute keypair. 'public_key' is a "
                              "required property")
        public_key, private_key = _generate_key()
    keypair = add_keypair(s, spec.get("name", ""), public_key, key_type=spec.get("type", "ssh"))
    out = render_keypair(keypair, False)
    out["user_id"] = keypair["user_id"]
    if private_key:
        out["private_key"] = private_key
    return reply({"keypair": out}, 201 if at_least("2.2") else 200)


def _keypair(s: Store, name: str) -> dict:
    return s.get("keypairs", name, f"Keypair {name} not found for user {s.settings.user_id}")


@bp.get("/v2.1/os-keypairs/<name>")
def show_keypair(name):
    return reply({"keypair": render_keypair(_keypair(store(), name), True)})


@bp.delete("/v2.1/os-keypairs/<name>")
def delete_keypair(name):
    s = store()
    _keypair(s, name)
    s.remove("keypairs", name)
    return no_content(204 if at_least("2.2") else 202)


# ---------------------------------------------------------------- server groups

def render_group(group: dict) -> dict:
    out = {"id": group["id"], "name": group["name"], "members": list(group["members"])}
    if at_least("2.64"):
        out.update({"policy": group["policy"], "rules": group["rules"],
                    "project_id": group["project_id"], "user_id": group["user_id"]})
    else:
        out.update({"policies": [group["policy"]], "metadata": {}})
        if at_least("2.13"):
            out.update({"project_id": group["project_id"], "user_id": group["user_id"]})
    return out


@bp.get("/v2.1/os-server-groups")
def list_groups():
    s = store()
    return reply({"server_groups": [render_group(x) for x in s.data["server_groups"].values()]})


@bp.post("/v2.1/os-server-groups")
def create_group():
    s = store()
    spec = body("server_group")
    # Before 2.64 the body has `policies` (a one-item list); from 2.64 `policy` and `rules`.
    if at_least("2.64"):
        allowed, policy = {"name", "policy", "rules"}, spec.get("policy")
    else:
        allowed = {"name", "policies"}
        policies = spec.get("policies")
        policy = policies[0] if isinstance(policies, list) and len(policies) == 1 else None
    unexpected = set(spec) - allowed
    if unexpected:
        raise bad_request("Invalid input for field/attribute server_group. Additional properties "
                          f"are not allowed ({min(unexpected)!r} was unexpected)")
    name = spec.get("name")
    if not isinstance(name, str) or not name.strip():
        raise bad_request("Invalid input for field/attribute name.")
    soft = policy in ("soft-anti-affinity", "soft-affinity")
    if policy not in SERVER_GROUP_POLICIES or (soft and not at_least("2.15")):
        raise bad_request(f"Invalid input for field/attribute policies. Value: {policy!r}.")
    rules = spec.get("rules") or {}
    if rules and policy != "anti-affinity":
        raise bad_request("Only anti-affinity policy supports rules.")
    if len(s.data["server_groups"]) >= s.quota("server_groups"):
        raise ApiError(403, "Quota exceeded, too many server groups.")
    group = {"id": new_id(), "name": name, "policy": policy, "rules": rules, "members": [],
             "project_id": s.settings.project_id, "user_id": s.settings.user_id}
    s.add("server_groups", group)
    return reply({"server_group": render_group(group)})


def _group(s: Store, group_id: str) -> dict:
    return s.get("server_groups", group_id, f"Instance group {group_id} could not be found.")


@bp.get("/v2.1/os-server-groups/<group_id>")
def show_group(group_id):
    return reply({"server_group": render_group(_group(store(), group_id))})


@bp.delete("/v2.1/os-server-groups/<group_id>")
def delete_group(group_id):
    s = store()
    _group(s, group_id)
    s.remove("server_groups", group_id)
    return no_content()


# ---------------------------------------------------------------- limits and quotas

def usage(s: Store) -> dict:
    servers = list(s.data["servers"].values())
    flavors = [s.data["flavors"].get(x["flavor_id"], {"vcpus": 0, "ram": 0}) for x in servers]
    return {"instances": len(servers), "cores": sum(f["vcpus"] for f in flavors),
            "ram": sum(f["ram"] for f in flavors), "server_groups": len(s.data["server_groups"]),
            "key_pairs": len(s.data["keypairs"])}


@bp.get("/v2.1/limits")
def limits():
    s = store()
    quota, used = s.settings.quotas, usage(s)
    absolute = {"maxImageMeta": quota["metadata_items"], "maxServerMeta": quota["metadata_items"],
                "maxTotalCores": quota["cores"], "maxTotalInstances": quota["instances"],
                "maxTotalRAMSize": quota["ram"], "maxTotalKeypairs": quota["key_pairs"],
                "maxServerGroups": quota["server_groups"],
                "maxServerGroupMembers": quota["server_group_members"],
                "totalCoresUsed": used["cores"], "totalInstancesUsed": used["instances"],
                "totalRAMUsed": used["ram"], "totalServerGroupsUsed": used["server_groups"]}
    if not at_least("2.36"):
        absolute.update({"maxSecurityGroups": quota["security_group"],
                         "maxSecurityGroupRules": quota["security_group_rule"],
                         "maxTotalFloatingIps": quota["floatingip"],
                         "totalFloatingIpsUsed": len(s.data["floating_ips"]),
                         "totalSecurityGroupsUsed": len(s.data["security_groups"])})
    if not at_least("2.57"):
        absolute.update({"maxPersonality": 5, "maxPersonalitySize": 10240})
    return reply({"limits": {"rate": [], "absolute": absolute}})


@bp.get("/v2.1/os-availability-zone")
def availability_zones():
    s = store()
    return reply({"availabilityZoneInfo": [{"zoneName": z, "zoneState": {"available": True},
                                            "hosts": None} for z in s.settings.availability_zones]})


# ---------------------------------------------------------------- servers: rendering

def _addresses(s: Store, server: dict) -> dict:
    out: dict[str, list] = {}
    for port_id in server["ports"]:
        port = s.data["ports"].get(port_id)
        if port is None:
            continue
        net = s.data["networks"].get(port["network_id"], {"name": port["network_id"]})
        entries = out.setdefault(net["name"], [])
        for ip in port["fixed_ips"]:
            version = 6 if ":" in ip["ip_address"] else 4
            entries.append({"version": version, "addr": ip["ip_address"],
                            "OS-EXT-IPS:type": "fixed", "OS-EXT-IPS-MAC:mac_addr": port["mac_address"]})
        for fip in s.find("floating_ips", port_id=port_id):
            entries.append({"version": 4, "addr": fip["floating_ip_address"],
                            "OS-EXT-IPS:type": "floating",
                            "OS-EXT-IPS-MAC:mac_addr": port["mac_address"]})
    return out


def _security_group_names(s: Store, server: dict) -> list[dict]:
    names = []
    for port_id in server["ports"]:
        for group_id in s.data["ports"].get(port_id, {}).get("security_groups", []):
            name = s.data["security_groups"].get(group_id, {}).get("name", group_id)
            if {"name": name} not in names:
                names.append({"name": name})
    return names


def _flavor_view(s: Store, server: dict) -> dict:
    flavor = s.data["flavors"].get(server["flavor_id"])
    if not at_least("2.47"):
        return {"id": server["flavor_id"], "links": [_link(f"flavors/{server['flavor_id']}")[1]]}
    flavor = flavor or {"name": server["flavor_id"], "vcpus": 0, "ram": 0, "disk": 0,
                        "ephemeral": 0, "swap": 0, "extra_specs": {}}
    return {"original_name": flavor["name"], "vcpus": flavor["vcpus"], "ram": flavor["ram"],
            "disk": flavor["disk"], "ephemeral": flavor["ephemeral"], "swap": flavor["swap"],
            "extra_specs": flavor["extra_specs"]}


def render_server(s: Store, server: dict) -> dict:
    image = {"id": server["image_id"], "links": [_link(f"images/{server['image_id']}")[1]]} \
        if server["image_id"] else ""
    out = {
        "id": server["id"], "name": server["name"], "status": server["status"],
        "tenant_id": s.settings.project_id, "user_id": s.settings.user_id,
        "metadata": server["metadata"], "hostId": server["host_id"] if server["launched_at"] else "",
        "image": image, "flavor": _flavor_view(s, server),
        "created": iso_z(server["created"]), "updated": iso_z(server["updated"]),
        "addresses": _addresses(s, server), "accessIPv4": "", "accessIPv6": "",
        "links": _link(f"servers/{server['id']}"), "OS-DCF:diskConfig": "MANUAL",
        "progress": 0,
        "OS-EXT-AZ:availability_zone": server["availability_zone"] if server["launched_at"] else "",
        "config_drive": "True" if server["config_drive"] else "",
        "key_name": server["key_name"],
        "OS-SRV-USG:launched_at": iso_micro(server["launched_at"]),
        "OS-SRV-USG:terminated_at": None,
        "OS-EXT-STS:task_state": server["task_state"], "OS-EXT-STS:vm_state": server["vm_state"],
        "OS-EXT-STS:power_state": server["power_state"],
        "os-extended-volumes:volumes_attached": [
            {"id": v["volume_id"], **({"delete_on_termination": v["delete_on_termination"]}
                                      if at_least("2.3") else {})} for v in server["volumes"]],
    }
    if server["status"] != "BUILD" or server["ports"]:
        out["security_groups"] = _security_group_names(s, server)
    if server["fault"]:
        out["fault"] = {"code": server["fault"]["code"], "message": server["fault"]["message"],
                        "created": iso_z(server["fault"]["created"])}
    if at_least("2.9"):
        out["locked"] = False
    if at_least("2.19"):
        out["description"] = server["description"]
    if at_least("2.26"):
        out["tags"] = list(server["tags"])
    if at_least("2.71"):
        out["server_groups"] = [server["group_id"]] if server["group_id"] else []
    if at_least("2.73"):
        out["locked_reason"] = None
    return out


def _server(s: Store, server_id: str) -> dict:
    return s.get("servers", server_id, f"Instance {server_id} could not be found.")


# ---------------------------------------------------------------- servers: create

def _ref_id(ref) -> str:
    return str(ref or "").rstrip("/").rsplit("/", 1)[-1]


def _validate_user_data(user_data) -> None:
    if user_data is None:
        return
    if not isinstance(user_data, str) or len(user_data) > USER_DATA_MAX:
        raise bad_request("Invalid input for field/attribute user_data. Value: ... is too long "
                          f"(more than {USER_DATA_MAX} characters)")
    try:
        base64.b64decode(user_data, validate=True)
    except (binascii.Error, ValueError):
        raise bad_request("Invalid input for field/attribute user_data. Value: ... is not a "
                          "base64 string") from None


def _validate_metadata(s: Store, metadata) -> dict:
    if metadata is None:
        return {}
    if not isinstance(metadata, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and 0 < len(k) <= 255 and len(v) <= 255
            for k, v in metadata.items()):
        raise bad_request("Invalid input for field/attribute metadata.")
    if len(metadata) > s.quota("metadata_items"):
        raise ApiError(403, "Quota exceeded for metadata_items: Requested "
                            f"{len(metadata)}, but already used 0 of "
                            f"{s.quota('metadata_items')} metadata_items")
    return dict(metadata)


def _check_quota(s: Store, flavor: dict) -> None:
    used, quota = usage(s), s.settings.quotas
    wanted = {"instances": 1, "cores": flavor["vcpus"], "ram": flavor["ram"]}
    for name, amount in wanted.items():
        if used[name] + amount > quota[name]:
            raise ApiError(403, f"Quota exceeded for {name}: Requested {amount}, but already "
                                f"used {used[name]} of {quota[name]} {name}")


def _requested_networks(s: Store, spec: dict) -> list[dict]:
    networks = spec.get("networks")
    if networks is None:
        if at_least("2.37"):
            raise bad_request("Invalid input for field/attribute server. 'networks' is a "
                              "required property")
        networks = "auto"
    if networks == "none":
        return []
    if networks == "auto":
        candidates = [n for n in s.data["networks"].values() if not n["router:external"]]
        if len(candidates) != 1:
            raise conflict("Multiple possible networks found, use a Network ID to be more "
                           "specific." if candidates else "No valid network found")
        return [{"uuid": candidates[0]["id"]}]
    if not isinstance(networks, list):
        raise bad_request("Invalid input for field/attribute networks.")
    for item in networks:
        if item.get("port"):
            port = s.data["ports"].get(item["port"])
            if port is None:
                raise bad_request(f"Port id {item['port']} could not be found.")
            if port["device_id"]:
                raise conflict(f"Port {item['port']} is still in use.")
        elif item.get("uuid"):
            if item["uuid"] not in s.data["networks"]:
                raise bad_request(f"Network {item['uuid']} could not be found.")
        else:
            raise bad_request("Invalid input for field/attribute networks.")
    return networks


def _security_groups(s: Store, requested) -> list[str] | None:
    if not requested:
        return None
    ids = []
    for item in requested:
        ref = item.get("name") if isinstance(item, dict) else None
        found = [g_["id"] for g_ in s.data["security_groups"].values() if ref in (g_["name"], g_["id"])]
        if not found:
            raise bad_request(f"Unable to find security_group with name or id '{ref}'")
        ids.append(found[0])
    return ids


def _block_devices(s: Store, spec: dict) -> list[dict]:
    """Check block_device_mapping_v2 entries; volumes are made once the server exists."""
    mappings = spec.get("block_device_mapping_v2") or []
    if not isinstance(mappings, list):
        raise bad_request("Invalid input for field/attribute block_device_mapping_v2.")
    for bdm in mappings:
        source, dest = bdm.get("source_type"), bdm.get("destination_type", "volume")
        if source not in ("image", "volume", "blank", "snapshot") or dest not in ("volume", "local"):
            raise bad_request("Block Device Mapping is Invalid: Unrecognized source or destination.")
        if source == "volume":
            volume = s.data["volumes"].get(bdm.get("uuid", ""))
            if volume is None:
                raise bad_request(f"Block Device Mapping is Invalid: failed to get volume "
                                  f"{bdm.get('uuid')}.")
            if volume["status"] != "available":
                raise bad_request(f"Invalid volume: Volume {volume['id']} status must be available "
                                  f"or downloading to reserve, but the current status is "
                                  f"{volume['status']}.")
        if source == "image" and glance.find(s, bdm.get("uuid", "")) is None:
            raise bad_request(f"Image {bdm.get('uuid')} could not be found.")
        if dest == "volume" and source in ("image", "blank") and not bdm.get("volume_size"):
            raise bad_request("Block Device Mapping is Invalid: You specified more local devices "
                              "than the limit allows")
    return mappings


def _device_name(server: dict) -> str:
    used = {v["device"] for v in server["volumes"]}
    for letter in "bcdefghijklmnopqrstuvwxyz":
        if f"/dev/vd{letter}" not in used:
            return f"/dev/vd{letter}"
    raise ApiError(400, "No free disk device names for prefix 'vd'")


def _attach(s: Store, server: dict, volume: dict, device: str | None, delete_on_termination: bool,
            tag: str | None = None) -> dict:
    attachment = cinder.start_attach(s, volume, server["id"], device or _device_name(server))
    entry = {"volume_id": volume["id"], "device": attachment["device"], "tag": tag,
             "delete_on_termination": delete_on_termination, "bdm_uuid": new_id(),
             "attachment_id": attachment["attachment_id"]}
    server["volumes"].append(entry)
    return entry


def create_server(s: Store, spec: dict, hints: dict) -> dict:
    name = spec.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 255:
        raise bad_request("Invalid input for field/attribute name.")
    flavor = s.data["flavors"].get(_ref_id(spec.get("flavorRef")))
    if flavor is None:
        raise bad_request(f"Flavor {_ref_id(spec.get('flavorRef'))} could not be found.")
    mappings = _block_devices(s, spec)
    boots_from_volume = any(str(b.get("boot_index")) == "0" and b.get("destination_type") == "volume"
                            for b in mappings)
    image_id = _ref_id(spec.get("imageRef"))
    if image_id:
        if glance.find(s, image_id) is None:
            raise bad_request(f"Image {image_id} could not be found.")
    elif not boots_from_volume:
        raise bad_request("Invalid input for field/attribute imageRef.")
    key_name = spec.get("key_name")
    if key_name is not None and key_name not in s.data["keypairs"]:
        raise bad_request("Invalid key_name provided.")
    zone = spec.get("availability_zone") or s.settings.availability_zones[0]
    if zone not in s.settings.availability_zones:
        raise bad_request("The requested availability zone is not available")
    _validate_user_data(spec.get("user_data"))
    metadata = _validate_metadata(s, spec.get("metadata"))
    networks = _requested_networks(s, spec)
    group_ids = _security_groups(s, spec.get("security_groups"))
    group = None
    if hints.get("group"):
        group = s.data["server_groups"].get(hints["group"])
        if group is None:
            raise bad_request(f"Invalid input for field/attribute group. Value: {hints['group']}.")
    _check_quota(s, flavor)
    if group is not None and len(group["members"]) + 1 > s.quota("server_group_members"):
        raise ApiError(403, "Quota exceeded, too many servers in group")

    now = s.now()
    outcome, message = "ACTIVE", None
    if (rule := s.faults.take_server("boot_error", name)) is not None:
        outcome = "ERROR"
        message = rule.message or "No valid host was found. There are not enough hosts available."
    elif s.faults.take_server("build_stuck", name) is not None:
        outcome = None
    server = {"id": new_id(), "name": name, "flavor_id": flavor["id"], "image_id": image_id,
              "key_name": key_name, "metadata": metadata, "user_data": spec.get("user_data"),
              "availability_zone": zone, "group_id": group["id"] if group else None,
              "ports": [], "auto_ports": set(), "volumes": [], "created": now, "updated": now,
              "launched_at": None, "status": "BUILD", "vm_state": "building",
              "task_state": "scheduling", "power_state": 0, "ready_at": now + s.settings.boot_delay,
              "outcome": outcome, "fault_message": message, "fault": None, "delete_at": None,
              "stuck_delete": False, "transient_until": None,
              "config_drive": bool(spec.get("config_drive")), "description": spec.get("description"),
              "tags": list(spec.get("tags") or []), "admin_pass": secrets.token_urlsafe(9),
              "host_id": hashlib.sha224(f"{s.settings.project_id}simhost".encode()).hexdigest()}
    for item in networks:
        if item.get("port"):
            port = s.data["ports"][item["port"]]
        else:
            fixed = [{"ip_address": item["fixed_ip"]}] if item.get("fixed_ip") else None
            spec_port = {"network_id": item["uuid"], "fixed_ips": fixed}
            if group_ids is not None:
                spec_port["security_groups"] = group_ids
            port = neutron.create_port(s, spec_port)
            server["auto_ports"].add(port["id"])
        neutron.bind_port(s, port, server["id"], zone)
        server["ports"].append(port["id"])
    s.add("servers", server)
    if group is not None:
        group["members"].append(server["id"])
    for bdm in sorted(mappings, key=lambda b: int(b.get("boot_index", -1) if b.get("boot_index")
                                                   not in (None, "none") else 99)):
        if bdm.get("destination_type", "volume") != "volume":
            continue
        if bdm["source_type"] == "volume":
            volume = s.data["volumes"][bdm["uuid"]]
        else:
            # Nova names the blank volumes it makes after the server, and sets no metadata.
            name = f"{server['id']}-blank-vol" if bdm["source_type"] == "blank" else ""
            volume = cinder.create_volume(s, {"size": int(bdm["volume_size"]), "name": name,
                                              "volume_type": bdm.get("volume_type"),
                                              "availability_zone": zone})
        device = "/dev/vda" if str(bdm.get("boot_index")) == "0" else None
        _attach(s, server, volume, device, bool(bdm.get("delete_on_termination", False)),
                bdm.get("tag"))
    return server


@bp.post("/v2.1/servers")
def create():
    s = store()
    data = body()
    spec = body("server")
    hints = data.get("os:scheduler_hints") or data.get("OS-SCH-HNT:scheduler_hints") or {}
    server = create_server(s, spec, hints)
    out = {"id": server["id"], "links": _link(f"servers/{server['id']}"),
           "OS-DCF:diskConfig": "MANUAL",
           "security_groups": _security_group_names(s, server) or [{"name": "default"}]}
    out["adminPass"] = server["admin_pass"]
    return reply({"server": out}, 202, {"Location": out["links"][0]["href"]})


# ---------------------------------------------------------------- servers: list, show, delete

def _filtered_servers(s: Store) -> list[dict]:
    servers = sorted(s.data["servers"].values(), key=lambda x: x["created"], reverse=True)
    args = request.args
    if "name" in args:
        pattern = re.compile(args["name"])
        servers = [x for x in servers if pattern.search(x["name"])]
    if "status" in args:
        servers = [x for x in servers if x["status"] == args["status"].upper()]
    if "flavor" in args:
        servers = [x for x in servers if x["flavor_id"] == args["flavor"]]
    if "image" in args:
        servers = [x for x in servers if x["image_id"] == _ref_id(args["image"])]
    if "key_name" in args:
        servers = [x for x in servers if x["key_name"] == args["key_name"]]
    if "availability_zone" in args:
        servers = [x for x in servers if x["availability_zone"] == args["availability_zone"]]
    if "ip" in args:
        pattern = re.compile(args["ip"])
        servers = [x for x in servers if any(
            pattern.search(a["addr"]) for entries in _addresses(s, x).values() for a in entries)]
    if "tags" in args:
        wanted = args["tags"].split(",")
        servers = [x for x in servers if all(t in x["tags"] for t in wanted)]
    if "tags-any" in args:
        wanted = args["tags-any"].split(",")
        servers = [x for x in servers if any(t in x["tags"] for t in wanted)]
    return servers


@bp.get("/v2.1/servers")
@bp.get("/v2.1/servers/detail")
def list_servers():
    s = store()
    detail = request.path.endswith("/detail")
    servers, links = _page(_filtered_servers(s), "servers/detail" if detail else "servers")
    if detail:
        out = {"servers": [render_server(s, x) for x in servers]}
    else:
        out = {"servers": [{"id": x["id"], "name": x["name"], "links": _link(f"servers/{x['id']}")}
                           for x in servers]}
    if links:
        out["servers_links"] = links
    return reply(out)


@bp.get("/v2.1/servers/<server_id>")
def show_server(server_id):
    s = store()
    return reply({"server": render_server(s, _server(s, server_id))})


@bp.put("/v2.1/servers/<server_id>")
def update_server(server_id):
    s = store()
    server = _server(s, server_id)
    spec = body("server")
    for key in ("name", "description"):
        if key in spec:
            server[key] = spec[key]
    server["updated"] = s.now()
    return reply({"server": render_server(s, server)})


def delete_server(s: Store, server: dict) -> None:
    if server["delete_at"] is None:
        server["delete_at"] = s.now() + s.settings.delete_delay
        server["task_state"] = "deleting"
        server["updated"] = s.now()
        server["stuck_delete"] = s.faults.take_server("delete_stuck", server["name"]) is not None


@bp.delete("/v2.1/servers/<server_id>")
def delete(server_id):
    s = store()
    delete_server(s, _server(s, server_id))
    return no_content()


@bp.post("/v2.1/servers/<server_id>/action")
def action(server_id):
    s = store()
    server = _server(s, server_id)
    data = body()
    if len(data) != 1:
        raise bad_request("There is no such action: " + ",".join(data))
    name = next(iter(data))
    if name == "forceDelete":
        delete_server(s, server)
        return no_content(202)
    lifecycle.require_settled(server, name)
    if name == "os-stop":
        if server["status"] != "ACTIVE":
            raise conflict(f"Cannot 'stop' instance {server_id} while it is in vm_state "
                           f"{server['vm_state']}")
        lifecycle.set_status(s, server, "SHUTOFF")
    elif name == "os-start":
        if server["status"] != "SHUTOFF":
            raise conflict(f"Cannot 'start' instance {server_id} while it is in vm_state "
                           f"{server['vm_state']}")
        lifecycle.set_status(s, server, "ACTIVE")
    elif name == "reboot":
        kind = (data[name] or {}).get("type", "SOFT")
        lifecycle.set_status(s, server, "HARD_REBOOT" if kind == "HARD" else "REBOOT")
        server["transient_until"] = s.now() + s.settings.boot_delay
    else:
        raise bad_request(f"There is no such action: {name}")
    return no_content(202)


# ---------------------------------------------------------------- metadata and tags

@bp.get("/v2.1/servers/<server_id>/metadata")
def get_metadata(server_id):
    return reply({"metadata": _server(store(), server_id)["metadata"]})


@bp.route("/v2.1/servers/<server_id>/metadata", methods=["PUT", "POST"])
def set_metadata(server_id):
    s = store()
    server = _server(s, server_id)
    metadata = _validate_metadata(s, body().get("metadata"))
    if request.method == "PUT":
        server["metadata"] = metadata
    else:
        server["metadata"].update(metadata)
    _validate_metadata(s, server["metadata"])
    return reply({"metadata": server["metadata"]})


@bp.route("/v2.1/servers/<server_id>/metadata/<key>", methods=["GET", "PUT", "DELETE"])
def metadata_item(server_id, key):
    s = store()
    server = _server(s, server_id)
    if request.method == "PUT":
        meta = body().get("meta")
        if not isinstance(meta, dict) or list(meta) != [key]:
            raise bad_request("Request body and URI mismatch")
        server["metadata"].update(_validate_metadata(s, meta))
        return reply({"meta": meta})
    if key not in server["metadata"]:
        raise not_found("Metadata item was not found")
    if request.method == "DELETE":
        del server["metadata"][key]
        return no_content()
    return reply({"meta": {key: server["metadata"][key]}})


def _require(version: str) -> None:
    if not at_least(version):
        raise not_found("The resource could not be found.")


@bp.route("/v2.1/servers/<server_id>/tags", methods=["GET", "PUT", "DELETE"])
def tags(server_id):
    _require("2.26")
    server = _server(store(), server_id)
    if request.method == "PUT":
        server["tags"] = list(body().get("tags") or [])
    elif request.method == "DELETE":
        server["tags"] = []
        return no_content()
    return reply({"tags": server["tags"]})


@bp.route("/v2.1/servers/<server_id>/tags/<tag>", methods=["GET", "PUT", "DELETE"])
def one_tag(server_id, tag):
    _require("2.26")
    server = _server(store(), server_id)
    if request.method == "PUT":
        if tag not in server["tags"]:
            server["tags"].append(tag)
            return no_content(201)
        return no_content()
    if tag not in server["tags"]:
        raise not_found(f"Tag {tag} could not be found.")
    if request.method == "DELETE":
        server["tags"].remove(tag)
    return no_content()


# ---------------------------------------------------------------- interfaces

def _interface(s: Store, port: dict) -> dict:
    return {"port_state": port["status"], "port_id": port["id"], "net_id": port["network_id"],
            "mac_addr": port["mac_address"],
            "fixed_ips": [dict(ip) for ip in port["fixed_ips"]]}


@bp.get("/v2.1/servers/<server_id>/os-interface")
def list_interfaces(server_id):
    s = store()
    server = _server(s, server_id)
    return reply({"interfaceAttachments": [_interface(s, s.data["ports"][p])
                                           for p in server["ports"] if p in s.data["ports"]]})


@bp.get("/v2.1/servers/<server_id>/os-interface/<port_id>")
def show_interface(server_id, port_id):
    s = store()
    server = _server(s, server_id)
    if port_id not in server["ports"] or port_id not in s.data["ports"]:
        raise not_found(f"Port {port_id} is not attached")
    return reply({"interfaceAttachment": _interface(s, s.data["ports"][port_id])})


@bp.post("/v2.1/servers/<server_id>/os-interface")
def attach_interface(server_id):
    s = store()
    server = _server(s, server_id)
    lifecycle.require_settled(server, "attach_interface")
    spec = body("interfaceAttachment")
    if spec.get("port_id"):
        port = neutron.lookup(s, "ports", spec["port_id"])
        if port["device_id"]:
            raise conflict(f"Port {port['id']} is still in use.")
    elif spec.get("net_id"):
        port = neutron.create_port(s, {"network_id": spec["net_id"],
                                       "fixed_ips": spec.get("fixed_ips")})
        server["auto_ports"].add(port["id"])
    else:
        raise bad_request("Invalid input for field/attribute interfaceAttachment.")
    neutron.bind_port(s, port, server["id"], server["availability_zone"])
    server["ports"].append(port["id"])
    return reply({"interfaceAttachment": _interface(s, port)})


@bp.delete("/v2.1/servers/<server_id>/os-interface/<port_id>")
def detach_interface(server_id, port_id):
    s = store()
    server = _server(s, server_id)
    lifecycle.require_settled(server, "detach_interface")
    if port_id not in server["ports"]:
        raise not_found(f"Port {port_id} is not attached")
    server["ports"].remove(port_id)
    port = s.data["ports"].get(port_id)
    if port is not None:
        if port_id in server["auto_ports"]:
            neutron.delete_port(s, port)
        else:
            neutron.unbind_port(s, port)
    return no_content(202)


# ---------------------------------------------------------------- volume attachments

def render_attachment(server: dict, entry: dict) -> dict:
    out = {"device": entry["device"], "serverId": server["id"], "volumeId": entry["volume_id"]}
    if not at_least("2.89"):
        out["id"] = entry["volume_id"]
    if at_least("2.70"):
        out["tag"] = entry["tag"]
    if at_least("2.79"):
        out["delete_on_termination"] = entry["delete_on_termination"]
    if at_least("2.89"):
        out.update({"attachment_id": entry["attachment_id"], "bdm_uuid": entry["bdm_uuid"]})
    return out


def _attachment(s: Store, server: dict, volume_id: str) -> dict:
    for entry in server["volumes"]:
        if entry["volume_id"] == volume_id:
            return entry
    raise not_found(f"Volume {volume_id} is not attached to server {server['id']}")


@bp.get("/v2.1/servers/<server_id>/os-volume_attachments")
def list_attachments(server_id):
    s = store()
    server = _server(s, server_id)
    return reply({"volumeAttachments": [render_attachment(server, e) for e in server["volumes"]]})


@bp.get("/v2.1/servers/<server_id>/os-volume_attachments/<volume_id>")
def show_attachment(server_id, volume_id):
    s = store()
    server = _server(s, server_id)
    return reply({"volumeAttachment": render_attachment(server, _attachment(s, server, volume_id))})


@bp.post("/v2.1/servers/<server_id>/os-volume_attachments")
def attach_volume(server_id):
    s = store()
    server = _server(s, server_id)
    spec = body("volumeAttachment")
    volume_id = spec.get("volumeId")
    if not isinstance(volume_id, str):
        raise bad_request("Invalid input for field/attribute volumeAttachment. 'volumeId' is a "
                          "required property")
    lifecycle.require_settled(server, "attach_volume")
    volume = cinder.lookup(s, volume_id)
    if volume["status"] != "available":
        raise bad_request(f"Invalid volume: Volume {volume_id} status must be available or "
                          f"downloading to reserve, but the current status is {volume['status']}.")
    device = spec.get("device")
    entry = _attach(s, server, volume, device, bool(spec.get("delete_on_termination", False)),
                    spec.get("tag"))
    return reply({"volumeAttachment": render_attachment(server, entry)})


@bp.delete("/v2.1/servers/<server_id>/os-volume_attachments/<volume_id>")
def detach_volume(server_id, volume_id):
    s = store()
    server = _server(s, server_id)
    lifecycle.require_settled(server, "detach_volume")
    entry = _attachment(s, server, volume_id)
    if entry["device"] == "/dev/vda":
        raise bad_request("Cannot detach a root device volume")
    volume = s.data["volumes"].get(volume_id)
    if volume is not None and volume["status"] != "detaching":
        cinder.start_detach(s, volume)
    return no_content(202)
