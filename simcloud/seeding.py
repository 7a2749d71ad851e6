"""What a cloud has before a run: networks, a floating-IP pool, images, flavors, keypairs,
volume types. Seeding is idempotent by name, so a rehearsal can seed what its stack
references without caring what is already there."""

from __future__ import annotations

from . import cinder, glance, neutron, nova
from .store import Store

KINDS = ("networks", "floating_ip_pools", "images", "flavors", "keypairs", "volume_types")


def _named(spec: dict, kind: str, index: int) -> dict:
    if isinstance(spec, str):
        spec = {"name": spec}
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str) or not spec["name"]:
        raise ValueError(f"{kind}[{index}].name is required")
    return spec


def _network(s: Store, spec: dict, external: bool, index: int) -> str:
    for net in s.data["networks"].values():
        if net["name"] == spec["name"]:
            return net["id"]
    cidr = spec.get("cidr") or ("203.0.113.0/24" if external else f"10.{index % 250}.0.0/24")
    net = neutron.create_network(s, {"name": spec["name"], "router:external": external,
                                     "shared": external}, seeded=True)
    neutron.create_subnet(s, {"network_id": net["id"], "cidr": cidr,
                              "name": f"{spec['name']}-subnet"}, seeded=True)
    return net["id"]


def apply_seed(s: Store, spec: dict) -> dict[str, dict[str, str]]:
    """Create what `spec` lists (kind -> list of entries); returns kind -> name -> id.
    ValueError names the first wrong field, before anything is created."""
    if not isinstance(spec, dict):
        raise ValueError("seed must be a mapping of kinds to lists")
    unknown = set(spec) - set(KINDS)
    if unknown:
        raise ValueError(f"unknown seed kind: {min(unknown)} (known: {', '.join(KINDS)})")
    entries = {kind: [_named(e, kind, i) for i, e in enumerate(spec.get(kind) or [])]
               for kind in KINDS}
    for i, keypair in enumerate(entries["keypairs"]):
        if not isinstance(keypair.get("public_key"), str):
            raise ValueError(f"keypairs[{i}].public_key is required")
        nova.fingerprint(keypair["public_key"])
    out: dict[str, dict[str, str]] = {kind: {} for kind in KINDS}
    for i, net in enumerate(entries["networks"]):
        out["networks"][net["name"]] = _network(s, net, False, i)
    for i, pool in enumerate(entries["floating_ip_pools"]):
        out["floating_ip_pools"][pool["name"]] = _network(s, pool, True, i)
    for image in entries["images"]:
        found = [i for i in s.data["images"].values() if i["name"] == image["name"]]
        out["images"][image["name"]] = (found[0] if found else glance.add_image(s, image))["id"]
    for flavor in entries["flavors"]:
        found = [f for f in s.data["flavors"].values() if f["name"] == flavor["name"]]
        out["flavors"][flavor["name"]] = (found[0] if found else nova.add_flavor(s, flavor))["id"]
    for keypair in entries["keypairs"]:
        if keypair["name"] not in s.data["keypairs"]:
            nova.add_keypair(s, keypair["name"], keypair["public_key"], seeded=True)
        out["keypairs"][keypair["name"]] = keypair["name"]
    for vtype in entries["volume_types"]:
        out["volume_types"][vtype["name"]] = cinder.add_volume_type(s, vtype["name"])["id"]
    neutron.default_security_group(s)
    return out
