"""Glance v2: the images a cloud already has (seeded); list with filters, show."""

from __future__ import annotations

import hashlib

from flask import Blueprint, request

from .errors import ApiError
from .store import Store, iso_z, new_id
from .web import base_url, reply, store

bp = Blueprint("glance", __name__, url_prefix="/image")


def add_image(s: Store, spec: dict, seeded: bool = True) -> dict:
    now = s.now()
    digest = hashlib.md5(spec["name"].encode()).hexdigest()
    image = {"id": spec.get("id") or new_id(), "name": spec["name"], "status": "active",
             "visibility": spec.get("visibility", "public"), "protected": False,
             "os_hidden": False, "checksum": digest, "os_hash_algo": "sha512",
             "os_hash_value": hashlib.sha512(spec["name"].encode()).hexdigest(),
             "owner": s.settings.project_id, "size": spec.get("size", 524288000),
             "virtual_size": None, "min_disk": spec.get("min_disk", 0),
             "min_ram": spec.get("min_ram", 0), "disk_format": spec.get("disk_format", "qcow2"),
             "container_format": "bare", "tags": [], "created_at": iso_z(now),
             "updated_at": iso_z(now)}
    for key, value in (spec.get("properties") or {}).items():
        image[key] = value
    image.update({"self": f"/v2/images/{image['id']}", "file": f"/v2/images/{image['id']}/file",
                  "schema": "/v2/schemas/image"})
    return s.add("images", image, seeded)


def find(s: Store, ref: str) -> dict | None:
    """By id, or by the last segment of an image URL (nova's imageRef accepts both)."""
    return s.data["images"].get(ref.rstrip("/").rsplit("/", 1)[-1])


@bp.get("")
def versions():
    href = f"{base_url()}/image/v2/"
    return reply({"versions": [{"id": f"v2.{minor}", "status": "CURRENT" if minor == 16 else "SUPPORTED",
                                "links": [{"rel": "self", "href": href}]}
                               for minor in range(16, -1, -1)]}, 300)


@bp.get("/v2/images")
def list_images():
    s = store()
    images = list(s.data["images"].values())
    for key in ("name", "status", "visibility", "owner", "disk_format", "id"):
        if key in request.args:
            wanted = request.args[key]
            if key == "id" or wanted.startswith("in:"):
                wanted_set = set(wanted.removeprefix("in:").split(","))
                images = [i for i in images if i[key] in wanted_set]
            else:
                images = [i for i in images if i[key] == wanted]
    limit = int(request.args.get("limit", 25))
    marker = request.args.get("marker")
    if marker:
        ids = [i["id"] for i in images]
        if marker not in ids:
            raise ApiError(400, f"marker {marker} could not be found.")
        images = images[ids.index(marker) + 1:]
    out = {"images": images[:limit], "schema": "/v2/schemas/images", "first": "/v2/images"}
    if len(images) > limit:
        out["next"] = f"/v2/images?marker={images[limit - 1]['id']}&limit={limit}"
    return reply(out)


@bp.get("/v2/images/<image_id>")
def show(image_id):
    image = store().data["images"].get(image_id)
    if image is None:
        raise ApiError(404, f"No image found with ID {image_id}")
    return reply(image)
