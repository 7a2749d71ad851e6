"""Request helpers shared by the service blueprints: the store, JSON bodies, links."""

from __future__ import annotations

from flask import current_app, g, jsonify, request

from .errors import ApiError, bad_request
from .store import Store


def store() -> Store:
    return current_app.config["SIM_STORE"]


def base_url() -> str:
    """http://127.0.0.1:PORT, as the client addressed us (catalog and links use it)."""
    return request.host_url.rstrip("/")


def body(key: str | None = None, required: bool = True) -> dict:
    """The JSON body, or its `key` member; 400 as the services answer a malformed body."""
    data = request.get_json(silent=True, force=True)
    if data is None:
        if not required and not request.get_data():
            return {}
        raise bad_request("Malformed request body")
    if not isinstance(data, dict):
        raise bad_request("Malformed request body")
    if key is None:
        return data
    if not isinstance(data.get(key), dict):
        raise bad_request(f"Invalid input for field/attribute {key}. Value: {data.get(key)!r}. "
                          f"'{key}' is a required property", "HTTPBadRequest")
    return data[key]


def reply(payload, status: int = 200, headers: dict | None = None):
    response = jsonify(payload) if payload is not None else current_app.response_class(status=status)
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def no_content(status: int = 204):
    response = current_app.response_class(status=status)
    response.headers.pop("Content-Type", None)
    return response


def project_id() -> str:
    return g.token["project_id"]


def user_id() -> str:
    return g.token["user_id"]


def check_uuid_like(value: str, message: str) -> None:
    if not value:
        raise ApiError(404, message)
