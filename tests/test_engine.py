"""The real Pulumi engine (`make engine`) against the simulated OpenStack.

These run the real CLI, language host and provider plugins: what the mock engine cannot
see (project config rules, the provider's own checks, replace-vs-update, leftovers) is
seen here. They skip with one line where no engine was built; CI sets
RELVAL_REQUIRE_ENGINE=1, which turns that skip into a failure.
"""

from __future__ import annotations

import copy
import subprocess

import pytest
import yaml

from .conftest import EXAMPLE_STACK, REPO

pytestmark = [pytest.mark.engine, pytest.mark.slow]

EXAMPLE = yaml.safe_load(EXAMPLE_STACK.read_text())


def variant(**changes) -> dict:
    """The example stack file with `relval:` keys replaced (None removes a key)."""
    document = copy.deepcopy(EXAMPLE)
    for key, value in changes.items():
        if value is None:
            document["config"].pop(f"relval:{key}", None)
        else:
            document["config"][f"relval:{key}"] = value
    return document


def write_stack(tmp_path, name: str, document: dict):
    path = tmp_path / f"Pulumi.{name}.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def test_engine_versions(engine):
    version = subprocess.run([str(engine.cli), "version"], capture_output=True, text=True,
                             env=engine.env(), check=True).stdout.strip()
    assert version == "v3.274.0"
    plugins = subprocess.run([str(engine.cli), "plugin", "ls", "--json"], capture_output=True,
                             text=True, env=engine.env(), check=True).stdout
    import json

    installed = {(p["name"], p["version"]) for p in json.loads(plugins) if p["kind"] == "resource"}
    assert {("openstack", "5.5.3"), ("random", "4.21.4"), ("tls", "5.6.2")} <= installed


VARIANTS = {
    "example": variant(),
    "no-floating-ip": variant(floatingIpPool=None),
    # The sweep deletes the floating IP first; destroy must not then fail disassociating it.
    "floating-ip": variant(floatingIpPool="public"),
    "existing-keypair": variant(sshPublicKey=None, keypair="alice-operator"),
    "autoscaler-app-credential": variant(autoscaler={
        "enabled": True, "authUrl": "https://keystone.example.org:5000/v3",
        "createApplicationCredential": True}),
    "cernvm-no-volumes": variant(imageFamily="cernvm5", image="cernvm5-micro", volumes=[]),
    "zero-workers": variant(workers={"initial": 0, "min": 0, "max": 5}, volumes=[
        {"name": "spool", "sizeGb": 50, "mountPoint": "/data", "role": "head"}]),
    "worker-volumes-only": variant(volumes=[
        {"name": "scratch", "sizeGb": 20, "mountPoint": "/scratch", "role": "worker"}]),
}


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_rehearse_variant(engine, tmp_path, name):
    from relval.rehearse import LEFTOVER_KINDS, rehearse

    path = write_stack(tmp_path, f"rehearse-{name}", VARIANTS[name])
    result = rehearse(config_file=path)
    report = result.to_json()
    assert [s["name"] for s in report["steps"]] == ["preview", "up", "up again", "scaler boot", "down"]
    assert result.ok, report
    assert all(report["inventory_after_down"].get(kind, 0) == 0 for kind in LEFTOVER_KINDS), report
    # With the elastic scaler Pulumi makes only the head: the scaler owns every worker.
    config = VARIANTS[name]["config"]
    scaler = config.get("relval:autoscaler") or {}
    scaled = bool(scaler) and scaler.get("enabled", True) is not False
    initial = config.get("relval:workers", {"initial": 2})["initial"]
    assert report["inventory_after_up"]["servers"] == 1 + (0 if scaled else initial)


INVALID = {
    "missing image": (variant(image=None), "relval:image"),
    "min above initial": (variant(workers={"initial": 1, "min": 3, "max": 5}), "workers"),
    "misspelt key": (variant(workerFlavour="m2.small"), "workerFlavour"),
    "world-open ssh": (variant(sshAllowedCidrs=["0.0.0.0/0"]), "sshAllowedCidrs"),
    "two ssh keys": (variant(keypair="other"), "keypair"),
    "unknown image family": (variant(imageFamily="ubuntu"), "imageFamily"),
}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_engine_refuses_invalid_stack_with_relvals_message(engine, case):
    from relval.errors import RelvalError
    from relval.infra import automation
    from relval.rehearse import LEFTOVER_KINDS, session

    document, key = INVALID[case]
    lines: list[str] = []
    with session("invalid", document) as (workspace, cloud):
        with pytest.raises(RelvalError) as refused:
            automation.preview("invalid", lines.append, workspace)
        inventory = cloud.inventory()
    text = "".join(lines) + str(refused.value)
    assert "invalid stack config" in text and key in text, text
    assert "Traceback" not in text
    assert all(inventory["counts"].get(kind, 0) == 0 for kind in LEFTOVER_KINDS), inventory["counts"]


def test_rehearse_cli_example_stack_exit_0(engine):
    done = subprocess.run([str(REPO / "venv" / "bin" / "relval"), "rehearse", "--stack", "alice-relval",
                           "--json"], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    import json

    report = json.loads(done.stdout)
    assert report["ok"] and report["checks"] == {"outputs": "ok", "user-data": "ok", "nothing left": "ok"}


def test_rehearse_without_engine_exits_2(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    done = subprocess.run([str(REPO / "venv" / "bin" / "relval"), "rehearse", "--stack", "alice-relval"],
                          capture_output=True, text=True, cwd=tmp_path, env={**env, "RELVAL_TOOLS_DIR": str(tmp_path)})
    assert done.returncode == 2
    assert "make engine" in done.stderr and "Traceback" not in done.stderr
