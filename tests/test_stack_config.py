"""The typed stack config: valid input, and one exact message per bad value."""

from __future__ import annotations

import copy

import pytest

from relval.errors import RelvalError
from relval.infra.config import KEYS, REQUIRED, StackConfig, Workers, parse_stack_config

from .conftest import BASE_CONFIG, VALID_KEY


def with_changes(**changes) -> dict:
    raw = copy.deepcopy(BASE_CONFIG)
    for key, value in changes.items():
        if value is None:
            raw.pop(key, None)
        else:
            raw[key] = value
    return raw


def problems_of(raw: dict) -> list[str]:
    with pytest.raises(RelvalError) as caught:
        parse_stack_config(raw)
    return caught.value.problems


def test_valid_config_parses_to_typed_values():
    cfg = parse_stack_config(with_changes(
        volumes=[{"name": "spool", "sizeGb": 200, "mountPoint": "/data/", "role": "head",
                  "volumeType": "io1"}],
        floatingIpPool="public"))
    assert isinstance(cfg, StackConfig)
    assert cfg.workers == Workers(initial=3, min=1, max=20)
    assert cfg.volumes[0].mount_point == "/data"
    assert cfg.volumes[0].size_gb == 200 and cfg.volumes[0].volume_type == "io1"
    assert cfg.floating_ip_pool == "public"
    assert cfg.server_group_policy == "soft-anti-affinity"
    assert cfg.ssh_allowed_cidrs == ("137.138.0.0/16",)


def test_pulumi_string_encodings_are_accepted():
    # The engine hands numbers and booleans over as strings.
    cfg = parse_stack_config(with_changes(
        workers={"initial": "2", "min": "0", "max": "4.0"}, allowSshFromAnywhere="true",
        sshAllowedCidrs=["0.0.0.0/0"]))
    assert cfg.workers == Workers(initial=2, min=0, max=4)
    assert cfg.allow_ssh_from_anywhere and cfg.ssh_allowed_cidrs == ("0.0.0.0/0",)


def test_defaults_match_the_key_table():
    cfg = parse_stack_config(with_changes(sshAllowedCidrs=None, workers=None))
    assert cfg.ssh_allowed_cidrs == tuple(KEYS["sshAllowedCidrs"])
    assert cfg.workers == Workers(**KEYS["workers"])
    assert cfg.ssh_user == KEYS["sshUser"]
    assert cfg.server_group_policy == KEYS["serverGroupPolicy"]


BAD_CONFIGS = [
    ("missing release", dict(release=None), "relval:release is required"),
    ("empty image", dict(image=""), "relval:image must not be empty"),
    ("invalid CIDR", dict(sshAllowedCidrs=["10.0.0.300/24"]),
     "relval:sshAllowedCidrs[0] is not a valid CIDR (got '10.0.0.300/24')"),
    ("host bits set", dict(sshAllowedCidrs=["10.1.2.3/16"]),
     "relval:sshAllowedCidrs[0] has host bits set (got '10.1.2.3/16'; did you mean '10.1.0.0/16'?)"),
    ("world open v4", dict(sshAllowedCidrs=["137.138.0.0/16", "0.0.0.0/0"]),
     "relval:sshAllowedCidrs[1] opens SSH to the whole internet (0.0.0.0/0); "
     "set relval:allowSshFromAnywhere: true if you really mean it"),
    ("world open v6", dict(sshAllowedCidrs=["::/0"]),
     "relval:sshAllowedCidrs[0] opens SSH to the whole internet (::/0); "
     "set relval:allowSshFromAnywhere: true if you really mean it"),
    ("duplicate CIDR", dict(sshAllowedCidrs=["10.0.0.0/8", "10.0.0.0/8"]),
     "relval:sshAllowedCidrs[1] repeats 10.0.0.0/8 (OpenStack rejects duplicate rules)"),
    ("CIDRs not a list", dict(sshAllowedCidrs="10.0.0.0/8"),
     "relval:sshAllowedCidrs must be a list (got a string)"),
    ("key and keypair", dict(keypair="ops"),
     "relval:sshPublicKey and relval:keypair are exclusive: give exactly one"),
    ("neither key nor keypair", dict(sshPublicKey=None),
     "relval:sshPublicKey or relval:keypair is required: give exactly one"),
    ("malformed public key", dict(sshPublicKey="AAAA-not-a-key"),
     "relval:sshPublicKey must be an OpenSSH public key ('ssh-ed25519 AAAA... comment')"),
    ("key body of another type", dict(sshPublicKey="ssh-rsa " + VALID_KEY.split()[1]),
     "relval:sshPublicKey has a key body that does not match its type 'ssh-rsa'"),
    ("min above initial", dict(workers={"initial": 2, "min": 5, "max": 10}),
     "relval:workers.min must be <= relval:workers.initial (got 5 > 2)"),
    ("initial above max", dict(workers={"initial": 30, "min": 1, "max": 20}),
     "relval:workers.initial must be <= relval:workers.max (got 30 > 20)"),
    ("max zero", dict(workers={"initial": 0, "min": 0, "max": 0}),
     "relval:workers.max must be >= 1 (got 0)"),
    ("negative min", dict(workers={"initial": 1, "min": -1, "max": 3}),
     "relval:workers.min must be >= 0 (got -1)"),
    ("non-numeric initial", dict(workers={"initial": "two", "min": 1, "max": 3}),
     "relval:workers.initial must be a whole number (got 'two')"),
    ("workers not a mapping", dict(workers="3"), "relval:workers must be a mapping (got a string)"),
    ("unknown workers key", dict(workers={"initial": 1, "min": 1, "max": 3, "maximum": 4}),
     "relval:workers.maximum is not a known key (did you mean 'max'?)"),
    ("negative volume size", dict(volumes=[{"name": "v", "sizeGb": -5, "mountPoint": "/data",
                                            "role": "head"}]),
     "relval:volumes[0].sizeGb must be >= 1 (got -5)"),
    ("unknown volume role", dict(volumes=[{"name": "v", "sizeGb": 5, "mountPoint": "/data",
                                           "role": "gpu"}]),
     "relval:volumes[0].role must be one of head, worker (got 'gpu')"),
    ("relative mount point", dict(volumes=[{"name": "v", "sizeGb": 5, "mountPoint": "data",
                                            "role": "head"}]),
     "relval:volumes[0].mountPoint must be an absolute path without '..' (got 'data')"),
    ("system mount point", dict(volumes=[{"name": "v", "sizeGb": 5, "mountPoint": "/usr",
                                          "role": "worker"}]),
     "relval:volumes[0].mountPoint must not be a system directory (got '/usr')"),
    ("duplicate volume name", dict(volumes=[
        {"name": "v", "sizeGb": 5, "mountPoint": "/a", "role": "head"},
        {"name": "v", "sizeGb": 5, "mountPoint": "/b", "role": "head"}]),
     "relval:volumes[1].name repeats volume name 'v'"),
    ("missing volume size", dict(volumes=[{"name": "v", "mountPoint": "/a", "role": "head"}]),
     "relval:volumes[0].sizeGb is required"),
    ("unknown volume key", dict(volumes=[{"name": "v", "sizeGb": 5, "mountPoint": "/a",
                                          "role": "head", "size": 5}]),
     "relval:volumes[0].size is not a known key (did you mean 'sizeGb'?)"),
    ("bad server group policy", dict(serverGroupPolicy="spread"),
     "relval:serverGroupPolicy must be one of affinity, anti-affinity, soft-affinity, "
     "soft-anti-affinity (got 'spread')"),
    ("unknown top-level key", dict(workerflavor="m2.small"),
     "relval:workerflavor is not a known key (did you mean 'workerFlavor'?)"),
    ("release too long", dict(release="x" * 300),
     "relval:release must be at most 255 characters (Nova metadata limit; got 300)"),
    ("bad ssh user", dict(sshUser="Root User"),
     "relval:sshUser must be a valid Linux user name (got 'Root User')"),
    ("flavor not a string", dict(headFlavor=4), "relval:headFlavor must be a string (got a number)"),
]


@pytest.mark.parametrize("changes,expected", [(c, e) for _, c, e in BAD_CONFIGS],
                         ids=[name for name, _, _ in BAD_CONFIGS])
def test_bad_config_names_the_key(changes, expected):
    assert expected in problems_of(with_changes(**changes))


def test_every_problem_is_reported_at_once():
    problems = problems_of(with_changes(
        release=None, sshAllowedCidrs=["bogus"], workers={"initial": 2, "min": 5, "max": 10},
        volumes=[{"name": "v", "sizeGb": 0, "mountPoint": "/data", "role": "gpu"}]))
    assert problems == [
        "relval:release is required",
        "relval:sshAllowedCidrs[0] is not a valid CIDR (got 'bogus')",
        "relval:workers.min must be <= relval:workers.initial (got 5 > 2)",
        "relval:volumes[0].sizeGb must be >= 1 (got 0)",
        "relval:volumes[0].role must be one of head, worker (got 'gpu')",
    ]


def test_world_ssh_needs_the_explicit_override():
    cfg = parse_stack_config(with_changes(sshAllowedCidrs=["0.0.0.0/0"], allowSshFromAnywhere=True))
    assert cfg.ssh_allowed_cidrs == ("0.0.0.0/0",)


def test_required_keys_are_the_documented_ones():
    required = {k for k, v in KEYS.items() if v == REQUIRED}
    raw = {k: v for k, v in BASE_CONFIG.items() if k not in required}
    messages = problems_of(raw)
    assert {m.split()[0] for m in messages if m.endswith("is required")} == {
        f"relval:{k}" for k in required}


# --- layering: contextualization does not depend on the Pulumi program ---------------------

def _imports_of(folder: str) -> dict[str, set[str]]:
    import ast
    from pathlib import Path

    found: dict[str, set[str]] = {}
    for path in (Path(__file__).resolve().parent.parent / folder).rglob("*.py"):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module)
        found[str(path)] = names
    return found


@pytest.mark.parametrize("folder, forbidden", [
    ("cloudinit", ("relval.infra", "pulumi")),
    ("relval/stackconfig", ("relval.infra", "relval.cloudinit", "pulumi")),
])
def test_layering_cloudinit_and_the_model_import_nothing_from_infra(folder, forbidden):
    offenders = {path: sorted(n for n in names if n.split(".")[0] in forbidden
                              or any(n == f or n.startswith(f + ".") for f in forbidden))
                 for path, names in _imports_of(folder).items()}
    assert _imports_of(folder), f"no modules found under {folder}"
    assert not {p: n for p, n in offenders.items() if n}


def test_rendering_loads_no_pulumi_module():
    import subprocess
    import sys

    probe = ("import sys, relval.cloudinit, relval.stackconfig; "
             "print(sorted(m for m in sys.modules if m.startswith(('relval.infra', 'pulumi'))))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_old_import_path_still_works():
    from relval.infra import config as old
    from relval import stackconfig

    assert old.parse_stack_config is stackconfig.parse_stack_config
    assert old.StackConfig is stackconfig.StackConfig


# --- image families and what they can run -----------------------------------------------------

@pytest.mark.parametrize("family", ["cernvm", "cernvm4"])
def test_el7_cernvm_families_are_refused_with_the_reason(family):
    [problem] = problems_of(with_changes(imageFamily=family))
    assert problem.startswith(f"relval:imageFamily '{family}' ")
    assert "EL7" in problem and "HTCondor >= 9" in problem and "cernvm5 or el9" in problem


def test_a_cernvm4_image_is_refused():
    [problem] = problems_of(with_changes(image="cernvm4-micro-2020.07-1"))
    assert problem.startswith("relval:image names a CernVM 4 image") and "EL7" in problem


def test_cernvm5_cannot_mount_eos_with_fuse():
    assert problems_of(with_changes(eos={"mode": "fuse"})) == [
        "relval:eos.mode fuse needs relval:imageFamily el9: relval installs eos-fusex only on "
        "el9, and CernVM 5 does not ship it"]
    assert parse_stack_config(with_changes(eos={"mode": "fuse"}, imageFamily="el9")).eos.mode == "fuse"


def test_families_are_named_for_what_they_are():
    assert parse_stack_config(with_changes()).image_family == "cernvm5"
    assert parse_stack_config(with_changes(imageFamily="el9")).image_family == "el9"
    assert problems_of(with_changes(imageFamily="centos7")) == [
        "relval:imageFamily must be one of cernvm5, el9 (got 'centos7')"]


def test_condor_defaults_to_the_lts_series():
    assert parse_stack_config(with_changes()).condor.channel == "24.0"


SHA = "0" * 63 + "1"


def test_makeflow_release_is_url_and_checksum():
    cfg = parse_stack_config(with_changes(makeflow={
        "url": "https://example.org/cctools-7.15.0-x86_64-almalinux9.tar.gz", "sha256": SHA}))
    assert cfg.makeflow.sha256 == SHA and cfg.makeflow.url.endswith("almalinux9.tar.gz")
    assert cfg.makeflow.build is False
    assert problems_of(with_changes(makeflow={"url": "http://x/c.tar.gz", "sha256": "abc"})) == [
        "relval:makeflow.url must be an https URL of a .tar.gz CCTools release (got 'http://x/c.tar.gz')",
        "relval:makeflow.sha256 must be the release's sha256: 64 lowercase hex digits"]
    assert problems_of(with_changes(makeflow={"url": "https://x/c.tar.gz"})) == [
        "relval:makeflow.sha256 is required"]


def test_makeflow_defaults_to_a_checked_cctools_source_release_and_can_be_turned_off():
    """Before: no default, so a stack made from the template had no makeflow on its head."""
    from relval.stackconfig.nodes import DEFAULT_MAKEFLOW

    default = parse_stack_config(with_changes()).makeflow
    assert default == DEFAULT_MAKEFLOW and default.build
    assert default.url.endswith("/release/7.14.2.tar.gz") and len(default.sha256) == 64
    assert parse_stack_config(with_changes(makeflow=False)).makeflow is None
    built = parse_stack_config(with_changes(makeflow={
        "url": "https://example.org/cctools-7.15.0.tar.gz", "sha256": SHA, "build": True})).makeflow
    assert built.build
    assert problems_of(with_changes(makeflow={"url": "https://x/c.tar.gz", "sha256": SHA,
                                              "build": "yes"}))[0].startswith("relval:makeflow.build")


def test_volume_zone_is_separate_from_the_instance_zone():
    cfg = parse_stack_config(with_changes(availabilityZone="cern-geneva-a",
                                          volumeAvailabilityZone="nova"))
    assert (cfg.availability_zone, cfg.volume_availability_zone) == ("cern-geneva-a", "nova")
    assert parse_stack_config(with_changes(availabilityZone="a")).volume_availability_zone is None
