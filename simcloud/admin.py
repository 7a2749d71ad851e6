"""The simulator's own endpoints under /_sim: inventory, seeding, faults, settings.

Unauthenticated, loopback only, and never part of a real cloud's API.
"""

from __future__ import annotations

from flask import Blueprint

from . import lifecycle
from .errors import bad_request
from .faults import TRANSIENT_STATUSES
from .seeding import apply_seed
from .store import Store
from .web import body, no_content, reply, store

bp = Blueprint("admin", __name__, url_prefix="/_sim")

# What "nothing left behind" counts: every collection a stack creates.
LEFTOVER_KINDS = ("servers", "ports", "volumes", "security_groups", "security_group_rules",
                  "floating_ips", "keypairs", "server_groups", "application_credentials",
                  "networks", "subnets")


def _plain(value):
    if isinstance(value, set):
        return sorted(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if not str(k).startswith("_")}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def inventory(s: Store) -> dict:
    """Every record of every collection (secrets left out), each marked `seeded` or not,
    and `counts`: per collection, what was created after seeding."""
    out: dict = {}
    for name, records in s.data.items():
        out[name] = [dict(_plain(r), seeded=r["id"] in s.seeded) for r in records.values()]
    out["counts"] = {name: sum(1 for r in s.data[name] if r not in s.seeded)
                     for name in LEFTOVER_KINDS}
    out["leftovers"] = sum(out["counts"].values())
    return out


@bp.get("/inventory")
def get_inventory():
    return reply(inventory(store()))


@bp.post("/seed")
def seed():
    try:
        return reply(apply_seed(store(), body()), 201)
    except ValueError as error:
        raise bad_request(str(error)) from None


@bp.get("/faults")
def list_faults():
    return reply({"faults": store().faults.listing()})


@bp.post("/faults")
def add_fault():
    s = store()
    spec = body()
    try:
        if spec.get("kind") == "transient":
            unknown = set(spec) - {"kind", "status", "name", "server", "seconds"}
            if unknown:
                raise ValueError(f"unknown field for transient: {min(unknown)}")
            moved = lifecycle.make_transient(s, spec.get("status", "MIGRATING"), spec.get("name"),
                                             spec.get("server"), spec.get("seconds"))
            return reply({"kind": "transient", "servers": moved}, 201)
        rule = s.faults.add(spec)
    except (ValueError, TypeError) as error:
        raise bad_request(str(error)) from None
    return reply({"fault": s.faults.listing()[-1] if rule else None}, 201)


@bp.delete("/faults")
def clear_faults():
    s = store()
    s.faults.clear()
    # Clearing also ends what the faults left behind: stuck builds and stuck deletes.
    for server in list(s.data["servers"].values()):
        if server["stuck_delete"]:
            server["stuck_delete"] = False
        if server["transient_until"] is None and server["status"] in TRANSIENT_STATUSES:
            lifecycle.set_status(s, server, "ACTIVE")
    return no_content()


@bp.get("/config")
def get_config():
    return reply(store().settings.public())


@bp.put("/config")
def set_config():
    s = store()
    try:
        s.settings.update(body())
    except (ValueError, TypeError) as error:
        raise bad_request(str(error)) from None
    return reply(s.settings.public())
