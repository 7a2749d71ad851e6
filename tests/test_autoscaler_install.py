"""The elastic scaler's install on the head: config, credentials, the daemon bundle."""

from __future__ import annotations

import base64
import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from relval.autoscaler.bundle import DAEMON_REQUIREMENTS, EC2_REQUIREMENTS, bundle_daemon
from relval.autoscaler.config import parse_daemon_config
from relval.autoscaler.live_config import from_metadata
from relval.cloudinit import NOVA_USER_DATA_LIMIT
from relval.errors import RelvalError
from relval.infra.config import parse_stack_config
from relval.infra.plan import user_data_of

from .conftest import BASE_CONFIG, REPO, make_plan

SCALER = {"authUrl": "https://keystone.example.org/v3", "region": "regionOne",
          "createApplicationCredential": True, "idleTimeout": 900}
CREDENTIAL = "openstack:identity/applicationCredential:ApplicationCredential"


def stack(**autoscaler):
    raw = copy.deepcopy(BASE_CONFIG)
    raw["autoscaler"] = autoscaler
    # The scaler needs Python >= 3.10 on the head: an EL9 image, not BASE_CONFIG's CernVM 4.
    raw.update(image="ALMA9 - x86_64", imageFamily="el9")
    return raw


def files(doc: dict) -> dict[str, dict]:
    return {f["path"]: f for f in doc.get("write_files", [])}


@pytest.fixture(scope="module")
def scaled_plan():
    return make_plan(stack(**SCALER), stack="rv-scale")


def test_no_scaler_unless_configured():
    plan = make_plan(copy.deepcopy(BASE_CONFIG))
    assert plan.of_type(CREDENTIAL) == []
    head = yaml.safe_load(user_data_of(plan, "head"))
    assert "/etc/relval/autoscaler.yaml" not in files(head)
    assert parse_stack_config(stack(enabled=False)).autoscaler is None


def test_application_credential_is_created_when_asked(scaled_plan):
    [credential] = scaled_plan.of_type(CREDENTIAL)
    assert credential.inputs["name"] == "rv-scale-autoscaler"
    assert credential.inputs["unrestricted"] is False


def test_head_runs_the_daemon_with_a_config_it_accepts(scaled_plan):
    head = yaml.safe_load(user_data_of(scaled_plan, "head"))
    written = files(head)
    config = parse_daemon_config(yaml.safe_load(written["/etc/relval/autoscaler.yaml"]["content"]))
    # Pulumi declares no worker with the scaler: compare with the head's own inputs.
    worker = next(i for i in scaled_plan.of_type("openstack:compute/instance:Instance")
                  if i.inputs["metadata"]["relval-role"] == "head")
    assert config.scaler.stack == "rv-scale" and config.release == BASE_CONFIG["release"]
    # The knobs and bounds are not in the user-data: they come from the head's metadata.
    head_md = next(i for i in scaled_plan.of_type("openstack:compute/instance:Instance")
                   if i.inputs["metadata"]["relval-role"] == "head").inputs["metadata"]
    live, problems = from_metadata(config.scaler, head_md)
    assert problems == [] and (live.min, live.max) == (1, 20) and live.idle_timeout == 900
    # The id the stack's own instances boot from, resolved once, never the name again.
    assert config.openstack.image == scaled_plan.outputs["imageId"] == worker.inputs["imageId"]
    assert config.openstack.flavor == BASE_CONFIG["workerFlavor"]
    assert config.openstack.network == BASE_CONFIG["network"]
    # By id: a second group of the same name would make nova refuse the boot (409).
    assert config.openstack.security_groups == (scaled_plan.outputs["securityGroupId"],)
    # The stack's unique identity: the scaler owns only workers carrying it, and
    # Pulumi's own instances say they are Pulumi's.
    assert config.scaler.stack_id == config.openstack.server_group == scaled_plan.outputs["stackId"]
    assert worker.inputs["metadata"]["relval-stack-id"] == config.scaler.stack_id
    assert worker.inputs["metadata"]["relval-managed-by"] == "pulumi"
    assert config.openstack.cloud == "relval"
    clouds = yaml.safe_load(written["/etc/relval/clouds.yaml"]["content"])
    auth = clouds["clouds"]["relval"]["auth"]
    assert auth["auth_url"] == SCALER["authUrl"]
    assert auth["application_credential_secret"] == "<secret:credentials-autoscaler>"
    for path in ("/etc/relval/clouds.yaml", "/etc/relval/autoscaler.yaml",
                 "/etc/relval/worker-user-data"):
        assert written[path]["permissions"] == "0600", path
    unit = written["/etc/systemd/system/relval-autoscaler.service"]["content"]
    assert "Environment=OS_CLIENT_CONFIG_FILE=/etc/relval/clouds.yaml" in unit
    assert "relval-autoscaler.pyz --config /etc/relval/autoscaler.yaml" in unit
    # A frozen loop is restarted: the daemon pings after every cycle.
    assert "WatchdogSec=900" in unit and "NotifyAccess=main" in unit
    assert ["systemctl", "enable", "--now", "relval-autoscaler.service"] in head["runcmd"]


def test_the_install_is_retried_by_the_unit_until_it_succeeds(scaled_plan, tmp_path):
    """A failed dnf or pip used to leave the unit crash-looping on a missing venv for good."""
    head = yaml.safe_load(user_data_of(scaled_plan, "head"))
    written = files(head)
    install = "/usr/local/sbin/relval-autoscaler-install"
    unit = written["/etc/systemd/system/relval-autoscaler.service"]["content"]
    assert f"ExecStartPre={install}" in unit and "Restart=always" in unit
    assert "StartLimitIntervalSec=0" in unit and "TimeoutStartSec=1800" in unit
    assert [install] not in head["runcmd"]          # cloud-init no longer runs it once
    script = written[install]["content"].replace("/opt/relval/venv", str(tmp_path / "venv"))
    (tmp_path / "install.sh").write_text(script)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("python3", "dnf", "yum"):          # an EL7 head: nothing >= 3.10 to be had
        (bin_dir / tool).write_text("#!/bin/sh\nexit 1\n")
        (bin_dir / tool).chmod(0o755)
    (bin_dir / "cat").symlink_to("/bin/cat")
    env = {"PATH": str(bin_dir)}                    # not this machine's Python 3.11
    failed = subprocess.run(["/bin/sh", str(tmp_path / "install.sh")], env=env, capture_output=True,
                            text=True, timeout=60)
    assert failed.returncode != 0 and "Python >= 3.10" in failed.stderr
    assert not (tmp_path / "venv" / ".relval-installed").exists()
    # Once installed (the stamp names the requirements), starting again does nothing.
    stamp = script.split("STAMP_CONTENT=")[1].split("\n")[0].strip("'")
    (tmp_path / "venv").mkdir()
    (tmp_path / "venv" / ".relval-installed").write_text(stamp + "\n")
    again = subprocess.run(["/bin/sh", str(tmp_path / "install.sh")], env=env, capture_output=True,
                           text=True, timeout=60)
    assert again.returncode == 0, again.stderr


def test_scaler_boots_workers_with_the_workers_cloud_config(scaled_plan):
    head = yaml.safe_load(user_data_of(scaled_plan, "head"))
    scaled_worker = yaml.safe_load(files(head)["/etc/relval/worker-user-data"]["content"])
    pulumi_worker = yaml.safe_load(user_data_of(scaled_plan, "worker"))
    assert scaled_worker == pulumi_worker  # no worker volumes configured: identical


def test_workers_never_get_cloud_credentials(scaled_plan):
    worker = user_data_of(scaled_plan, "worker", show_secrets=True)
    assert "clouds" not in worker and "application_credential" not in worker
    assert scaled_plan.secrets["credentials-autoscaler"] not in worker


def test_credential_secret_never_printed(scaled_plan):
    import json

    assert scaled_plan.secrets["credentials-autoscaler"] not in json.dumps(scaled_plan.to_json())


def test_head_user_data_with_the_scaler_fits_and_passes_cloud_init_schema(scaled_plan, tmp_path):
    head = next(i for i in scaled_plan.of_type("openstack:compute/instance:Instance")
                if i.inputs["metadata"]["relval-role"] == "head")
    assert len(base64.b64encode(head.inputs["userData"].encode())) <= NOVA_USER_DATA_LIMIT
    path = tmp_path / "head.yaml"
    path.write_text(user_data_of(scaled_plan, "head"))
    result = subprocess.run(["cloud-init", "schema", "--config-file", str(path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_existing_application_credential_is_used():
    plan = make_plan(stack(authUrl="https://k/v3", applicationCredentialId="ac-123",
                           applicationCredentialSecret="s3cr3t-from-config"))
    assert plan.of_type(CREDENTIAL) == []
    head = yaml.safe_load(user_data_of(plan, "head", show_secrets=True))
    clouds = yaml.safe_load(files(head)["/etc/relval/clouds.yaml"]["content"])
    assert clouds["clouds"]["relval"]["auth"]["application_credential_id"] == "ac-123"
    head_instance = next(i for i in plan.of_type("openstack:compute/instance:Instance")
                         if i.inputs["metadata"]["relval-role"] == "head")
    assert "userData" in head_instance.secret_inputs


@pytest.mark.parametrize("autoscaler,message", [
    (dict(createApplicationCredential=True),
     "relval:autoscaler.authUrl is required when the scaler is enabled"),
    (dict(authUrl="https://k/v3"),
     "relval:autoscaler needs cloud credentials for the head: set createApplicationCredential: true"),
    (dict(authUrl="https://k/v3", createApplicationCredential=True, applicationCredentialId="x"),
     "relval:autoscaler.createApplicationCredential and relval:autoscaler.applicationCredentialId/Secret "
     "are exclusive"),
    (dict(authUrl="keystone", createApplicationCredential=True),
     "relval:autoscaler.authUrl must be an http(s) URL (got 'keystone')"),
    (dict(driver="ec2"), "relval:autoscaler.ec2 is required"),
    (dict(driver="gce"), "relval:autoscaler.driver must be one of ec2, openstack (got 'gce')"),
    (dict(pollSecond=5), "relval:autoscaler.pollSecond is not a known key (did you mean 'pollSeconds'?)"),
])
def test_bad_scaler_config_is_reported_with_its_key(autoscaler, message):
    with pytest.raises(RelvalError) as caught:
        parse_stack_config(stack(**autoscaler))
    assert any(message in p for p in caught.value.problems), caught.value.problems


@pytest.mark.parametrize("image", ["cernvm4-micro-2020.07-1", "CernVM 4 - x86_64", "cc7-base",
                                   "CentOS 7 - x86_64"])
def test_a_scaler_on_an_el7_head_is_refused_when_the_config_is_validated(image):
    """The scaler needs Python >= 3.10; CernVM 4 (EL7) has 3.6 and no package offers more."""
    raw = {**stack(**SCALER), "image": image, "imageFamily": "el9"}  # the family is checked on its own
    with pytest.raises(RelvalError) as caught:
        parse_stack_config(raw)
    assert any(p.startswith("relval:image ") and "Python >= 3.10" in p for p in caught.value.problems)
    if "cernvm" not in image.lower().replace(" ", ""):  # CernVM 4 is refused anyway (no HTCondor >= 9)
        raw["autoscaler"] = {"enabled": False}
        assert parse_stack_config(raw).autoscaler is None  # without the scaler: accepted


@pytest.mark.parametrize("image", ["cvm5-2024.10-1", "CernVM 5 - x86_64", "ALMA9 - x86_64"])
def test_a_scaler_on_an_el9_head_is_accepted(image):
    assert parse_stack_config({**stack(**SCALER), "image": image}).autoscaler is not None


def test_ec2_driver_gets_aws_credentials_not_openstack_ones():
    plan = make_plan(stack(driver="ec2", ec2={"region": "eu-west-1", "imageId": "ami-1",
                                               "instanceType": "m5.2xlarge"},
                           ec2AccessKeyId="AKIAEXAMPLE", ec2SecretAccessKey="aws-secret-value"))
    head = yaml.safe_load(user_data_of(plan, "head", show_secrets=True))
    written = files(head)
    assert "/etc/relval/clouds.yaml" not in written
    assert "aws_secret_access_key = aws-secret-value" in written["/etc/relval/aws-credentials"]["content"]
    config = parse_daemon_config(yaml.safe_load(written["/etc/relval/autoscaler.yaml"]["content"]))
    assert config.scaler.driver == "ec2" and config.ec2.image_id == "ami-1"
    assert "boto3" in written["/usr/local/sbin/relval-autoscaler-install"]["content"]


def test_bundle_is_reproducible_and_runs_on_its_own(tmp_path):
    first, second = bundle_daemon(), bundle_daemon()
    assert first == second
    pyz = tmp_path / "relval-autoscaler.pyz"
    pyz.write_bytes(first)
    (tmp_path / "bad.yaml").write_text("stack: s\n")
    result = subprocess.run([sys.executable, str(pyz), "--config", str(tmp_path / "bad.yaml")],
                            capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert result.returncode == 2, result.stderr
    assert "openstack is required" in result.stderr and "Traceback" not in result.stderr
    import zipfile

    names = zipfile.ZipFile(pyz).namelist()
    assert "relval/autoscaler/daemon.py" in names and not any("sim" in n for n in names)


def test_daemon_requirements_match_the_pinned_requirements():
    pins = {line.split("==")[0].lower(): line.strip() for line in
            (REPO / "requirements.txt").read_text().splitlines() if "==" in line}
    for requirement in DAEMON_REQUIREMENTS + EC2_REQUIREMENTS:
        assert pins[requirement.split("==")[0].lower()] == requirement


def test_credentials_in_clear_text_are_refused(tmp_path):
    from relval.infra.config_source import from_stack_file

    def stack_file(secret_value) -> Path:
        path = tmp_path / "Pulumi.s.yaml"
        config = {f"relval:{k}": v for k, v in stack().items() if k != "autoscaler"}
        config["relval:autoscaler"] = {"authUrl": "https://k/v3", "applicationCredentialId": "ac-1",
                                       "applicationCredentialSecret": secret_value}
        path.write_text(yaml.safe_dump({"config": config}))
        return path

    raw = from_stack_file(stack_file("plain-text-secret"))
    with pytest.raises(RelvalError) as caught:
        parse_stack_config(raw.values, raw.secret_keys)
    assert caught.value.problems == [
        "relval:autoscaler.applicationCredentialSecret must be stored as a Pulumi secret: pulumi "
        "config set --secret --path 'relval:autoscaler.applicationCredentialSecret' VALUE"]
    encrypted = from_stack_file(stack_file({"secure": "v1:AAAAencrypted"}))
    assert "autoscaler" in encrypted.secret_keys
    cfg = parse_stack_config(encrypted.values, encrypted.secret_keys)
    assert cfg.autoscaler.credential_secret == "[secret]"


def test_the_scaler_boots_workers_with_the_worker_volumes():
    raw = stack(**SCALER)
    raw["volumes"] = [{"name": "scratch", "sizeGb": 50, "mountPoint": "/scratch", "role": "worker",
                       "volumeType": "ssd"}]
    head = yaml.safe_load(user_data_of(make_plan(raw, stack="rv-vol"), "head"))
    written = files(head)
    config = parse_daemon_config(yaml.safe_load(written["/etc/relval/autoscaler.yaml"]["content"]))
    assert [(v.name, v.size_gb, v.volume_type) for v in config.openstack.volumes] == [("scratch", 50, "ssd")]
    worker = written["/etc/relval/worker-user-data"]["content"]
    assert "tag:relval-scratch=/scratch" in worker
