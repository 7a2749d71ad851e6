"""relval down sweeps the workers the scaler booted on EC2 too (real boto3 against moto)."""

from __future__ import annotations

import boto3
import pytest

from relval.autoscaler.adapters.ec2 import Ec2Cloud
from relval.autoscaler.teardown import Resource, sweep
from relval.errors import RelvalError

from .test_autoscaler_ec2 import ec2  # noqa: F401 - the moto EC2 fixture, shared

MD = {"relval-stack": "alice", "relval-role": "worker", "relval-release": "rel-1"}


def boot(client, stack: str, n: int) -> list[str]:
    cloud = Ec2Cloud(client, stack, "ami-12c6146b", "m5.2xlarge")
    return [cloud.create_worker(f"{stack}-scaled-{i}", {**MD, "relval-stack": stack}) for i in range(n)]


class OpenStackSide:
    """The OpenStack side of a stack, already clean except for one server."""

    def __init__(self):
        self.servers = ["os-head"]

    def list(self, kind):
        return [Resource(kind, s, s) for s in self.servers] if kind == "server" else []

    def delete(self, kind, resource_id):
        self.servers.remove(resource_id)


def test_the_sweep_terminates_this_stacks_ec2_workers_and_only_them(ec2):
    from relval.ec2_sweep import Combined, Ec2StackResources

    ours, theirs = boot(ec2, "alice", 3), boot(ec2, "bob", 1)
    resources = Combined([OpenStackSide(), Ec2StackResources(ec2, "alice")])
    assert sorted(r.id for r in resources.list("server")) == sorted(["os-head", *ours])
    report = sweep(resources, "alice", timeout_s=30, poll_s=0, sleep=lambda s: None)
    assert report.clean, report.to_json()
    assert sorted(report.deleted["server"]) == sorted(["os-head", *ours])
    states = {i["InstanceId"]: i["State"]["Name"] for r in ec2.describe_instances()["Reservations"]
              for i in r["Instances"]}
    assert {states[i] for i in ours} <= {"shutting-down", "terminated"}
    assert states[theirs[0]] == "running"


def test_a_failed_ec2_listing_is_never_clean(ec2):
    from relval.ec2_sweep import Ec2StackResources

    boot(ec2, "alice", 1)
    from botocore.config import Config

    broken = boto3.client("ec2", region_name="eu-west-1", endpoint_url="http://127.0.0.1:9",
                          config=Config(connect_timeout=1, retries={"max_attempts": 1}))
    report = sweep(Ec2StackResources(broken, "alice"), "alice", timeout_s=0, poll_s=0,
                   sleep=lambda s: None)
    assert not report.clean and "server" in report.unlisted


def test_missing_aws_credentials_are_one_line_exit_2(monkeypatch):
    from relval.autoscaler.config import Ec2Settings
    from relval.ec2_sweep import ec2_resources

    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(RelvalError) as caught:
        ec2_resources(Ec2Settings(region="eu-west-1"), "alice").list("server")
    assert caught.value.exit_code == 2 and "EC2 credentials" in str(caught.value)


def test_down_sweeps_ec2_too_when_the_stacks_scaler_uses_it(monkeypatch):
    from dataclasses import replace

    from relval import lifecycle, openstack_sweep
    from relval.autoscaler.config import Ec2Settings
    from relval.ec2_sweep import Combined, Ec2StackResources
    from relval.infra.config import parse_stack_config

    from .conftest import BASE_CONFIG

    cfg = parse_stack_config(BASE_CONFIG)
    monkeypatch.setattr(openstack_sweep, "connect", lambda: object())
    monkeypatch.setattr(lifecycle, "_stack_config", lambda stack: cfg)
    assert not isinstance(lifecycle.openstack_resources("alice"), Combined)  # no scaler: OpenStack only

    from relval.infra.config import Autoscaler

    scaler = parse_stack_config({**BASE_CONFIG, "autoscaler": {
        "authUrl": "https://keystone.example.org/v3", "createApplicationCredential": True}}).autoscaler
    on_ec2 = replace(cfg, autoscaler=replace(scaler, ec2=Ec2Settings(region="eu-west-1")))
    assert isinstance(on_ec2.autoscaler, Autoscaler)
    monkeypatch.setattr(lifecycle, "_stack_config", lambda stack: on_ec2)
    resources = lifecycle.openstack_resources("alice")
    assert isinstance(resources, Combined)
    assert isinstance(resources.parts[1], Ec2StackResources) and resources.parts[1].cloud.stack == "alice"
