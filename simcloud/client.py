"""The /_sim endpoints from another process (a simulator started with `python -m`)."""

from __future__ import annotations

import json
import urllib.request


def _base(target) -> str:
    return (target if isinstance(target, str) else target.url).rstrip("/")


def _call(target, method: str, path: str, payload=None):
    data = None if payload is None else json.dumps(payload).encode()
    req = urllib.request.Request(_base(target) + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as response:
        text = response.read()
    return json.loads(text) if text else None


def seed(target, spec: dict) -> dict:
    """Seed a running simulator (a SimServer or its base URL); returns kind -> name -> id."""
    return _call(target, "POST", "/_sim/seed", spec)


def inventory(target) -> dict:
    """Everything the simulator holds, with `counts` of what was created after seeding."""
    return _call(target, "GET", "/_sim/inventory")


def add_fault(target, spec: dict) -> dict:
    return _call(target, "POST", "/_sim/faults", spec)


def clear_faults(target) -> None:
    _call(target, "DELETE", "/_sim/faults")


def configure(target, values: dict) -> dict:
    return _call(target, "PUT", "/_sim/config", values)
