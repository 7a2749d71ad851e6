"""The Pulumi program under the mock engine (preview=False) with the real pulumi_openstack SDK."""

from __future__ import annotations

import collections
import ipaddress
import json
import os

import pytest

from relval.infra import provider_schema
from relval.infra.config_source import from_stack_file
from relval.infra.plan import schema_problems

from .conftest import EXAMPLE_STACK, REPO, make_plan

INSTANCE = "openstack:compute/instance:Instance"
RULE = "openstack:networking/secGroupRule:SecGroupRule"
SECGROUP = "openstack:networking/secGroup:SecGroup"
PORT = "openstack:networking/port:Port"
VOLUME = "openstack:blockstorage/volume:Volume"
ATTACH = "openstack:compute/volumeAttach:VolumeAttach"
FIP = "openstack:networking/floatingIp:FloatingIp"
FIP_ASSOC = "openstack:networking/floatingIpAssociate:FloatingIpAssociate"
KEYPAIR = "openstack:compute/keypair:Keypair"
SERVER_GROUP = "openstack:compute/serverGroup:ServerGroup"

VOLUMES = [
    {"name": "spool", "sizeGb": 200, "mountPoint": "/data", "role": "head", "volumeType": "standard"},
    {"name": "scratch", "sizeGb": 50, "mountPoint": "/scratch", "role": "worker"},
]

VARIANTS = {
    "minimal": {},
    "keypair-lookup": {"sshPublicKey": None, "keypair": "alice-ops"},
    "floating-ip": {"floatingIpPool": "public"},
    "volumes": {"volumes": VOLUMES},
    "no-ssh": {"sshAllowedCidrs": []},
    "ipv6-ssh": {"sshAllowedCidrs": ["2001:1458::/32", "137.138.0.0/16"]},
    "zero-workers": {"workers": {"initial": 0, "min": 0, "max": 5}},
    "image-uuid": {"image": "3f1b0c7e-5a8d-4c2b-9e61-2d7a4f0b8c11", "availabilityZone": "cern-geneva-b"},
    "everything": {"floatingIpPool": "public", "volumes": VOLUMES, "keypair": "ops",
                   "sshPublicKey": None, "serverGroupPolicy": "anti-affinity",
                   "workers": {"initial": 5, "min": 2, "max": 50}},
}


def variant(raw_config: dict, name: str) -> dict:
    raw = dict(raw_config)
    for key, value in VARIANTS[name].items():
        if value is None:
            raw.pop(key, None)
        else:
            raw[key] = value
    return raw


def counts(plan) -> collections.Counter:
    return collections.Counter(r.type for r in plan.resources)


@pytest.fixture
def example_plan():
    from relval.infra.config import parse_stack_config
    from relval.infra.plan import plan

    return plan(parse_stack_config(from_stack_file(EXAMPLE_STACK).values), "alice-relval")


# --- provider schema ------------------------------------------------------------------

# `make engine` writes the provider's schema into .tools/pulumi/schema/ (RELVAL_PROVIDER_SCHEMA
# points elsewhere). Without it: skip, saying so, rather than pass vacuously (schema_problems()
# is silent without it); under RELVAL_REQUIRE_ENGINE=1 (CI, `.ci/run`) fail instead.
@pytest.fixture
def schema():
    if not provider_schema.DEFAULT_SCHEMA.is_file():
        if os.environ.get("RELVAL_REQUIRE_ENGINE") == "1":
            pytest.fail(f"{provider_schema.MISSING_HINT}, although RELVAL_REQUIRE_ENGINE=1")
        pytest.skip(provider_schema.MISSING_HINT)
    return provider_schema.load_schema()


needs_schema = pytest.mark.usefixtures("schema")


@needs_schema
def test_provider_schema_is_at_hand():
    # schema_problems() is silent without it; these tests must not pass vacuously.
    assert provider_schema.DEFAULT_SCHEMA.is_file(), provider_schema.DEFAULT_SCHEMA
    assert "openstack:compute/instance:Instance" in provider_schema.load_schema()["resources"]


@needs_schema
@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_every_resource_matches_the_provider_schema(raw_config, name):
    plan = make_plan(variant(raw_config, name))
    assert any(r.type.startswith("openstack:") for r in plan.resources)
    assert schema_problems(plan) == []


@needs_schema
def test_example_stack_matches_the_provider_schema(example_plan):
    # The example runs the elastic scaler: it boots every worker, Pulumi only the head.
    assert counts(example_plan)[INSTANCE] == 1
    assert schema_problems(example_plan) == []


@needs_schema
def test_schema_check_catches_what_mocks_accept():
    problems = provider_schema.check_resource(INSTANCE, "bad", {
        "flavorName": "m2.large", "userdata": "x", "networks": [{"port": 3, "bogus": True}],
        "metadata": {"a": 1}})
    assert "openstack:compute/instance:Instance 'bad': unknown input 'userdata'" in problems
    assert any("networks[0].port: expected string" in p for p in problems)
    assert any("networks[0].bogus: unknown property" in p for p in problems)
    assert any("metadata.a: expected string" in p for p in problems)
    assert provider_schema.check_resource(RULE, "r", {"direction": "ingress"}) == [
        f"{RULE} 'r': required input 'ethertype' missing",
        f"{RULE} 'r': required input 'securityGroupId' missing"]
    assert provider_schema.check_resource(
        "openstack:compute/nope:Nope", "n", {}) == [
        "openstack:compute/nope:Nope 'n': no such resource type in the provider schema"]


# The schema pulumi-openstack 5.5.x publishes, where this machine keeps a copy (../shared beside
# the main checkout; a worktree sits one level deeper).
PUBLISHED = [p / "shared" / "reference" / "pulumi-openstack-schema.json" for p in (REPO.parent, REPO.parent.parent)]


def test_the_engines_schema_says_what_the_published_one_says_for_every_declared_type(schema):
    published_file = next((p for p in PUBLISHED if p.is_file()), None)
    if published_file is None:
        pytest.skip("no copy of the published pulumi-openstack schema on this machine")
    published = json.loads(published_file.read_text())
    declared = {INSTANCE, RULE, SECGROUP, PORT, VOLUME, "openstack:compute/volumeAttach:VolumeAttach",
                "openstack:compute/keypair:Keypair", "openstack:compute/serverGroup:ServerGroup",
                "openstack:networking/floatingIp:FloatingIp",
                "openstack:networking/floatingIpAssociate:FloatingIpAssociate",
                "openstack:identity/applicationCredential:ApplicationCredential"}
    assert declared <= set(schema["resources"])
    for token in declared:
        ours, theirs = schema["resources"][token], published["resources"][token]
        assert set(ours["inputProperties"]) == set(theirs["inputProperties"]), token
        assert set(ours.get("requiredInputs", [])) == set(theirs.get("requiredInputs", [])), token
        for name, spec in ours["inputProperties"].items():
            kind = {k: spec.get(k) for k in ("type", "$ref", "items", "additionalProperties")}
            assert kind == {k: theirs["inputProperties"][name].get(k) for k in kind}, (token, name)
    for name, spec in schema["types"].items():
        if name in published["types"]:
            assert set(spec.get("properties", {})) == set(published["types"][name].get("properties", {}))


# --- resource counts ------------------------------------------------------------------

def test_resource_counts_by_type(raw_config):
    plan = make_plan(variant(raw_config, "everything"))
    c = counts(plan)
    assert c[INSTANCE] == 6            # head + 5 initial workers
    assert c[PORT] == 6                # one port per instance
    assert c[SECGROUP] == 1
    assert c[RULE] == 2 + 1            # condor, icmp, one SSH CIDR
    assert c[KEYPAIR] == 0             # existing keypair is looked up, not created
    assert c[SERVER_GROUP] == 1
    assert c[VOLUME] == 1 + 5 and c[ATTACH] == 6
    assert c[FIP] == 1 and c[FIP_ASSOC] == 1


def test_components_parent_their_children(raw_config):
    plan = make_plan(raw_config)
    by_name = {r.name: r for r in plan.resources}
    for resource in plan.resources:
        if resource.type.startswith("openstack:"):
            parent = by_name[resource.parent]
            assert parent.type.startswith("relval:infra:"), resource.name
    assert {r.type for r in plan.resources if not r.custom} >= {
        "relval:infra:Cluster", "relval:infra:Security", "relval:infra:HeadNode",
        "relval:infra:WorkerPool"}


# --- security group invariants -------------------------------------------------------------

def rules(plan):
    return [r.inputs for r in plan.of_type(RULE)]


def test_condor_port_only_from_the_group(raw_config):
    plan = make_plan(raw_config)
    group_id = plan.outputs["securityGroupId"]
    condor = [r for r in rules(plan) if r.get("portRangeMin") == 9618]
    assert len(condor) == 1
    assert condor[0]["remoteGroupId"] == group_id
    assert condor[0]["securityGroupId"] == group_id
    assert "remoteIpPrefix" not in condor[0]
    assert condor[0]["protocol"] == "tcp" and condor[0]["portRangeMax"] == 9618


def test_icmp_only_inside_the_group(raw_config):
    plan = make_plan(raw_config)
    icmp = [r for r in rules(plan) if r["protocol"] == "icmp"]
    assert len(icmp) == 1 and icmp[0]["remoteGroupId"] == plan.outputs["securityGroupId"]


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_nothing_open_to_the_world(raw_config, name):
    plan = make_plan(variant(raw_config, name))
    for rule in rules(plan):
        assert rule["direction"] == "ingress"
        prefix = rule.get("remoteIpPrefix")
        assert prefix or rule.get("remoteGroupId"), rule  # no rule without a source
        if prefix:
            assert ipaddress.ip_network(prefix).prefixlen > 0, rule
            assert rule["portRangeMin"] == rule["portRangeMax"] == 22, rule


def test_ssh_one_rule_per_cidr_with_matching_ethertype(raw_config):
    plan = make_plan(variant(raw_config, "ipv6-ssh"))
    ssh = sorted((r["remoteIpPrefix"], r["ethertype"]) for r in rules(plan) if r.get("remoteIpPrefix"))
    assert ssh == [("137.138.0.0/16", "IPv4"), ("2001:1458::/32", "IPv6")]


def test_no_ssh_rules_by_default(raw_config):
    plan = make_plan(variant(raw_config, "no-ssh"))
    assert [r for r in rules(plan) if r.get("portRangeMin") == 22] == []


def test_every_port_carries_the_group(raw_config):
    plan = make_plan(raw_config)
    for port in plan.of_type(PORT):
        assert port.inputs["securityGroupIds"] == [plan.outputs["securityGroupId"]]


# --- instances ----------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_every_instance_carries_relval_metadata(raw_config, name):
    raw = variant(raw_config, name)
    plan = make_plan(raw, stack="rv-stack")
    roles = collections.Counter()
    for instance in plan.of_type(INSTANCE):
        metadata = instance.inputs["metadata"]
        assert metadata["relval-stack"] == "rv-stack"
        assert metadata["relval-release"] == raw["release"]
        roles[metadata["relval-role"]] += 1
        assert instance.inputs["userData"].startswith("#cloud-config\n")
    assert roles == {"head": 1, "worker": raw["workers"]["initial"]} if raw["workers"]["initial"] \
        else roles == {"head": 1}


def test_workers_use_their_port_and_the_server_group(raw_config):
    plan = make_plan(raw_config)
    group = plan.of_type(SERVER_GROUP)[0]
    assert group.inputs["policies"] == "soft-anti-affinity"
    port_ids = {p.name for p in plan.of_type(PORT)}
    workers = [i for i in plan.of_type(INSTANCE) if i.inputs["metadata"]["relval-role"] == "worker"]
    assert len(workers) == 3
    for worker in workers:
        assert worker.inputs["flavorName"] == raw_config["workerFlavor"]
        assert len(worker.inputs["schedulerHints"]) == 1 and worker.inputs["schedulerHints"][0]["group"]
        assert len(worker.inputs["networks"]) == 1 and "port" in worker.inputs["networks"][0]
    assert len(port_ids) == 4


def test_image_uuid_goes_to_image_id(raw_config):
    plan = make_plan(variant(raw_config, "image-uuid"))
    for instance in plan.of_type(INSTANCE):
        assert instance.inputs["imageId"] == VARIANTS["image-uuid"]["image"]
        assert "imageName" not in instance.inputs
        assert instance.inputs["availabilityZone"] == "cern-geneva-b"


def test_keypair_created_from_public_key(raw_config):
    plan = make_plan(raw_config, stack="s1")
    keypair = plan.of_type(KEYPAIR)[0]
    assert keypair.inputs["publicKey"] == raw_config["sshPublicKey"]
    assert {i.inputs["keyPair"] for i in plan.of_type(INSTANCE)} == {"s1-key"}


def test_existing_keypair_is_used_by_name(raw_config):
    plan = make_plan(variant(raw_config, "keypair-lookup"))
    assert plan.of_type(KEYPAIR) == []
    assert {i.inputs["keyPair"] for i in plan.of_type(INSTANCE)} == {"alice-ops"}


# --- volumes and floating IP: present exactly when configured ------------------------------

def test_no_volumes_or_floating_ip_unless_configured(raw_config):
    plan = make_plan(raw_config)
    assert plan.of_type(VOLUME) == [] and plan.of_type(ATTACH) == []
    assert plan.of_type(FIP) == [] and plan.of_type(FIP_ASSOC) == []
    assert plan.outputs["headAddress"] == plan.outputs["headPrivateAddress"]


def test_volumes_attach_to_their_role(raw_config):
    plan = make_plan(variant(raw_config, "volumes"), stack="st")
    volumes = {v.inputs["name"]: v.inputs for v in plan.of_type(VOLUME)}
    assert set(volumes) == {"st-head-spool", "st-worker-000-scratch", "st-worker-001-scratch",
                            "st-worker-002-scratch"}
    assert volumes["st-head-spool"]["size"] == 200
    assert volumes["st-head-spool"]["volumeType"] == "standard"
    assert volumes["st-worker-000-scratch"]["metadata"]["relval-mount"] == "/scratch"
    attaches = plan.of_type(ATTACH)
    assert len(attaches) == 4
    assert all(a.inputs["instanceId"] and a.inputs["volumeId"] for a in attaches)


def test_floating_ip_is_the_head_address(raw_config):
    plan = make_plan(variant(raw_config, "floating-ip"))
    fip = plan.of_type(FIP)[0]
    assert fip.inputs["pool"] == "public"
    assoc = plan.of_type(FIP_ASSOC)[0]
    assert plan.outputs["headAddress"] == assoc.inputs["floatingIp"]
    assert plan.outputs["headAddress"] != plan.outputs["headPrivateAddress"]
    head_port = plan.named("head-port")
    assert assoc.inputs["portId"]
    assert head_port.inputs["name"].endswith("-head")


# --- outputs ---------------------------------------------------------------------------

def test_outputs(raw_config):
    plan = make_plan(raw_config, stack="rel-1")
    out = plan.outputs
    assert set(out) == {"release", "headName", "headAddress", "headPrivateAddress", "workerNames",
                        "securityGroupId", "stackId", "sshCommand", "headHostPublicKey", "sshUser",
                        "imageId", "headId", "scalerFiles"}
    assert out["sshUser"] == "relval"
    assert out["headHostPublicKey"].startswith("ssh-ed25519 ")
    assert out["release"] == raw_config["release"]
    assert out["headName"] == "rel-1-head"
    assert out["workerNames"] == ["rel-1-worker-000", "rel-1-worker-001", "rel-1-worker-002"]
    ipaddress.ip_address(out["headPrivateAddress"])
    assert out["sshCommand"] == f"ssh relval@{out['headAddress']}"
    names = {i.inputs["name"] for i in plan.of_type(INSTANCE)}
    assert names == {"rel-1-head", *out["workerNames"]}


def test_every_output_is_documented_and_rehearsed(raw_config):
    """`relval rehearse` checks the deployed outputs against this list, the README names them."""
    import re

    from relval.rehearse import DOCUMENTED_OUTPUTS

    outputs = set(make_plan(raw_config, stack="rel-1").outputs)
    assert outputs == DOCUMENTED_OUTPUTS
    readme = (REPO / "README.md").read_text()
    line = readme[readme.index("- Outputs: "):].split("\n\n")[0].split("\n- ")[0]
    assert set(re.findall(r"`(\w+)`", line)) == outputs


def test_plans_are_reproducible(raw_config):
    first, second = make_plan(raw_config).to_json(), make_plan(raw_config).to_json()
    assert first == second


# --- addressing: IPv4 chosen explicitly, one image id, Cinder's own zone ---------------------

def test_dual_stack_picks_the_ipv4_fixed_address(raw_config):
    import yaml

    from relval.infra.config import parse_stack_config
    from relval.infra.plan import OfflineCloud, plan, user_data_of

    cloud = OfflineCloud(ipv6_subnet="2001:db8:42::/64")
    dual = plan(parse_stack_config(raw_config), "ds", cloud)
    ports = dual.of_type(PORT)
    assert ports, "the plan has ports"
    address = ipaddress.ip_address(dual.outputs["headPrivateAddress"])
    assert address.version == 4
    worker = yaml.safe_load(user_data_of(dual, "worker"))
    security = next(f["content"] for f in worker["write_files"]
                    if f["path"].endswith("10-relval-security.conf"))
    assert f"CONDOR_HOST = {address}\n" in security


def test_a_port_without_ipv4_is_a_clear_error():
    from relval.infra.base import first_ipv4

    with pytest.raises(ValueError, match="has no IPv4 fixed address"):
        first_ipv4(["2001:db8::5"], "the head's port")
    assert first_ipv4(["2001:db8::5", "10.1.2.3"], "x") == "10.1.2.3"


def test_image_name_is_resolved_once_and_shared_with_the_scaler(raw_config):
    import yaml

    from relval.infra.plan import user_data_of

    raw = {**raw_config, "autoscaler": {"enabled": True, "authUrl": "https://keystone.example/v3",
                                        "createApplicationCredential": True}}
    plan = make_plan(raw)
    image_id = plan.outputs["imageId"]
    assert image_id != raw["image"] and len(image_id) == 36
    for instance in plan.of_type(INSTANCE):
        assert instance.inputs["imageId"] == image_id
        assert "imageName" not in instance.inputs
    head = yaml.safe_load(user_data_of(plan, "head", show_secrets=True))
    scaler = next(f["content"] for f in head["write_files"]
                  if f["path"] == "/etc/relval/autoscaler.yaml")
    assert yaml.safe_load(scaler)["openstack"]["image"] == image_id


def test_volumes_use_cinders_zone_not_novas(raw_config):
    raw = {**raw_config, "volumes": VOLUMES, "availabilityZone": "cern-geneva-a"}
    plan = make_plan(raw)
    assert {i.inputs["availabilityZone"] for i in plan.of_type(INSTANCE)} == {"cern-geneva-a"}
    assert all("availabilityZone" not in v.inputs for v in plan.of_type(VOLUME))
    plan = make_plan({**raw, "volumeAvailabilityZone": "nova"})
    assert {v.inputs["availabilityZone"] for v in plan.of_type(VOLUME)} == {"nova"}


def test_one_owner_per_worker(raw_config):
    """With the scaler, Pulumi declares no worker (the scaler boots workers.initial first);
    without it, Pulumi's workers are static and the head tells any scaler it is disabled."""
    scaled = dict(variant(raw_config, "everything"), image="ALMA9 - x86_64", imageFamily="el9",
                  autoscaler={"authUrl": "https://keystone.example.org/v3",
                              "createApplicationCredential": True},
                  workers={"initial": 3, "min": 1, "max": 8})
    plan = make_plan(scaled)
    [head] = plan.of_type(INSTANCE)
    assert head.inputs["metadata"]["relval-role"] == "head"
    assert head.inputs["metadata"]["relval-scaler.workers.initial"] == "3"
    assert plan.of_type("openstack:compute/serverGroup:ServerGroup")
    # Worker volumes come with the scaler's boots (block device mapping), not from Pulumi.
    assert all(r.inputs["metadata"]["relval-role"] == "head"
               for r in plan.of_type("openstack:blockstorage/volume:Volume"))
    assert plan.outputs["workerNames"] == []
    static = make_plan(dict(scaled, autoscaler={"enabled": False}))
    workers = [i for i in static.of_type(INSTANCE) if i.inputs["metadata"]["relval-role"] == "worker"]
    assert len(workers) == 3 and all(w.inputs["metadata"]["relval-managed-by"] == "pulumi" for w in workers)
