"""Cinder v3 volumes (and their types); nova drives attachments through these functions.

Statuses move with the clock (see lifecycle.py): creating -> available, attaching ->
in-use, detaching -> available, deleting -> gone, each after `volume_delay`.
"""

from __future__ import annotations

from flask import Blueprint, g, request

from .errors import ApiError, bad_request, not_found
from .settings import VOLUME_MAX, VOLUME_MIN
from .store import Store, iso_micro, new_id
from .web import base_url, body, no_content, reply, store

bp = Blueprint("cinder", __name__, url_prefix="/volume")

DEFAULT_TYPE = "__DEFAULT__"


def lookup(s: Store, volume_id: str) -> dict:
    return s.get("volumes", volume_id, f"Volume {volume_id} could not be found.")


def add_volume_type(s: Store, name: str, seeded: bool = True) -> dict:
    for vtype in s.data["volume_types"].values():
        if vtype["name"] == name:
            return vtype
    return s.add("volume_types", {"id": new_id(), "name": name, "description": None,
                                  "is_public": True, "extra_specs": {},
                                  "qos_specs_id": None, "os-volume-type-access:is_public": True},
                 seeded)


def _volume_type(s: Store, name: str | None) -> dict:
    name = name or DEFAULT_TYPE
    for vtype in s.data["volume_types"].values():
        if name in (vtype["name"], vtype["id"]):
            return vtype
    if name == DEFAULT_TYPE:
        return add_volume_type(s, DEFAULT_TYPE)
    raise not_found(f"Volume type with name {name} could not be found.")


def create_volume(s: Store, spec: dict, status: str = "creating") -> dict:
    size = spec.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise bad_request(f"Invalid input received: 'size' parameter must be an integer and "
                          f"greater than 0 (got {size!r})")
    zone = spec.get("availability_zone") or s.settings.availability_zones[0]
    if zone not in s.settings.availability_zones:
        raise bad_request(f"Invalid input received: Availability zone '{zone}' is invalid.")
    vtype = _volume_type(s, spec.get("volume_type"))
    quotas = s.settings.quotas
    live = [v for v in s.data["volumes"].values()]
    if len(live) + 1 > quotas["volumes"]:
        raise ApiError(413, f"VolumeLimitExceeded: Maximum number of volumes allowed "
                            f"({quotas['volumes']}) exceeded for quota 'volumes'.")
    if sum(v["size"] for v in live) + size > quotas["gigabytes"]:
        raise ApiError(413, f"VolumeSizeExceedsAvailableQuota: Requested volume or snapshot "
                            f"exceeds allowed gigabytes quota. Requested {size}G, quota is "
                            f"{quotas['gigabytes']}G and {sum(v['size'] for v in live)}G has "
                            "been consumed.")
    metadata = spec.get("metadata") or {}
    if not all(isinstance(v, str) for v in metadata.values()):
        raise bad_request("Invalid input received: metadata values must be strings")
    now = s.now()
    volume = {"id": new_id(), "name": spec.get("name"), "description": spec.get("description"),
              "size": size, "availability_zone": zone, "volume_type": vtype["name"],
              "metadata": dict(metadata), "status": status, "attachments": [],
              "bootable": "false", "created": now, "updated": now,
              "ready_at": now + s.settings.volume_delay, "user_id": s.settings.user_id,
              "multiattach": bool(spec.get("multiattach", False)), "image_id": spec.get("imageRef")}
    return s.add("volumes", volume)


def start_attach(s: Store, volume: dict, server_id: str, device: str) -> dict:
    """Nova reserves the volume and attaches it; the attachment shows at once."""
    attachment = {"id": volume["id"], "attachment_id": new_id(), "volume_id": volume["id"],
                  "server_id": server_id, "host_name": None, "device": device,
                  "attached_at": s.now()}
    volume["attachments"] = [attachment]
    _move(s, volume, "attaching")
    return attachment


def start_detach(s: Store, volume: dict) -> None:
    _move(s, volume, "detaching")


def _move(s: Store, volume: dict, status: str) -> None:
    volume["status"], volume["updated"] = status, s.now()
    volume["ready_at"] = s.now() + s.settings.volume_delay


def start_delete(s: Store, volume: dict) -> None:
    _move(s, volume, "deleting")


def render(s: Store, volume: dict) -> dict:
    project = s.settings.project_id
    href = f"{base_url()}/volume/v3/{project}/volumes/{volume['id']}"
    return {
        "id": volume["id"], "name": volume["name"], "description": volume["description"],
        "size": volume["size"], "status": volume["status"],
        "availability_zone": volume["availability_zone"], "volume_type": volume["volume_type"],
        "metadata": volume["metadata"], "bootable": volume["bootable"], "encrypted": False,
        "multiattach": volume["multiattach"], "snapshot_id": None, "source_volid": None,
        "consistencygroup_id": None, "replication_status": None, "migration_status": None,
        "user_id": volume["user_id"], "os-vol-tenant-attr:tenant_id": project,
        "group_id": None, "provider_id": None, "service_uuid": None, "shared_targets": True,
        "cluster_name": None, "volume_type_id": _volume_type(s, volume["volume_type"])["id"],
        "consumes_quota": True, "backup_id": None,
        "created_at": iso_micro(volume["created"]), "updated_at": iso_micro(volume["updated"]),
        "attachments": [dict(a, attached_at=iso_micro(a["attached_at"])) for a in volume["attachments"]],
        "links": [{"rel": "self", "href": href}, {"rel": "bookmark", "href": href}],
    }


# ---------------------------------------------------------------- microversions

def _parse(text: str) -> tuple[int, int]:
    major, minor = text.strip().split(".")
    return int(major), int(minor)


@bp.before_request
def negotiate():
    """`OpenStack-API-Version: volume 3.x` (3.0 without); 406 outside the range."""
    g.volume_version = VOLUME_MIN
    for part in request.headers.get("OpenStack-API-Version", "").split(","):
        service, _, wanted = part.strip().partition(" ")
        if service != "volume" or not wanted:
            continue
        wanted = VOLUME_MAX if wanted == "latest" else wanted
        try:
            inside = _parse(VOLUME_MIN) <= _parse(wanted) <= _parse(VOLUME_MAX)
        except ValueError:
            inside = False
        if not inside:
            raise ApiError(406, f"Version {wanted} is not supported by the API. Minimum is "
                                f"{VOLUME_MIN} and maximum is {VOLUME_MAX}.")
        g.volume_version = wanted


@bp.after_request
def echo_version(response):
    if request.path.startswith("/volume/v3/"):
        response.headers["OpenStack-API-Version"] = f"volume {g.get('volume_version', VOLUME_MIN)}"
        response.headers["Vary"] = "OpenStack-API-Version"
    return response


# ---------------------------------------------------------------- routes

def _version_doc() -> dict:
    return {"id": "v3.0", "status": "CURRENT", "version": VOLUME_MAX, "min_version": VOLUME_MIN,
            "updated": "2023-08-31T00:00:00Z",
            "links": [{"rel": "self", "href": f"{base_url()}/volume/v3/"}],
            "media-types": [{"base": "application/json",
                             "type": "application/vnd.openstack.volume+json;version=3"}]}


@bp.get("")
def root_versions():
    return reply({"versions": [_version_doc()]}, 300)


@bp.get("/v3")
@bp.get("/v3/<project>")
def v3_versions(project=None):
    return reply({"versions": [_version_doc()]})


def _project(project: str) -> Store:
    s = store()
    if project != g.token["project_id"]:
        raise bad_request("Malformed request url")
    return s


@bp.get("/v3/<project>/volumes")
@bp.get("/v3/<project>/volumes/detail")
def list_volumes(project):
    s = _project(project)
    volumes = list(s.data["volumes"].values())
    for key in ("name", "status"):
        if key in request.args:
            volumes = [v for v in volumes if v[key] == request.args[key]]
    if request.path.endswith("/detail"):
        return reply({"volumes": [render(s, v) for v in volumes]})
    return reply({"volumes": [{"id": v["id"], "name": v["name"],
                               "links": render(s, v)["links"]} for v in volumes]})


@bp.post("/v3/<project>/volumes")
def create(project):
    s = _project(project)
    volume = create_volume(s, body("volume"))
    return reply({"volume": render(s, volume)}, 202)


@bp.get("/v3/<project>/volumes/<volume_id>")
def show(project, volume_id):
    s = _project(project)
    return reply({"volume": render(s, lookup(s, volume_id))})


@bp.put("/v3/<project>/volumes/<volume_id>")
def update(project, volume_id):
    s = _project(project)
    volume = lookup(s, volume_id)
    spec = body("volume")
    for key in ("name", "description", "metadata"):
        if key in spec:
            volume[key] = spec[key]
    volume["updated"] = s.now()
    return reply({"volume": render(s, volume)})


@bp.delete("/v3/<project>/volumes/<volume_id>")
def delete(project, volume_id):
    s = _project(project)
    volume = lookup(s, volume_id)
    if volume["status"] not in ("available", "error", "error_restoring", "error_extending",
                                "error_managing") or volume["attachments"]:
        raise bad_request("Invalid volume: Volume status must be available or error or "
                          "error_restoring or error_extending or error_managing and must not be "
                          "migrating, attached, belong to a group, have snapshots, awaiting a "
                          "transfer, or be disassociated from snapshots after volume transfer.")
    start_delete(s, volume)
    return no_content(202)


@bp.get("/v3/<project>/types")
def list_types(project):
    s = _project(project)
    _volume_type(s, DEFAULT_TYPE)
    return reply({"volume_types": list(s.data["volume_types"].values())})


@bp.get("/v3/<project>/types/<type_id>")
def show_type(project, type_id):
    s = _project(project)
    return reply({"volume_type": _volume_type(s, type_id)})
