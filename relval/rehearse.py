"""`relval rehearse`: a stack's whole lifecycle with the real engine against a simulated cloud.

The same Automation API code as `relval up` and `relval down` runs the real Pulumi CLI,
language host and provider plugins (`make engine`) against `relval.simcloud`, an OpenStack
that lives on loopback. Nothing reaches a real cloud. Steps, in order: preview, up, a second
up that must change nothing, one worker booted through the scaler's own cloud adapter, and
`relval down`. Then the checks: what each instance received is what `relval cloudinit render`
shows (secrets and addresses aside), the outputs are the documented ones, and nothing is left.
"""

from __future__ import annotations

import base64
import gzip
import re
import tempfile
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import yaml

from relval import project
from relval.errors import RelvalError

# The stack outputs the README documents.
DOCUMENTED_OUTPUTS = frozenset({
    "release", "headName", "headAddress", "headPrivateAddress", "workerNames", "securityGroupId",
    "headHostPublicKey", "sshUser", "sshCommand", "stackId", "imageId", "headId", "scalerFiles"})

# What destroy must leave at zero (inventory kinds of relval.simcloud).
LEFTOVER_KINDS = ("servers", "ports", "volumes", "security_groups", "floating_ips", "keypairs",
                  "server_groups", "application_credentials")

PASSPHRASE = "relval-rehearse-throwaway"
# Room for a 100-worker stack plus the scaler's boot; quota refusals are tested elsewhere.
REHEARSAL_QUOTAS = {"instances": 1000, "cores": 100000, "ram": 10**9, "server_group_members": 1000,
                    "volumes": 1000, "gigabytes": 10**7, "port": 10000}
SECRET_STAND_IN = "relval-rehearse-secret"

OnOutput = Callable[[str], None]


@dataclass
class Step:
    name: str
    ok: bool = False
    seconds: float = 0.0
    detail: str = ""
    changes: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "seconds": round(self.seconds, 2),
                "detail": self.detail, "changes": self.changes}


@dataclass
class Rehearsal:
    stack: str
    steps: list[Step] = field(default_factory=list)
    checks: dict[str, str] = field(default_factory=dict)  # name -> "" (passed) or the problem
    resources_by_type: dict[str, int] = field(default_factory=dict)
    inventory_after_up: dict[str, int] = field(default_factory=dict)
    inventory_after_down: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.steps) and not any(self.checks.values())

    def to_json(self) -> dict[str, Any]:
        return {"stack": self.stack, "ok": self.ok, "steps": [s.to_json() for s in self.steps],
                "checks": {k: (v or "ok") for k, v in self.checks.items()},
                "resources_by_type": self.resources_by_type,
                "inventory_after_up": self.inventory_after_up,
                "inventory_after_down": self.inventory_after_down}


# --- what the stack references as already existing --------------------------------------

# Sizes the simulated flavors get: a head-like and a worker-like machine.
FLAVOR_SIZES = ({"vcpus": 4, "ram": 7500, "disk": 40}, {"vcpus": 8, "ram": 15000, "disk": 80})
STAND_IN_PUBLIC_KEY = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE1lvhD3bm4O2xN4yqJ4bZxv9kVn7k9b2XH1c1Y9lWQz "
                       "relval-rehearse")


def seed_spec(document: dict[str, Any]) -> dict[str, Any]:
    """Exactly what the stack file references as already existing, and nothing else. Read
    from the raw file, so that an invalid one meets the same cloud as a valid one."""
    config = document.get("config") or {}

    def value(key: str) -> Any:
        found = config.get(f"relval:{key}")
        return found if isinstance(found, str) and found else None

    flavors = []
    for size, key in zip(FLAVOR_SIZES, ("headFlavor", "workerFlavor")):
        if value(key) and value(key) not in {f["name"] for f in flavors}:
            flavors.append({"name": value(key), **size})
    volumes = config.get("relval:volumes")
    volume_types = sorted({v["volumeType"] for v in volumes if isinstance(v, dict) and v.get("volumeType")}) \
        if isinstance(volumes, list) else []
    spec = {"networks": [value("network")], "images": [value("image")], "flavors": flavors,
            "floating_ip_pools": [value("floatingIpPool")], "volume_types": volume_types,
            "keypairs": [{"name": value("keypair"), "public_key": STAND_IN_PUBLIC_KEY}] if value("keypair") else []}
    return {kind: [e for e in entries if e] for kind, entries in spec.items()}


# --- the throwaway project the engine runs in ---------------------------------------------

def _secret_paths(document: Any, prefix: str = "") -> list[str]:
    """Config paths of `secure:` values (nested ones as key.sub), which need stand-ins."""
    if isinstance(document, dict):
        if set(document) == {"secure"}:
            return [prefix]
        paths = []
        for key, value in document.items():
            paths += _secret_paths(value, f"{prefix}.{key}" if prefix else str(key))
        return paths
    return []


def _strip_secure(document: Any) -> Any:
    if isinstance(document, dict):
        if set(document) == {"secure"}:
            return None
        return {k: v for k, v in ((k, _strip_secure(v)) for k, v in document.items()) if v is not None}
    if isinstance(document, list):
        return [_strip_secure(v) for v in document]
    return document


def prepare_workspace(stack: str, stack_document: dict[str, Any], work: Path) -> tuple[Path, list[str]]:
    """A project directory that runs relval's own program, with the stack file minus its
    encrypted values (another secrets provider encrypted them); returns it and the config
    paths that need secret stand-ins."""
    root = project.project_dir()
    proj = work / "project"
    proj.mkdir(parents=True)
    (proj / "Pulumi.yaml").write_text((root / "Pulumi.yaml").read_text())
    for name in ("infra", "venv"):
        (proj / name).symlink_to(root / name)
    config = dict(stack_document.get("config") or {})
    secrets = _secret_paths(config)
    (proj / f"Pulumi.{stack}.yaml").write_text(
        yaml.safe_dump({"config": _strip_secure(config)}, sort_keys=False))
    return proj, secrets


# --- checks ----------------------------------------------------------------------------------

def decode_user_data(value: str) -> str:
    """Nova's user_data as cloud-init reads it: base64, possibly gzip inside."""
    raw = base64.b64decode(value)
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    return raw.decode()


_ADDRESS = re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}\b")
# Ids the cloud assigns (server group, volumes, application credential): dashed or not.
_CLOUD_ID = re.compile(r"\b[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}\b")

# Resources whose outputs are generated secrets, and the output holding each.
SECRET_OUTPUTS = {"random:index/randomPassword:RandomPassword": "result",
                  "tls:index/privateKey:PrivateKey": "privateKeyOpenssh",
                  "openstack:identity/applicationCredential:ApplicationCredential": "secret"}


def normalise_user_data(text: str, secrets: dict[str, str]) -> str:
    """Masks what legitimately differs between an offline render and a deployment: the
    generated secrets (labelled by resource name, as `relval plan` labels them) and the
    addresses and ids the cloud assigns."""
    from relval.infra.plan import redact

    return _CLOUD_ID.sub("<id>", _ADDRESS.sub("<address>", redact(text, secrets)))


def compare_user_data(received: dict[str, tuple[str, str]], rendered: dict[str, str]) -> str:
    """'' when every instance (name -> (role, text)) got its role's render, else the first
    difference."""
    import difflib

    for name, (role, text) in sorted(received.items()):
        want = rendered[role]
        if text != want:
            diff = list(difflib.unified_diff(want.splitlines(), text.splitlines(), "render", name,
                                             lineterm="", n=0))
            return (f"{name}: user-data differs from `relval cloudinit render --role {role}`: "
                    + " | ".join(diff[2:12]))
    return ""


def created(inventory: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    """What the rehearsal created of `kind` (seeded records left out)."""
    return [r for r in inventory.get(kind, []) if not r.get("seeded")]


def count_inventory(inventory: dict[str, Any]) -> dict[str, int]:
    return dict(sorted(inventory["counts"].items()))


def connect(cloud):
    """An openstacksdk connection to the simulated cloud, as clouds.yaml would give one."""
    import openstack

    return openstack.connect(**cloud.cloud_config())


# --- the run ------------------------------------------------------------------------------

def rehearse(stack: str | None = None, config_file: Path | None = None,
             on_step: Callable[[Step], None] = lambda step: None,
             on_output: OnOutput = lambda line: None) -> Rehearsal:
    """Runs the rehearsal; raises RelvalError (exit 2) on bad input or a missing engine."""
    from relval.infra.config_source import load_stack
    from relval.infra.engine import find_engine

    name, cfg = load_stack(stack, config_file)   # bad input: one line, before anything runs
    find_engine()                                # no engine: "run make engine"
    path = Path(config_file) if config_file else project.stack_file(name)
    document = yaml.safe_load(path.read_text()) or {}

    result = Rehearsal(name)
    with session(name, document) as (workspace, cloud):
        _run_steps(result, name, cfg, workspace, cloud, on_step, on_output)
    return result


@contextmanager
def session(stack: str, document: dict[str, Any]) -> Iterator[tuple[Any, Any]]:
    """A seeded simulated cloud, and an engine workspace with a throwaway local backend
    whose stack `stack` holds the stack file's config (secrets replaced by stand-ins)."""
    from relval.infra import automation
    from relval.simcloud import start_server

    # The stack's zone exists in the simulated Nova and Cinder alike (real clouds often
    # name their Cinder zones differently: relval:availabilityZone is used for both).
    zone = (document.get("config") or {}).get("relval:availabilityZone")
    zones = ("nova", zone) if isinstance(zone, str) and zone else ("nova",)
    with tempfile.TemporaryDirectory(prefix="relval-rehearse-") as tmp, \
            start_server(boot_delay=0.5, delete_delay=0.5, volume_delay=0.2,
                         availability_zones=zones, quotas=REHEARSAL_QUOTAS) as cloud:
        cloud.seed(seed_spec(document))
        proj, secret_paths = prepare_workspace(stack, document, Path(tmp))
        backend = Path(tmp) / "state"
        backend.mkdir()
        workspace = automation.Workspace(work_dir=proj, env={
            **cloud.env(), "PULUMI_BACKEND_URL": backend.as_uri(),
            "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE})
        automation.set_secret_stand_ins(stack, {p: SECRET_STAND_IN for p in secret_paths}, workspace)
        yield workspace, cloud


def _timed(result: Rehearsal, name: str, on_step, fn) -> Any:
    from relval.autoscaler.interfaces import AdapterError

    step = Step(name)
    start = time.monotonic()
    try:
        value = fn(step)
        step.ok = not step.detail
    except RelvalError as error:
        value, step.ok, step.detail = None, False, "; ".join(error.problems)
    except AdapterError as error:  # the scaler's adapter refused or failed
        value, step.ok, step.detail = None, False, str(error)
    step.seconds = time.monotonic() - start
    result.steps.append(step)
    on_step(step)
    return value


def _run_steps(result, stack, cfg, workspace, cloud, on_step, on_output) -> None:
    from relval import lifecycle
    from relval.infra import automation

    def preview(step: Step):
        step.changes = automation.preview(stack, on_output, workspace)

    def up(step: Step):
        outputs, step.changes = automation.up_result(stack, on_output, workspace)
        return outputs

    def up_again(step: Step):
        _, step.changes = automation.up_result(stack, on_output, workspace)
        changed = {k: v for k, v in step.changes.items() if k != "same" and v}
        if changed:
            step.detail = f"the second up changed resources: {changed}"

    def scaler_boot(step: Step):
        return boot_like_the_scaler(cloud, stack, cfg, outputs or {})

    def down(step: Step):
        from relval.openstack_sweep import OpenStackStackResources

        # The simulated head runs no scaler: its stop request goes unanswered after
        # stop_timeout_s, and down revokes the scaler's credential instead.
        lifecycle.down(stack, on_output=on_output, workspace=workspace, timeout_s=120, poll_s=0.5, settle_s=1,
                       stop_timeout_s=2, resources_factory=lambda s: OpenStackStackResources(connect(cloud), s,
                                                                           keep_keypair=cfg.keypair))

    if _timed(result, "preview", on_step, preview) is None and not result.steps[-1].ok:
        return
    outputs = _timed(result, "up", on_step, up)
    if outputs is not None:
        result.inventory_after_up = count_inventory(cloud.inventory())
        result.resources_by_type = dict(Counter(
            r["type"] for r in automation.stack_resources(stack, workspace)
            if not r["type"].startswith("pulumi:")))
        result.checks["outputs"] = check_outputs(outputs)
        result.checks["user-data"] = check_user_data(cloud, stack, cfg, outputs, workspace)
        _timed(result, "up again", on_step, up_again)
        _timed(result, "scaler boot", on_step, scaler_boot)
    _timed(result, "down", on_step, down)
    after = cloud.inventory()
    result.inventory_after_down = count_inventory(after)
    left = {k: n for k, n in after["counts"].items() if n and k in LEFTOVER_KINDS}
    result.checks["nothing left"] = f"left in the cloud after down: {left}" if left else ""


def check_outputs(outputs: dict[str, Any]) -> str:
    missing = DOCUMENTED_OUTPUTS - set(outputs)
    extra = set(outputs) - DOCUMENTED_OUTPUTS
    if missing or extra:
        return f"outputs differ from the documented ones: missing {sorted(missing)}, undocumented {sorted(extra)}"
    return ""


def check_user_data(cloud, stack: str, cfg, outputs: dict[str, Any], workspace) -> str:
    from relval.autoscaler.model import ROLE_KEY
    from relval.infra import automation
    from relval.infra.plan import looked_up_public_key, plan, user_data_of

    offline = plan(cfg, stack)
    offline_secrets = {**offline.secrets, "host-public-key": offline.outputs["headHostPublicKey"]}
    if cfg.keypair:  # an existing keypair: its key comes from the cloud, not from the stack
        offline_secrets["keypair"] = looked_up_public_key(cfg.keypair)
    rendered = {}
    for role in ("head", "worker"):
        try:
            rendered[role] = normalise_user_data(user_data_of(offline, role, show_secrets=True),
                                                 offline_secrets)
        except RelvalError:
            pass  # no worker in this stack
    real_secrets = {"host-public-key": outputs.get("headHostPublicKey", "")}
    if cfg.keypair:
        real_secrets["keypair"] = STAND_IN_PUBLIC_KEY
    for resource in automation.stack_resources(stack, workspace):
        key = SECRET_OUTPUTS.get(resource["type"])
        if key and resource["outputs"].get(key):
            real_secrets[resource["name"]] = resource["outputs"][key]
    received = {}
    for server in created(cloud.inventory(), "servers"):
        role = (server.get("metadata") or {}).get(ROLE_KEY)
        if server.get("user_data") and role in rendered:
            received[server["name"]] = (role, normalise_user_data(decode_user_data(server["user_data"]),
                                                                  real_secrets))
    if not received:
        return "no instance received user-data"
    return compare_user_data(received, rendered)


def scaler_cloud(cloud, stack: str, cfg, outputs: dict[str, Any]):
    """The scaler's own OpenStack adapter, connected to the simulated cloud as the head's
    clouds.yaml would connect it to the real one."""
    from relval.autoscaler.adapters.openstack import OpenStackCloud

    from relval.autoscaler.config import WorkerVolume

    conn = connect(cloud)
    flavor = conn.compute.find_flavor(cfg.worker_flavor, ignore_missing=False)
    network = conn.network.find_network(cfg.network, ignore_missing=False)
    groups = (outputs["securityGroupId"],) if outputs.get("securityGroupId") else ()
    # The stack's one image id, and the worker volumes (made and deleted with the worker).
    volumes = tuple(WorkerVolume(v.name, v.size_gb, v.volume_type) for v in cfg.volumes_for("worker"))
    return OpenStackCloud(conn, stack, outputs["imageId"], flavor.id, network.id,
                          user_data="#cloud-config\n", security_groups=groups,
                          flavor_size=(flavor.vcpus, flavor.ram), volumes=volumes)


def boot_like_the_scaler(cloud, stack: str, cfg, outputs: dict[str, Any]) -> str:
    from relval.autoscaler.model import RELEASE_KEY, ROLE_KEY, STACK_KEY, WORKER_ROLE

    adapter = scaler_cloud(cloud, stack, cfg, outputs)
    worker_id = adapter.create_worker(f"{stack}-scaled-rehearse",
                                      {STACK_KEY: stack, ROLE_KEY: WORKER_ROLE, RELEASE_KEY: cfg.release})
    if worker_id not in {w.id for w in adapter.list_workers()}:
        raise RelvalError("the scaler's worker is not listed by the scaler's adapter")
    return worker_id
