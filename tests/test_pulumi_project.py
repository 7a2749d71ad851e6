"""Pulumi.yaml documents every relval: key the validator knows, with the same defaults,
and runs the program the way the Pulumi CLI would (with the engine's own config encoding)."""

from __future__ import annotations

import json
import runpy

import pulumi
import pytest
import yaml

from relval.infra.config import KEYS, REQUIRED
from relval.infra.config_source import from_stack_file
from relval.infra.plan import OfflineCloud, RecordingMonitor, run_offline

from .conftest import BASE_CONFIG, EXAMPLE_STACK, REPO

# The types Pulumi's project schema accepts (no "object": those keys stay untyped).
PULUMI_TYPES = {"string", "integer", "boolean", "array"}


@pytest.fixture(scope="module")
def project():
    return yaml.safe_load((REPO / "Pulumi.yaml").read_text())


def test_project_layout(project):
    assert project["name"] == "relval"
    assert project["main"] == "infra/"
    assert project["runtime"] == {"name": "python", "options": {"virtualenv": "venv"}}
    assert (REPO / "infra" / "__main__.py").is_file()


def test_only_keys_with_a_default_are_declared(project):
    """Pulumi makes a declared key without a default required, and refuses every stack that
    lacks it before the program runs: optional keys must never be declared that way."""
    declared = {k.split(":", 1)[1]: v for k, v in project["config"].items()}
    with_default = {k for k, v in KEYS.items() if v not in (REQUIRED, None)}
    assert set(declared) == with_default
    for key, spec in declared.items():
        assert spec.get("description"), key
        assert "default" in spec and spec["default"] == KEYS[key], key
        if "type" in spec:
            assert spec["type"] in PULUMI_TYPES, key
            if spec["type"] == "array":
                assert spec["items"]["type"] in PULUMI_TYPES, key


def test_undeclared_keys_are_documented_in_the_project_file():
    text = (REPO / "Pulumi.yaml").read_text()
    for key, default in KEYS.items():
        if default in (REQUIRED, None):
            assert f"#   relval:{key}: " in text, key


def test_example_stack_sets_only_known_keys(project):
    known = {f"relval:{k}" for k in KEYS}
    stack = yaml.safe_load(EXAMPLE_STACK.read_text())["config"]
    assert set(stack) <= known
    assert {k for k, v in KEYS.items() if v == REQUIRED} <= set(from_stack_file(EXAMPLE_STACK).values)


def run_program(flat_config: dict[str, str], monitor: RecordingMonitor | None = None):
    """Run infra/__main__.py as the engine does: config as strings, objects JSON-encoded."""
    pulumi.runtime.set_all_config(flat_config)
    try:
        monitor, _ = run_offline(lambda: runpy.run_path(str(REPO / "infra"), run_name="__main__"),
                                 stack="engine", monitor=monitor)
    finally:
        pulumi.runtime.set_all_config({})
    return monitor


def engine_encoding(config: dict) -> dict[str, str]:
    return {f"relval:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}


def test_program_runs_from_engine_config():
    monitor = run_program(engine_encoding(BASE_CONFIG))
    types = [r.type for r in monitor.planned]
    assert types.count("openstack:compute/instance:Instance") == 4


def test_program_rejects_bad_config_before_declaring_anything():
    bad = {**BASE_CONFIG, "workers": {"initial": 2, "min": 5, "max": 10}}
    monitor = RecordingMonitor(OfflineCloud())
    with pytest.raises(pulumi.RunError) as caught:
        run_program(engine_encoding(bad), monitor)
    assert monitor.planned == []
    assert "relval:workers.min must be <= relval:workers.initial (got 5 > 2)" in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
