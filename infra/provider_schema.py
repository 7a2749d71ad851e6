"""Check declared resource inputs against the OpenStack provider's own package schema.

Pulumi's mocks accept anything; the real provider rejects unknown inputs,
missing required ones and wrong types. This catches those offline.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

# `make engine` writes the schema of the openstack provider it builds or installs into
# .tools/pulumi/schema/ (engine/build.sh); RELVAL_PROVIDER_SCHEMA points elsewhere.
SCHEMA_IN_TOOLS = Path("schema") / "openstack.json"


def _default_schema() -> Path:
    if os.environ.get("RELVAL_PROVIDER_SCHEMA"):
        return Path(os.environ["RELVAL_PROVIDER_SCHEMA"])
    from relval.infra.engine import TOOLS_DIR

    tools = os.environ.get("RELVAL_TOOLS_DIR")  # as find_engine: another .tools/pulumi
    checkout = Path(__file__).resolve().parent.parent
    return (Path(tools) if tools else checkout / TOOLS_DIR) / SCHEMA_IN_TOOLS


DEFAULT_SCHEMA = _default_schema()
MISSING_HINT = (f"provider schema not found at {DEFAULT_SCHEMA}: `make engine` writes it "
                "(or set RELVAL_PROVIDER_SCHEMA to a pulumi-openstack schema JSON)")


@lru_cache(maxsize=4)
def load_schema(path: Path = DEFAULT_SCHEMA) -> dict[str, Any]:
    return json.loads(Path(path).read_text())


def _check_value(value: Any, spec: dict[str, Any], types: dict[str, Any], where: str,
                 problems: list[str]) -> None:
    if value is None:
        return
    ref = spec.get("$ref")
    if ref is not None:
        if ref.startswith("#/types/"):
            _check_object(value, types[ref[len("#/types/"):]], types, where, problems)
        return  # pulumi.json#/Any and friends accept anything
    kind = spec.get("type")
    if kind == "string":
        ok = isinstance(value, str)
    elif kind == "boolean":
        ok = isinstance(value, bool)
    elif kind == "integer":
        ok = not isinstance(value, bool) and (
            isinstance(value, int) or (isinstance(value, float) and value.is_integer()))
    elif kind == "number":
        ok = not isinstance(value, bool) and isinstance(value, (int, float))
    elif kind == "array":
        ok = isinstance(value, list)
        if ok:
            for index, item in enumerate(value):
                _check_value(item, spec.get("items", {}), types, f"{where}[{index}]", problems)
    elif kind == "object":
        ok = isinstance(value, dict)
        if ok and "additionalProperties" in spec:
            for key, item in value.items():
                _check_value(item, spec["additionalProperties"], types, f"{where}.{key}", problems)
    else:
        ok = True
    if not ok:
        problems.append(f"{where}: expected {kind}, got {type(value).__name__} ({value!r:.60})")


def _check_object(value: Any, type_spec: dict[str, Any], types: dict[str, Any], where: str,
                  problems: list[str]) -> None:
    if not isinstance(value, dict):
        problems.append(f"{where}: expected an object, got {type(value).__name__}")
        return
    properties = type_spec.get("properties", {})
    for key, item in value.items():
        if key not in properties:
            problems.append(f"{where}.{key}: unknown property")
        else:
            _check_value(item, properties[key], types, f"{where}.{key}", problems)
    for key in type_spec.get("required", []):
        if value.get(key) is None:
            problems.append(f"{where}.{key}: required property missing")


def check_resource(type_token: str, name: str, inputs: dict[str, Any],
                   schema: dict[str, Any] | None = None) -> list[str]:
    """Problems with one resource's inputs; [] when the provider would accept them.

    Only `openstack:` resources are checked; other packages have their own schemas.
    """
    if not type_token.startswith("openstack:"):
        return []
    schema = schema or load_schema()
    where = f"{type_token} {name!r}"
    resource = schema["resources"].get(type_token)
    if resource is None:
        return [f"{where}: no such resource type in the provider schema"]
    properties = resource.get("inputProperties", {})
    problems: list[str] = []
    for key, value in inputs.items():
        if key not in properties:
            problems.append(f"{where}: unknown input {key!r}")
        else:
            _check_value(value, properties[key], schema["types"], f"{where}: {key}", problems)
    for key in resource.get("requiredInputs", []):
        if inputs.get(key) is None:
            problems.append(f"{where}: required input {key!r} missing")
    return problems
