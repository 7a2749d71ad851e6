"""Keystone v3: version discovery, tokens (password, application_credential, token),
the service catalog, and application credentials.

Every other service sits on the same server under its own prefix; the catalog says where.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timezone

from flask import Blueprint, g, request

from .errors import ApiError, bad_request
from .store import Store, iso_micro, iso_micro_z, new_id
from .web import base_url, body, no_content, reply, store

bp = Blueprint("keystone", __name__)

TOKEN_LIFETIME = 3600.0
ROLES = [{"id": "9fe2ff9ee4384b1894a90878d3e92bab", "name": "member"},
         {"id": "3b4a6e3c2d1f4f0aa9b8c7d6e5f40312", "name": "reader"}]
DOMAIN_ID = "default"

# Catalog entries: (type, name, path under this server). block-storage is listed under its
# official type and its alias volumev3, as deployed clouds do; both clients accept either.
SERVICES = (("identity", "keystone", "/v3"), ("compute", "nova", "/compute/v2.1"),
            ("network", "neutron", "/network"), ("block-storage", "cinder", "/volume/v3/{project}"),
            ("volumev3", "cinderv3", "/volume/v3/{project}"), ("image", "glance", "/image"))


def unauthorized(message: str = "The request you have made requires authentication.") -> ApiError:
    return ApiError(401, message)


def forbidden(action: str) -> ApiError:
    return ApiError(403, f"You are not authorized to perform the requested action: {action}.")


def catalog(s: Store) -> list[dict]:
    region = s.settings.region
    out = []
    for index, (kind, name, path) in enumerate(SERVICES):
        url = base_url() + path.format(project=s.settings.project_id)
        out.append({"id": f"{index:032x}", "type": kind, "name": name, "endpoints": [
            {"id": f"{index:016x}{n:016x}", "interface": interface, "region": region,
             "region_id": region, "url": url}
            for n, interface in enumerate(("public", "internal", "admin"))]})
    return out


def validate_token(s: Store, token_id: str | None) -> dict:
    token = s.tokens.get(token_id or "")
    if token is None or token["expires"] <= s.now():
        raise unauthorized()
    return token


def _version_doc() -> dict:
    return {"id": "v3.14", "status": "stable", "updated": "2020-04-07T00:00:00Z",
            "links": [{"rel": "self", "href": f"{base_url()}/v3/"}],
            "media-types": [{"base": "application/json",
                             "type": "application/vnd.openstack.identity-v3+json"}]}


@bp.get("/")
def root_versions():
    return reply({"versions": {"values": [_version_doc()]}}, 300)


@bp.get("/v3")
def v3_version():
    return reply({"version": _version_doc()})


# ---------------------------------------------------------------- authentication

def _check_user(s: Store, user: dict) -> None:
    settings = s.settings
    if "id" in user:
        if user["id"] != settings.user_id:
            raise unauthorized()
        return
    domain = user.get("domain") or {}
    if user.get("name") != settings.username or not (
            domain.get("name") == settings.domain or domain.get("id") == DOMAIN_ID):
        raise unauthorized()


def _password(s: Store, method: dict) -> dict:
    user = method.get("user") or {}
    _check_user(s, user)
    if user.get("password") != s.settings.password:
        raise unauthorized()
    return {}


def _application_credential(s: Store, method: dict) -> dict:
    if "id" in method:
        credential = s.data["application_credentials"].get(method["id"])
    else:
        _check_user(s, method.get("user") or {})
        found = s.find("application_credentials", name=method.get("name"))
        credential = found[0] if found else None
    if credential is None or not secrets.compare_digest(credential["_secret"],
                                                        str(method.get("secret", ""))):
        raise unauthorized()
    if credential["_expires"] is not None and credential["_expires"] <= s.now():
        raise unauthorized()
    return {"app_cred_id": credential["id"], "unrestricted": credential["unrestricted"]}


def _token_method(s: Store, method: dict) -> dict:
    old = validate_token(s, method.get("id"))
    return {k: old[k] for k in ("app_cred_id", "unrestricted") if k in old}


def _scope(s: Store, auth: dict, via_credential: bool) -> str | None:
    scope = auth.get("scope")
    if via_credential:
        if scope:
            raise unauthorized("Application credentials cannot request a scope.")
        return s.settings.project_id
    if not scope:
        return None
    project = scope.get("project") if isinstance(scope, dict) else None
    if not project:
        raise unauthorized()
    if project.get("id") == s.settings.project_id:
        return s.settings.project_id
    domain = project.get("domain") or {}
    if project.get("name") == s.settings.project_name and (
            domain.get("name") == s.settings.domain or domain.get("id") == DOMAIN_ID):
        return s.settings.project_id
    raise unauthorized()


def token_body(s: Store, token: dict, with_catalog: bool = True) -> dict:
    settings = s.settings
    domain = {"id": DOMAIN_ID, "name": settings.domain}
    out = {"methods": token["methods"], "audit_ids": [token["audit_id"]],
           "expires_at": iso_micro_z(token["expires"]), "issued_at": iso_micro_z(token["issued"]),
           "user": {"id": settings.user_id, "name": settings.username, "domain": domain,
                    "password_expires_at": None}}
    if token["project_id"]:
        out.update({"project": {"id": settings.project_id, "name": settings.project_name,
                                "domain": domain},
                    "is_domain": False, "roles": ROLES})
        if with_catalog:
            out["catalog"] = catalog(s)
    if token.get("app_cred_id"):
        credential = s.data["application_credentials"].get(token["app_cred_id"], {})
        out["application_credential"] = {"id": token["app_cred_id"],
                                         "name": credential.get("name"),
                                         "restricted": not token["unrestricted"]}
    return out


@bp.post("/v3/auth/tokens")
def issue_token():
    s = store()
    auth = body("auth")
    identity = auth.get("identity") or {}
    methods = identity.get("methods")
    if not isinstance(methods, list) or not methods:
        raise bad_request("Expecting to find identity in auth. The server could not comply with "
                          "the request since it is either malformed or otherwise incorrect.")
    handlers = {"password": _password, "application_credential": _application_credential,
                "token": _token_method}
    facts: dict = {}
    for method in methods:
        if method not in handlers:
            raise unauthorized(f"Attempted to authenticate with an unsupported method: {method}")
        facts.update(handlers[method](s, identity.get(method) or {}))
    project_id = _scope(s, auth, "app_cred_id" in facts)
    now = s.now()
    token_id = "gAAAAA" + secrets.token_urlsafe(48)
    token = {"id": token_id, "methods": methods, "user_id": s.settings.user_id,
             "project_id": project_id, "issued": now, "expires": now + TOKEN_LIFETIME,
             "audit_id": secrets.token_urlsafe(16)[:22], "app_cred_id": None,
             "unrestricted": True, **facts}
    s.tokens[token_id] = token
    return reply({"token": token_body(s, token)}, 201, {"X-Subject-Token": token_id})


@bp.route("/v3/auth/tokens", methods=["GET", "HEAD", "DELETE"])
def check_token():
    s = store()
    subject = request.headers.get("X-Subject-Token", "")
    token = s.tokens.get(subject)
    if token is None or token["expires"] <= s.now():
        raise ApiError(404, f"Could not find token: {subject}.")
    if request.method == "DELETE":
        del s.tokens[subject]
        return no_content()
    with_catalog = request.args.get("nocatalog") is None
    return reply({"token": token_body(s, token, with_catalog)}, 200, {"X-Subject-Token": subject})


@bp.get("/v3/auth/projects")
def my_projects():
    s = store()
    return reply({"projects": [{"id": s.settings.project_id, "name": s.settings.project_name,
                                "domain_id": DOMAIN_ID, "enabled": True, "is_domain": False,
                                "parent_id": DOMAIN_ID, "description": "", "tags": [],
                                "links": {"self": f"{base_url()}/v3/projects/{s.settings.project_id}"}}],
                  "links": {"self": f"{base_url()}/v3/auth/projects", "previous": None, "next": None}})


@bp.get("/v3/users/<user_id>")
def show_user(user_id):
    s = store()
    if user_id != g.token["user_id"]:
        raise forbidden("identity:get_user")
    return reply({"user": {"id": user_id, "name": s.settings.username, "domain_id": DOMAIN_ID,
                           "enabled": True, "password_expires_at": None, "options": {},
                           "links": {"self": f"{base_url()}/v3/users/{user_id}"}}})


# ---------------------------------------------------------------- application credentials

def _render_credential(s: Store, credential: dict, with_secret: bool = False) -> dict:
    out = {k: v for k, v in credential.items() if not k.startswith("_")}
    out["expires_at"] = iso_micro(credential["_expires"])
    out["links"] = {"self": f"{base_url()}/v3/users/{credential['user_id']}/application_credentials/"
                            f"{credential['id']}"}
    if with_secret:
        out["secret"] = credential["_secret"]
    return out


def _own(user_id: str, action: str) -> Store:
    if user_id != g.token["user_id"]:
        raise forbidden(f"identity:{action}_application_credential")
    return store()


def _parse_expiry(value) -> float | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise bad_request(f"Invalid input for field 'expires_at': {value!r} is not a "
                          "'date-time'") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()


@bp.post("/v3/users/<user_id>/application_credentials")
def create_credential(user_id):
    s = _own(user_id, "create")
    if g.token.get("app_cred_id") and not g.token["unrestricted"]:
        raise ApiError(403, "Using method 'application_credential' is not allowed for managing "
                            "additional application credentials.")
    spec = body("application_credential")
    name = spec.get("name")
    if not isinstance(name, str) or not name:
        raise bad_request("Invalid input for field 'name': None is not of type 'string'")
    if s.find("application_credentials", name=name, user_id=user_id):
        raise ApiError(409, "Conflict occurred attempting to store application_credential - "
                            f"Duplicate entry found with name {name}.")
    expires = _parse_expiry(spec.get("expires_at"))
    if expires is not None and expires <= s.now():
        raise bad_request("The expiration date must be in the future.")
    wanted = spec.get("roles") or ROLES
    roles = [r for r in ROLES if any(w.get("id") == r["id"] or w.get("name") == r["name"]
                                     for w in wanted)]
    if len(roles) != len(wanted):
        raise ApiError(404, f"Could not find role: {wanted}.")
    credential = {"id": new_id().replace("-", ""), "name": name,
                  "description": spec.get("description"), "user_id": user_id,
                  "project_id": s.settings.project_id, "system": None,
                  "unrestricted": bool(spec.get("unrestricted", False)),
                  "roles": [dict(r, domain_id=None) for r in roles],
                  "access_rules": spec.get("access_rules") or [],
                  "_secret": spec.get("secret") or secrets.token_urlsafe(64),
                  "_expires": expires}
    s.add("application_credentials", credential)
    return reply({"application_credential": _render_credential(s, credential, True)}, 201)


@bp.get("/v3/users/<user_id>/application_credentials")
def list_credentials(user_id):
    s = _own(user_id, "list")
    found = s.find("application_credentials", user_id=user_id)
    if "name" in request.args:
        found = [c for c in found if c["name"] == request.args["name"]]
    return reply({"application_credentials": [_render_credential(s, c) for c in found],
                  "links": {"self": f"{base_url()}/v3/users/{user_id}/application_credentials",
                            "previous": None, "next": None}})


def _credential(s: Store, user_id: str, credential_id: str) -> dict:
    credential = s.data["application_credentials"].get(credential_id)
    if credential is None or credential["user_id"] != user_id:
        raise ApiError(404, f"Could not find Application Credential: {credential_id}.")
    return credential


@bp.get("/v3/users/<user_id>/application_credentials/<credential_id>")
def show_credential(user_id, credential_id):
    s = _own(user_id, "get")
    return reply({"application_credential":
                  _render_credential(s, _credential(s, user_id, credential_id))})


@bp.delete("/v3/users/<user_id>/application_credentials/<credential_id>")
def delete_credential(user_id, credential_id):
    s = _own(user_id, "delete")
    if g.token.get("app_cred_id") and not g.token["unrestricted"]:
        raise ApiError(403, "Using method 'application_credential' is not allowed for managing "
                            "additional application credentials.")
    _credential(s, user_id, credential_id)
    s.remove("application_credentials", credential_id)
    # Keystone revokes the tokens issued through a deleted credential.
    for token_id in [t for t, tok in s.tokens.items() if tok.get("app_cred_id") == credential_id]:
        del s.tokens[token_id]
    return no_content()
