"""`relval plan` wiring: the installed command, its JSON, and its errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from .conftest import BASE_CONFIG, EXAMPLE_STACK, REPO

RELVAL = [sys.executable, "-m", "relval"]


def relval(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([*RELVAL, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def write_stack(tmp_path: Path, name: str, config: dict) -> Path:
    path = tmp_path / f"Pulumi.{name}.yaml"
    path.write_text(yaml.safe_dump({"config": {f"relval:{k}": v for k, v in config.items()}}))
    return path


def test_plan_json_of_the_example_stack():
    result = relval("plan", "--stack", "alice-relval", "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert set(document) >= {"resources", "outputs"}
    assert document["outputs"]["release"] == yaml.safe_load(EXAMPLE_STACK.read_text())[
        "config"]["relval:release"]
    types = {r["type"] for r in document["resources"]}
    assert "openstack:compute/instance:Instance" in types
    for resource in document["resources"]:
        assert set(resource) >= {"type", "name", "inputs"}
    head = next(r for r in document["resources"] if r["name"] == "head-instance")
    assert head["inputs"]["userData"].startswith("#cloud-config")


def test_plan_human_output_shows_sizes_not_user_data():
    result = relval("plan", "--stack", "alice-relval")
    assert result.returncode == 0, result.stderr
    assert "compute.Instance" in result.stdout and "head-instance" in result.stdout
    assert "userData=<" in result.stdout and "#cloud-config" not in result.stdout
    assert "headAddress" in result.stdout


def test_config_file_plans_any_stack_file(tmp_path):
    path = write_stack(tmp_path, "rel-2", {**BASE_CONFIG, "workers": {"initial": 4, "min": 0, "max": 9}})
    result = relval("plan", "--config-file", str(path), "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["stack"] == "rel-2"
    assert len(document["outputs"]["workerNames"]) == 4


def test_bad_config_exits_2_with_every_message_and_no_traceback(tmp_path):
    path = write_stack(tmp_path, "broken", {
        **BASE_CONFIG, "workers": {"initial": 2, "min": 5, "max": 10},
        "sshAllowedCidrs": ["0.0.0.0/0"]})
    result = relval("plan", "--config-file", str(path), "--json")
    assert result.returncode == 2
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert "Pulumi.broken.yaml: relval:workers.min must be <= relval:workers.initial (got 5 > 2)" \
        in result.stderr
    assert "relval:sshAllowedCidrs[0] opens SSH to the whole internet" in result.stderr


def test_missing_stack_file_names_it(tmp_path):
    result = relval("plan", "--stack", "nope")
    assert result.returncode == 2
    assert "Pulumi.nope.yaml: no such stack file" in result.stderr
    assert "alice-relval" in result.stderr


def test_unreadable_yaml_names_the_file_and_line(tmp_path):
    path = tmp_path / "Pulumi.bad.yaml"
    path.write_text("config:\n  relval:release: [unclosed\n")
    result = relval("plan", "--config-file", str(path))
    assert result.returncode == 2
    assert str(path) in result.stderr and "line" in result.stderr
    assert "Traceback" not in result.stderr


def test_every_command_has_help():
    for args in (["--help"], ["plan", "--help"]):
        result = relval(*args)
        assert result.returncode == 0 and "Usage" in result.stdout, args


def test_console_script_is_installed():
    script = shutil.which("relval", path=str(Path(sys.executable).parent))
    assert script, "pip install -e . must provide the relval command"
    result = subprocess.run([script, "plan", "--help"], capture_output=True, text=True)
    assert result.returncode == 0


@pytest.mark.engine
def test_plan_diff_says_what_happens_to_the_head(engine, tmp_path):
    """`--diff` asks the engine about the deployed stack; none in this backend: created."""
    env = {**os.environ, "PULUMI_BACKEND_URL": tmp_path.as_uri(), "PULUMI_CONFIG_PASSPHRASE": "x"}
    result = subprocess.run([*RELVAL, "plan", "--stack", "alice-relval", "--diff", "--json"],
                            cwd=REPO, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr
    head = json.loads(result.stdout)["head"]
    assert head == {"verdict": "create", "properties": [], "replaced": False,
                    "message": "applying would create the head (the stack has none yet)"}
    text = subprocess.run([*RELVAL, "plan", "--stack", "alice-relval", "--diff"], cwd=REPO,
                          capture_output=True, text=True, timeout=300, env=env).stdout
    assert "head: applying would create the head" in text
