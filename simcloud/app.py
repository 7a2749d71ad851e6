"""The WSGI application: one Flask app, one blueprint per service, keystone's token check
in front of every service call, each service's own error envelope, injected API errors."""

from __future__ import annotations

import logging
import uuid

from flask import Flask, g, jsonify, request
from werkzeug.exceptions import HTTPException

from . import admin, cinder, glance, keystone, lifecycle, neutron, nova
from .errors import ApiError
from .store import Store

log = logging.getLogger(__name__)

# Calls a client makes before it has a token: version discovery and authentication.
OPEN_PATHS = {("GET", "/"), ("GET", "/v3"), ("POST", "/v3/auth/tokens"), ("GET", "/compute"),
              ("GET", "/compute/v2.1"), ("GET", "/network"), ("GET", "/volume"),
              ("GET", "/volume/v3"), ("GET", "/image")}
NOVA_FAULT_NAMES = {400: "badRequest", 401: "unauthorized", 403: "forbidden", 404: "itemNotFound",
                    405: "badMethod", 409: "conflictingRequest", 413: "overLimit",
                    415: "badMediaType", 429: "overLimit", 501: "notImplemented",
                    503: "serviceUnavailable"}
TITLES = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
          405: "Method Not Allowed", 409: "Conflict", 413: "Request Entity Too Large",
          500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
          504: "Gateway Timeout"}


def service_of(path: str) -> str:
    for prefix, service in (("/compute", "nova"), ("/network", "neutron"), ("/volume", "cinder"),
                            ("/image", "glance"), ("/_sim", "admin")):
        if path == prefix or path.startswith(prefix + "/"):
            return service
    return "keystone"


def error_response(status: int, message: str, kind: str = ""):
    """The error as the service owning the path words it."""
    service = service_of(request.path)
    title = TITLES.get(status, "Error")
    if status == 401 or service in ("keystone", "admin"):
        payload = {"error": {"code": status, "message": message, "title": title}}
    elif service in ("nova", "cinder"):
        payload = {NOVA_FAULT_NAMES.get(status, "computeFault"): {"code": status, "message": message}}
    elif service == "neutron":
        payload = {"NeutronError": {"type": kind or title.replace(" ", ""), "message": message,
                                    "detail": ""}}
    else:  # glance answers errors as text
        response = Flask.response_class(f"{status} {title}\n\n{message}\n\n   ", status=status,
                                        mimetype="text/plain")
        return response
    response = jsonify(payload)
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = f"Keystone uri=\"{request.host_url}v3\""
    if status == 413:
        response.headers["Retry-After"] = "0"
    return response


class Serialized:
    """WSGI wrapper: trailing slashes dropped (the real routers accept both), the clock
    applied, and one request at a time against the store."""

    def __init__(self, app, store: Store):
        self.app, self.store = app, store

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "/")
        if len(path) > 1 and path.endswith("/"):
            environ["PATH_INFO"] = path.rstrip("/") or "/"
        with self.store.lock:
            lifecycle.tick(self.store)
            self.store.requests += 1
            return list(self.app(environ, start_response))


def create_app(store: Store) -> Flask:
    app = Flask("relval.simcloud")
    app.config["SIM_STORE"] = store
    app.json.sort_keys = False
    for blueprint in (keystone.bp, nova.bp, neutron.bp, cinder.bp, glance.bp, admin.bp):
        app.register_blueprint(blueprint)

    @app.before_request
    def authenticate():
        g.request_id = "req-" + str(uuid.uuid4())
        if service_of(request.path) == "admin":
            return None
        rule = store.faults.take_call(request.method, request.path)
        if rule is not None:
            return error_response(rule.status, rule.message or "Injected fault: the service is "
                                  "unavailable.")
        if (request.method, request.path) in OPEN_PATHS or request.method == "OPTIONS":
            return None
        g.token = keystone.validate_token(store, request.headers.get("X-Auth-Token"))
        return None

    @app.after_request
    def request_id(response):
        response.headers["X-Openstack-Request-Id"] = g.get("request_id", "")
        if service_of(request.path) == "nova":
            response.headers["X-Compute-Request-Id"] = g.get("request_id", "")
        return response

    @app.errorhandler(ApiError)
    def api_error(error: ApiError):
        return error_response(error.status, error.message, error.kind)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        return error_response(error.code or 500, error.description or "")

    @app.errorhandler(Exception)
    def crash(error: Exception):
        log.exception("simcloud: unexpected error on %s %s", request.method, request.path)
        return error_response(500, f"Unexpected error: {type(error).__name__}: {error}")

    app.wsgi_app = Serialized(app.wsgi_app, store)
    return app
