"""The EC2 adapter through real boto3 against moto's EC2."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from relval.autoscaler.adapters.ec2 import Ec2Cloud
from relval.autoscaler.model import ACTIVE, GONE
from relval.autoscaler.teardown import teardown

MD = {"relval-stack": "alice", "relval-role": "worker", "relval-release": "rel-1"}


@pytest.fixture
def ec2(monkeypatch):
    for key, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                       ("AWS_DEFAULT_REGION", "eu-west-1")):
        monkeypatch.setenv(key, value)
    with mock_aws():
        client = boto3.client("ec2", region_name="eu-west-1")
        yield client


def cloud_for(client, stack="alice") -> Ec2Cloud:
    # One of moto's built-in AMIs (listing them all costs seconds).
    return Ec2Cloud(client, stack, "ami-12c6146b", "m5.2xlarge", user_data="#cloud-config\n{}\n")


def tagged(client, stack):
    reply = client.describe_instances(Filters=[
        {"Name": "tag:relval-stack", "Values": [stack]},
        {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}])
    return [i for r in reply["Reservations"] for i in r["Instances"]]


def test_boot_tags_on_create_and_lists_by_tag(ec2):
    cloud = cloud_for(ec2)
    ids = [cloud.create_worker(f"alice-worker-{i}", MD) for i in range(3)]
    other = cloud_for(ec2, stack="bob")
    other.create_worker("bob-worker", {**MD, "relval-stack": "bob"})
    workers = cloud.list_workers()
    assert sorted(w.id for w in workers) == sorted(ids)
    w = workers[0]
    assert w.status == ACTIVE and w.owned_by("alice") and w.metadata["relval-release"] == "rel-1"
    assert w.name.startswith("alice-worker-") and w.created_at > 0
    assert cloud.limits().used_instances == 3


def test_worker_size_comes_from_the_instance_type(ec2):
    assert cloud_for(ec2).worker_size() == (8, 32768)


def test_terminate_and_teardown_leave_no_tagged_instance(ec2):
    cloud = cloud_for(ec2)
    ids = [cloud.create_worker(f"w{i}", MD) for i in range(4)]
    cloud.create_worker("head", {**MD, "relval-role": "head"})
    cloud.delete_worker(ids[0])
    cloud.delete_worker(ids[0])                # again: already terminated, no error
    cloud.delete_worker("i-0123456789abcdef0")  # never existed
    assert {w.id: w.status for w in cloud.list_workers()}[ids[0]] == GONE
    report = teardown(cloud, "alice", roles=("worker", "head"), sleep=lambda s: None)
    assert report.clean and len(report.found) == 4
    assert tagged(ec2, "alice") == []
    again = teardown(cloud, "alice", roles=("worker", "head"), sleep=lambda s: None)
    assert again.clean and again.found == [] and again.deleted == []
