"""relval's user-data booted with real cloud-init in a qemu VM (Debian image, stand-ins for
HTCondor, CVMFS and makeflow that record their calls), checked from the host.

The image family's package steps need the network; the guest has none, so they are left
out, and `test_only_the_family_package_steps_are_left_out` shows nothing else is.
"""

from __future__ import annotations

import copy
import secrets
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import yaml

from relval.cloudinit import HostKey, NodeFacts
from relval.cloudinit import fragments
from relval.cloudinit.render import document, to_text
from relval.stackconfig import parse_stack_config

from .conftest import BASE_CONFIG
from .node_boot_support import Disk, NoVm, Vm, boot_image, missing_tools

STACK = "boot"
HEAD_ADDRESS = "10.0.2.15"     # qemu's user-mode network gives every guest this address
VOLUMES = [{"name": "spool", "sizeGb": 1, "mountPoint": "/data", "role": "head"},
           {"name": "scratch", "sizeGb": 1, "mountPoint": "/scratch", "role": "worker"}]
AUTOSCALER = {"enabled": True, "authUrl": "https://keystone.example/v3",
              "applicationCredentialId": "boot-test-credential",
              "applicationCredentialSecret": "boot-test-secret"}
MAKEFLOW = {"url": "https://example.org/cctools-7.15.0-x86_64-almalinux9.tar.gz",
            "sha256": "ab" * 32}


def stack_config(**changes):
    raw = copy.deepcopy(BASE_CONFIG)
    raw.update(imageFamily="el9", volumes=VOLUMES, **changes)
    return parse_stack_config(raw)


# --- what the boot leaves out (no VM needed) ----------------------------------------------

def _entries(doc: dict) -> set[str]:
    """Every list item and mapping entry of a cloud-config, as comparable strings."""
    found = set()
    for key, value in doc.items():
        items = value if isinstance(value, list) else (
            value.items() if isinstance(value, dict) else [value])
        found.update(f"{key}: {yaml.safe_dump(item, sort_keys=True)}" for item in items)
    return found


@pytest.mark.parametrize("role", ["head", "worker"])
@pytest.mark.parametrize("changes", [{}, {"makeflow": MAKEFLOW, "eos": {"mode": "fuse"}}])
def test_only_the_family_package_steps_are_left_out(role, changes):
    cfg = stack_config(**changes)
    facts = NodeFacts(stack=STACK, head_address=HEAD_ADDRESS, signing_key="k" * 64,
                      volume_ids={"spool": str(uuid.uuid4()), "scratch": str(uuid.uuid4())})
    full, booted = document(role, cfg, facts), document(role, cfg, facts, offline=True)
    family = fragments.merge([fragments.family_packages(role, cfg),
                              fragments.makeflow_install(role, cfg)])
    assert family, "el9 has package steps to leave out"
    assert _entries(full) - _entries(booted) == _entries(family)
    assert _entries(booted) <= _entries(full)


# --- the boot --------------------------------------------------------------------------------

def ssh_keypair(folder: Path, name: str) -> tuple[Path, str, str]:
    path = folder / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(path)],
                   check=True)
    return path, path.read_text(), (folder / f"{name}.pub").read_text().strip()


@pytest.fixture(scope="module")
def image():
    if shutil.which("qemu-system-x86_64") is None:
        pytest.skip("qemu cannot start: qemu-system-x86_64 is not installed (make setup installs it)")
    missing = missing_tools()
    assert not missing, f"missing tools for the boot image: {missing} (make setup installs them)"
    return boot_image()


class Cluster:
    """Keys, facts and rendered user-data of one boot-test stack."""

    def __init__(self, folder: Path):
        from relval.infra.autoscaler_install import autoscaler_facts

        self.folder = folder
        self.login_key, _, login_public = ssh_keypair(folder, "login")
        _, host_private, host_public = ssh_keypair(folder, "host")
        self.host_public = host_public
        self.cfg = stack_config(autoscaler=AUTOSCALER)
        self.volume_ids = {"spool": str(uuid.uuid4()), "scratch": str(uuid.uuid4())}
        base = dict(stack=STACK, head_address=HEAD_ADDRESS, signing_key=secrets.token_hex(32),
                    ssh_authorized_keys=(login_public,))
        worker_doc = document("worker", self.cfg, NodeFacts(**base, attach_volumes=False))
        scaler = autoscaler_facts(self.cfg, STACK, to_text(worker_doc), str(uuid.uuid4()),
                                  "boot-key", "boot-test-credential", "boot-test-secret",
                                  str(uuid.uuid4()), str(uuid.uuid4()))
        self.facts = {
            "head": NodeFacts(**base, host_key=HostKey(host_private, host_public),
                              volume_ids=self.volume_ids, autoscaler=scaler),
            "worker": NodeFacts(**base, volume_ids=self.volume_ids),
        }

    def document(self, role: str) -> dict:
        return document(role, self.cfg, self.facts[role], offline=True)

    def vm(self, image: Path, role: str, doc: dict, name: str | None = None) -> Vm:
        volume = self.cfg.volumes_for(role)[0].name
        # Nova gives a Cinder volume's first 20 characters as the virtio serial.
        disks = [Disk(serial=self.volume_ids[volume][:20])]
        vm = Vm(image=image, workdir=self.folder / (name or role), user_data=to_text(doc),
                instance_id=str(uuid.uuid4()), hostname=f"{STACK}-{name or role}", disks=disks,
                memory_mb=1536 if role == "head" else 768, key=self.login_key,
                cpus=2 if role == "head" else 1)
        try:
            vm.start()
        except NoVm as reason:
            pytest.skip(f"qemu cannot start: {reason}")
        return vm


def standin_calls(vm: Vm) -> list[dict]:
    text = vm.ssh("sudo cat /var/log/relval-standins.log", check=False).stdout
    calls = []
    for line in text.splitlines():
        stamp, name, token, args = line.split(" ", 3)
        calls.append({"at": float(stamp), "name": name, "token": token.split("=")[1],
                      "args": args.removeprefix("args=")})
    return calls


def token_before_condor(vm: Vm) -> list[str]:
    """The pool token exists before any condor start (the stand-in master records it)."""
    calls = standin_calls(vm)
    masters = [c for c in calls if c["name"] == "condor_master"]
    minted = [c for c in calls if c["name"] == "condor_token_create"]
    problems = []
    if not masters:
        problems.append("condor never started")
    if not minted:
        problems.append("no token was minted")
    for master in masters:
        if master["token"] != "present":
            problems.append(f"condor started at {master['at']:.3f} before the token existed")
    if masters and minted and minted[0]["at"] > masters[0]["at"]:
        problems.append("condor_token_create ran after condor started")
    return problems


def check_common(vm: Vm, doc: dict, result: dict) -> list[str]:
    problems = [f"cloud-init error: {e}" for e in result.get("errors", [])]
    # Every file relval writes carries its mode and owner.
    for entry in doc["write_files"]:
        stat = vm.ssh(f"sudo stat -c '%a %U:%G' {entry['path']}", check=False).stdout.strip()
        want = f"{int(entry['permissions'], 8):o} {entry['owner']}"
        if stat != want:
            problems.append(f"{entry['path']}: {stat or 'missing'}, expected {want}")
    # Password and root logins are refused; the login user's key works (it ran the above).
    sshd = vm.ssh("sudo sshd -T", check=False).stdout.lower().splitlines()
    if "passwordauthentication no" not in sshd:
        problems.append("sshd accepts passwords")
    root = vm.ssh("true", check=False, user="root")
    if root.returncode == 0:
        problems.append("root can log in")
    password = subprocess.run(
        [*vm.ssh_command(None, "-o", "PubkeyAuthentication=no",
                         "-o", "PreferredAuthentications=password,keyboard-interactive"), "true"],
        capture_output=True, text=True, timeout=60)
    if password.returncode == 0 or "publickey" not in password.stderr:
        problems.append(f"password login not refused: {password.stderr.strip()}")
    # The metadata guard's rule is loaded.
    rules = vm.ssh("sudo iptables -S OUTPUT", check=False).stdout
    if "-d 169.254.169.254/32 -m owner ! --uid-owner 0 -j REJECT" not in rules:
        problems.append(f"no metadata guard rule: {rules}")
    problems += token_before_condor(vm)
    return problems


def volume_problems(vm: Vm, mount: str, serial: str) -> list[str]:
    found = vm.ssh(f"findmnt -n -o SOURCE,FSTYPE {mount}", check=False).stdout.split()
    device = vm.ssh(f"readlink -f /dev/disk/by-id/virtio-{serial}", check=False).stdout.strip()
    if found != [device, "ext4"]:
        return [f"{mount} is {found}, expected the ext4 volume {device} (serial {serial})"]
    return []


def guard_failure_blocks_condor(vm: Vm) -> list[str]:
    """With no usable firewall tool the guard fails, and condor must not start."""
    tools = "/usr/sbin/xtables-nft-multi /usr/sbin/xtables-legacy-multi /usr/sbin/nft"
    before = len([c for c in standin_calls(vm) if c["name"] == "condor_master"])
    vm.ssh(f"sudo systemctl stop condor && sudo chmod a-x {tools}")
    start = vm.ssh("sudo systemctl start condor", check=False)
    active = vm.ssh("sudo systemctl is-active condor", check=False).stdout.strip()
    after = len([c for c in standin_calls(vm) if c["name"] == "condor_master"])
    restart = vm.ssh(f"sudo chmod a+x {tools} && sudo systemctl reset-failed condor; "
                     "sudo systemctl start condor", check=False)
    problems = []
    if start.returncode == 0 or active in ("active", "activating") or after != before:
        problems.append(f"condor started although the guard failed ({active}, "
                        f"{after - before} new master starts)")
    deadline = time.monotonic() + 120   # systemctl may return while it is still activating
    while (vm.ssh("sudo systemctl is-active condor", check=False).stdout.strip() != "active"
           and time.monotonic() < deadline):
        time.sleep(3)
    if vm.ssh("sudo systemctl is-active condor", check=False).stdout.strip() != "active":
        status = vm.ssh("sudo systemctl status condor --no-pager -l; sudo journalctl -u condor "
                        "--no-pager -n 20", check=False).stdout
        problems.append(f"condor does not start again once the guard works: {restart.stderr} "
                        f"{status}")
    return problems


def planted_ordering_defect(worker_doc: dict) -> dict:
    """condor started before relval-condor-init mints the token."""
    doc = copy.deepcopy(worker_doc)
    doc["runcmd"].insert(0, ["systemctl", "start", "condor"])
    return doc


@pytest.fixture(scope="module")
def booted(image, tmp_path_factory):
    cluster = Cluster(tmp_path_factory.mktemp("boot"))
    docs = {role: cluster.document(role) for role in ("head", "worker")}
    docs["planted"] = planted_ordering_defect(docs["worker"])
    # All three at once: under software emulation each boot takes minutes.
    vms = {name: cluster.vm(image, "head" if name == "head" else "worker", docs[name], name=name)
           for name in docs}
    try:
        results = {name: vm.wait_for_cloud_init() for name, vm in vms.items()}
        for role, vm in vms.items():
            print(f"{role} booted and contextualized in {vm.boot_seconds:.1f} s ({vm.accel}) "
                  f"(image built in {(image / 'build-seconds').read_text().strip()} s)")
        yield cluster, docs, vms, results
    finally:
        for vm in vms.values():
            vm.stop()


@pytest.mark.slow
def test_head_boots_with_its_user_data(booted):
    cluster, docs, vms, results = booted
    vm, doc = vms["head"], docs["head"]
    problems = check_common(vm, doc, results["head"])
    scan = subprocess.run(["ssh-keyscan", "-p", str(vm.port), "-t", "ed25519", "127.0.0.1"],
                          capture_output=True, text=True, timeout=60).stdout.split()
    if scan[1:3] != cluster.host_public.split()[:2]:
        problems.append(f"host key {scan[1:3]} is not headHostPublicKey")
    problems += volume_problems(vm, "/data", cluster.volume_ids["spool"][:20])
    link = vm.ssh("readlink ~/relval; stat -c %U /data/relval", check=False).stdout.split()
    if link != ["/data/relval", "relval"]:
        problems.append(f"~/relval is not the campaign user's directory on /data: {link}")
    # The scaler's install ran: its venv imports what it pins, its unit is enabled.
    # (Importing them would take minutes under software emulation; their files suffice.)
    site = "/opt/relval/venv/lib/python3.11/site-packages"
    venv = vm.ssh(f"test -x /opt/relval/venv/bin/python && test -d {site}/openstack && "
                  f"test -d {site}/htcondor2 && test -d {site}/yaml", check=False)
    if venv.returncode != 0:
        problems.append("the scaler's venv lacks its pinned packages")
    enabled = vm.ssh("sudo systemctl is-enabled relval-autoscaler.service", check=False)
    if enabled.stdout.strip() != "enabled":
        problems.append(f"relval-autoscaler.service is not enabled: {enabled.stdout.strip()!r} "
                        f"{enabled.stderr.strip()!r}")
    calls = [(c["name"], c["args"]) for c in standin_calls(vm)]
    if ("cvmfs_config", "setup") not in calls:
        problems.append(f"CVMFS was not set up: {calls}")
    if ("condor_version", "") not in calls:
        problems.append("the HTCondor version was not checked")
    # The node check found makeflow (the stand-in) and reported nothing.
    report = vm.ssh("sudo cat /var/log/relval-node-check.log", check=False).stdout
    if report.strip():
        problems.append(f"the node check reported: {report}")
    problems += guard_failure_blocks_condor(vm)
    assert not problems, "\n".join(problems)


@pytest.mark.slow
def test_worker_boots_with_its_user_data(booted):
    cluster, docs, vms, results = booted
    vm, doc = vms["worker"], docs["worker"]
    problems = check_common(vm, doc, results["worker"])
    problems += volume_problems(vm, "/scratch", cluster.volume_ids["scratch"][:20])
    execute = vm.ssh("stat -c '%U %a' /scratch/condor-execute", check=False).stdout.strip()
    if execute != "condor 755":
        problems.append(f"EXECUTE on the volume: {execute or 'missing'}")
    instance = vm.ssh("cat /etc/condor/config.d/30-relval-instance.conf", check=False).stdout
    if f'RelvalInstanceId = "{vm.instance_id}"' not in instance:
        problems.append(f"RelvalInstanceId not recorded: {instance!r}")
    if "ssh-ed25519" in vm.ssh("cat /etc/ssh/ssh_host_ed25519_key.pub", check=False).stdout and \
            cluster.host_public.split()[1] in vm.ssh("cat /etc/ssh/ssh_host_ed25519_key.pub").stdout:
        problems.append("a worker got the head's host key")
    assert not problems, "\n".join(problems)


@pytest.mark.slow
def test_a_planted_ordering_defect_is_caught(booted):
    """condor started before relval-condor-init mints the token: the check must say so."""
    _, _, vms, _ = booted
    problems = token_before_condor(vms["planted"])
    assert any("before the token existed" in p for p in problems), problems


@pytest.mark.slow
def test_an_upgrade_of_the_scaler_reaches_the_booted_head(booted):
    """`relval up`'s delivery (`scaler_sync`) against a head cloud-init really booted: the
    files it wrote are exactly the stack's `scalerFiles` (nothing differs), and an upgrade
    is written as root through the login user's sudo, systemd reloaded and the unit
    restarted."""
    from dataclasses import replace

    from relval.scaler_sync import sync, wanted_files
    from relval.workflows.remote import HostKey, SshTarget, SshTransport

    cluster, _, vms, _ = booted
    vm = vms["head"]
    files = wanted_files(fragments.scaler_fragment_files(cluster.facts["head"].autoscaler))
    target = SshTarget("127.0.0.1", HostKey.parse(cluster.host_public), user=vm.user,
                       port=vm.port, identity=cluster.login_key, ssh_config=Path("/dev/null"),
                       connect_timeout=30)
    unit = fragments.SCALER_UNIT

    def invocation() -> str:
        return vm.ssh(f"sudo systemctl show -p InvocationID,ActiveState --value {unit}").stdout.strip()

    with SshTransport(target) as ssh:
        assert sync(ssh, files, apply=False).changed == []
        # Stopped by hand, the unit stays stopped (no network here: it would otherwise be
        # restarting on its own every 30 s); only the delivery's restart starts it again.
        vm.ssh(f"sudo systemctl stop {unit}")
        before = invocation()
        upgraded = [replace(f, content=f.content + b"# relval upgrade\n")
                    if f.path.endswith((".yaml", ".service")) else f for f in files]
        report = sync(ssh, upgraded)
        assert sorted(report.changed) == sorted(f.path for f in upgraded
                                                if f.path.endswith((".yaml", ".service")))
        assert report.restarted
        assert sync(ssh, upgraded, apply=False).changed == []
    listing = vm.ssh("sudo stat -c '%U %a' /etc/relval/autoscaler.yaml && "
                     "sudo tail -n 1 /etc/relval/autoscaler.yaml").stdout.split("\n")
    assert listing[:2] == ["root 600", "# relval upgrade"], listing
    assert vm.ssh(f"sudo systemctl show -p NeedDaemonReload --value {unit}").stdout.strip() == "no"
    assert vm.ssh(f"sudo systemctl is-enabled {unit}").stdout.strip() == "enabled"
    deadline = time.monotonic() + 120
    while invocation() in ("", before) and time.monotonic() < deadline:
        time.sleep(2)
    assert invocation() not in ("", before), "the scaler was not restarted"
