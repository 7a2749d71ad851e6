"""What happens with time: boots finish, deletes complete, volumes settle.

Evaluated lazily: `tick` runs before every request, so no thread keeps state moving
and a test that changes the delays sees the effect at the next call.
"""

from __future__ import annotations

import re

from . import cinder, neutron
from .errors import conflict
from .faults import TRANSIENT_STATUSES
from .store import Store

# status -> (vm_state, task_state), as nova derives the status from those two.
STATES = {"BUILD": ("building", "spawning"), "ACTIVE": ("active", None), "ERROR": ("error", None),
          "SHUTOFF": ("stopped", None), "MIGRATING": ("active", "migrating"),
          "REBOOT": ("active", "reboot_started"), "HARD_REBOOT": ("active", "reboot_started_hard"),
          "RESIZE": ("active", "resize_prep"), "VERIFY_RESIZE": ("resized", None),
          "REVERT_RESIZE": ("resized", "resize_reverting"), "REBUILD": ("active", "rebuilding"),
          "PASSWORD": ("active", "updating_password"), "RESCUE": ("rescued", None)}
POWER = {"active": 1, "stopped": 4, "resized": 1, "rescued": 1}


def set_status(s: Store, server: dict, status: str) -> None:
    server["status"] = status
    server["vm_state"], task = STATES[status]
    if server["delete_at"] is None:
        server["task_state"] = task
    server["power_state"] = POWER.get(server["vm_state"], 0)
    server["updated"] = s.now()


def tick(s: Store) -> None:
    now = s.now()
    for server in list(s.data["servers"].values()):
        _tick_server(s, server, now)
    for volume in list(s.data["volumes"].values()):
        _tick_volume(s, volume, now)


def _tick_server(s: Store, server: dict, now: float) -> None:
    if server["status"] == "BUILD" and server["outcome"] and now >= server["ready_at"]:
        set_status(s, server, server["outcome"])
        if server["outcome"] == "ACTIVE":
            server["launched_at"] = now
        else:
            server["fault"] = {"code": 500, "created": now, "message": server["fault_message"]}
    if server["transient_until"] is not None and now >= server["transient_until"]:
        server["transient_until"] = None
        set_status(s, server, "ACTIVE")
    if server["delete_at"] is not None and not server["stuck_delete"] and now >= server["delete_at"]:
        destroy_server(s, server)


def _tick_volume(s: Store, volume: dict, now: float) -> None:
    if now < volume["ready_at"]:
        return
    if volume["status"] == "creating":
        volume["status"] = "available"
    elif volume["status"] == "attaching":
        volume["status"] = "in-use"
    elif volume["status"] == "detaching":
        server = s.data["servers"].get(volume["attachments"][0]["server_id"]) \
            if volume["attachments"] else None
        if server is not None:
            server["volumes"] = [v for v in server["volumes"] if v["volume_id"] != volume["id"]]
        volume["attachments"] = []
        volume["status"] = "available"
    elif volume["status"] == "deleting":
        s.remove("volumes", volume["id"])
        return
    volume["updated"] = volume["ready_at"]


def destroy_server(s: Store, server: dict) -> None:
    """The end of a delete: nova deletes the ports it made, unbinds the others, detaches
    (or deletes) volumes and leaves the server group."""
    for port_id in list(server["ports"]):
        port = s.data["ports"].get(port_id)
        if port is None:
            continue
        if port_id in server["auto_ports"]:
            neutron.delete_port(s, port)
        else:
            neutron.unbind_port(s, port)
    kept = s.faults.take_server("volume_kept", server["name"]) is not None
    for attachment in server["volumes"]:
        volume = s.data["volumes"].get(attachment["volume_id"])
        if volume is None:
            continue
        volume["attachments"] = []
        if attachment["delete_on_termination"] and not kept:
            cinder.start_delete(s, volume)
        else:
            volume["status"], volume["updated"] = "available", s.now()
    group = s.data["server_groups"].get(server["group_id"] or "")
    if group is not None and server["id"] in group["members"]:
        group["members"].remove(server["id"])
    s.remove("servers", server["id"])


def make_transient(s: Store, status: str, name: str | None = None, server_id: str | None = None,
                   seconds: float | None = None) -> list[str]:
    """Move matching ACTIVE servers to a transient status (for `seconds`, or until cleared)."""
    if status not in TRANSIENT_STATUSES:
        raise ValueError(f"status must be one of {', '.join(TRANSIENT_STATUSES)}")
    moved = []
    for server in s.data["servers"].values():
        if server_id is not None and server["id"] != server_id:
            continue
        if name is not None and not re.search(name, server["name"]):
            continue
        if server["status"] != "ACTIVE" or server["delete_at"] is not None:
            continue
        set_status(s, server, status)
        server["transient_until"] = None if seconds is None else s.now() + seconds
        moved.append(server["id"])
    return moved


def require_settled(server: dict, action: str) -> None:
    """Nova refuses most actions on a server that is building or being deleted (409)."""
    if server["delete_at"] is not None:
        raise conflict(f"Cannot '{action}' instance {server['id']} while it is in task_state "
                       "deleting")
    if server["vm_state"] == "building":
        raise conflict(f"Cannot '{action}' instance {server['id']} while it is in vm_state "
                       "building")

