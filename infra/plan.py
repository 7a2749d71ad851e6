"""Evaluate the Pulumi program offline, under Pulumi's mock engine.

The real `pulumi_openstack` SDK declares every resource; a stand-in cloud
(`OfflineCloud`) answers with realistic ids and addresses. The result is what
`pulumi up` would create, without CLI, credentials or network. `relval plan`
prints it and the tests assert on it.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
from dataclasses import dataclass, field
from typing import Any, Callable

import pulumi
import yaml
from pulumi.runtime import mocks, rpc, settings
from pulumi.runtime.sync_await import _sync_await

from relval.cloudinit import decode_user_data
from relval.errors import RelvalError

from .automation import SECRET_MASK
from .cluster import build_cluster
from .config import StackConfig

PROJECT = "relval"
SCALER_WORKER_USER_DATA = "/etc/relval/worker-user-data"


@dataclass
class PlannedResource:
    type: str
    name: str
    parent: str | None
    inputs: dict[str, Any]
    secret_inputs: frozenset[str] = frozenset()
    custom: bool = True

    def public_inputs(self, secrets: dict[str, str] | None = None) -> dict[str, Any]:
        """Inputs safe to print: user-data decoded with generated secrets redacted,
        other secret inputs masked."""
        shown = {}
        for key, value in self.inputs.items():
            if key == "userData" and isinstance(value, str) and secrets is not None:
                shown[key] = redact(decode_user_data(value), secrets)
            elif key in self.secret_inputs:
                shown[key] = SECRET_MASK
            else:
                shown[key] = value
        return shown


@dataclass
class Plan:
    stack: str
    resources: list[PlannedResource] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    secret_outputs: frozenset[str] = frozenset()
    secrets: dict[str, str] = field(default_factory=dict)

    def of_type(self, type_token: str) -> list[PlannedResource]:
        return [r for r in self.resources if r.type == type_token]

    def named(self, name: str) -> PlannedResource:
        for r in self.resources:
            if r.name == name:
                return r
        raise KeyError(name)

    def public_outputs(self) -> dict[str, Any]:
        return {k: (SECRET_MASK if k in self.secret_outputs else v) for k, v in self.outputs.items()}

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "resources": [{"type": r.type, "name": r.name, "parent": r.parent,
                           "inputs": r.public_inputs(self.secrets)} for r in self.resources],
            "outputs": self.public_outputs(),
        }


def _fake_ed25519(name: str) -> tuple[str, str]:
    """A well-formed (not usable) OpenSSH ed25519 key pair derived from `name`."""
    seed = hashlib.sha256(name.encode()).digest()
    blob = b"\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20" + seed
    # Like tls.PrivateKey's publicKeyOpenssh, with its trailing newline.
    public = "ssh-ed25519 " + base64.b64encode(blob).decode() + " relval-offline-plan\n"
    body = base64.b64encode(hashlib.sha512(seed).digest() * 4).decode()
    lines = [body[i:i + 70] for i in range(0, len(body), 70)]
    private = "\n".join(["-----BEGIN OPENSSH PRIVATE KEY-----", *lines,
                         "-----END OPENSSH PRIVATE KEY-----", ""])
    return public, private


def _fake_password(name: str, length: int) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    digest = hashlib.sha512(name.encode()).digest() * (length // 64 + 1)
    return "".join(alphabet[b % len(alphabet)] for b in digest[:length])


def looked_up_public_key(keypair: str) -> str:
    """What the offline plan pretends an existing Nova keypair holds."""
    return f"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOfflinePlanLookedUpKey {keypair}"


def redact(text: str, secrets: dict[str, str]) -> str:
    """Replace every secret (and each long line of a multi-line one) with a placeholder."""
    for label, value in secrets.items():
        placeholder = f"<secret:{label}>"
        text = text.replace(value, placeholder)
        for line in value.splitlines():
            if len(line) >= 16 and not line.startswith("-----"):
                text = text.replace(line, placeholder)
    return text


def _stable_id(*parts: str) -> str:
    digest = hashlib.sha1("/".join(parts).encode()).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"


class OfflineCloud(pulumi.runtime.Mocks):
    """Answers like OpenStack would: uuids, addresses from a tenant subnet, a floating IP."""

    def __init__(self, subnet: str = "10.0.0.0/8", floating: str = "203.0.113.0/24",
                 ipv6_subnet: str | None = None):
        self._subnets = {"fixed": ipaddress.ip_network(subnet),
                         "floating": ipaddress.ip_network(floating)}
        # Dual stack: ports then list their IPv6 fixed ip first, as Neutron may.
        if ipv6_subnet is not None:
            self._subnets["fixed6"] = ipaddress.ip_network(ipv6_subnet)
        self._taken: set[str] = set()
        # Stand-ins for generated secrets, by resource name, so plans can redact them.
        self.secrets: dict[str, str] = {}

    def _address(self, pool: str, name: str) -> str:
        """An address derived from the resource name, so plans are reproducible."""
        network = self._subnets[pool]
        offset = int(hashlib.sha1(name.encode()).hexdigest(), 16)
        for probe in range(network.num_addresses):
            host = network.network_address + 2 + (offset + probe) % min(network.num_addresses - 3, 2**32)
            if str(host) not in self._taken:
                self._taken.add(str(host))
                return str(host)
        raise RuntimeError(f"offline address pool {network} exhausted")

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        resource_id = _stable_id(args.typ, args.name)
        state = dict(args.inputs)
        if args.typ == "openstack:networking/port:Port":
            state["allFixedIps"] = [self._address("fixed", args.name)]
            if "fixed6" in self._subnets:
                state["allFixedIps"].insert(0, self._address("fixed6", args.name))
        elif args.typ == "openstack:networking/floatingIp:FloatingIp":
            state["address"] = self._address("floating", args.name)
        elif args.typ == "openstack:compute/instance:Instance":
            state.setdefault("accessIpV4", "")
        elif args.typ == "tls:index/privateKey:PrivateKey":
            public, private = _fake_ed25519(args.name)
            state["publicKeyOpenssh"] = public
            state["privateKeyOpenssh"] = private
            self.secrets[args.name] = private
        elif args.typ == "openstack:identity/applicationCredential:ApplicationCredential":
            state["secret"] = _fake_password(args.name, 40)
            self.secrets[args.name] = state["secret"]
        elif args.typ == "random:index/randomPassword:RandomPassword":
            length = int(args.inputs.get("length", 32))
            state["result"] = _fake_password(args.name, length)
            self.secrets[args.name] = state["result"]
        return resource_id, state

    def call(self, args: pulumi.runtime.MockCallArgs):
        if args.token == "openstack:networking/getNetwork:getNetwork":
            name = args.args.get("name", "network")
            return {"id": _stable_id("network", name), "name": name, "mtu": 1450}
        if args.token == "openstack:images/getImage:getImage":
            name = args.args.get("name", "image")
            return {"id": _stable_id("image", name), "name": name}
        if args.token == "openstack:compute/getKeypair:getKeypair":
            name = args.args.get("name")
            return {"id": name, "name": name, "fingerprint": "offline-plan",
                    "publicKey": looked_up_public_key(name)}
        return dict(args.args)


class RecordingMonitor(mocks.MockMonitor):
    """The stock mock monitor, also keeping each registration's parent and secret inputs."""

    def __init__(self, cloud: OfflineCloud):
        super().__init__(cloud)
        self.planned: list[PlannedResource] = []
        self._names_by_urn: dict[str, str] = {}

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            inputs = rpc.deserialize_properties(request.object)
            secret_keys = frozenset(k for k, v in inputs.items() if rpc.is_rpc_secret(v))
            plain = {k: (rpc.unwrap_rpc_secret(v) if k in secret_keys else v)
                     for k, v in inputs.items()}
            self._names_by_urn[response.urn] = request.name
            self.planned.append(PlannedResource(
                type=request.type, name=request.name,
                parent=self._names_by_urn.get(request.parent),
                inputs=_plain(plain), secret_inputs=secret_keys, custom=bool(request.custom)))
        return response


def _plain(value: Any) -> Any:
    """Mock inputs carry floats for integers and nested secret markers; tidy both."""
    if isinstance(value, dict):
        if rpc.is_rpc_secret(value):
            return SECRET_MASK
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def run_offline(program: Callable[[], Any], stack: str,
                monitor: RecordingMonitor | None = None) -> tuple[RecordingMonitor, Any]:
    """Run `program` under the mock engine (preview=False, so every apply runs) and wait
    for every registration it started, like the engine does before it exits."""
    from pulumi.runtime.stack import run_pulumi_func

    monitor = monitor or RecordingMonitor(OfflineCloud())
    settings.ROOT.set(None)
    pulumi.runtime.set_mocks(monitor.mocks, project=PROJECT, stack=stack, preview=False, monitor=monitor)
    result: dict[str, Any] = {}

    def body() -> None:
        result["value"] = program()

    _sync_await(run_pulumi_func(body))
    return monitor, result.get("value")


def plan(cfg: StackConfig, stack: str, cloud: OfflineCloud | None = None) -> Plan:
    """Declare the stack's resources offline and resolve its outputs."""

    def program() -> tuple[dict[str, Any], set[str]]:
        values, secrets = {}, set()
        for key, value in build_cluster(cfg, stack).items():
            output = pulumi.Output.from_input(value)
            values[key] = _sync_await(output.future())
            if _sync_await(output.is_secret()):
                secrets.add(key)
        return values, secrets

    monitor, (values, secrets) = run_offline(program, stack,
                                             RecordingMonitor(cloud) if cloud else None)
    return Plan(stack=stack, resources=_tree_order(monitor.planned), outputs=_plain(values),
                secret_outputs=frozenset(secrets), secrets=dict(monitor.mocks.secrets))


def _tree_order(resources: list[PlannedResource]) -> list[PlannedResource]:
    """Registration order depends on when outputs resolve; print parents before children."""
    parents = {r.name: r.parent for r in resources}

    def path(name: str | None) -> tuple[str, ...]:
        chain: list[str] = []
        while name is not None:
            chain.append(name)
            name = parents.get(name)
        return tuple(reversed(chain))

    return sorted(resources, key=lambda r: path(r.name))


def schema_problems(result: Plan) -> list[str]:
    """What the real provider would reject in this plan ([] if its schema is not at hand)."""
    from . import provider_schema

    if not provider_schema.DEFAULT_SCHEMA.is_file():
        return []
    problems: list[str] = []
    for resource in result.resources:
        if resource.custom:
            problems += provider_schema.check_resource(resource.type, resource.name, resource.inputs)
    return problems


def user_data_of(result: Plan, role: str, show_secrets: bool = False) -> str:
    """The cloud-config a `role` node of this plan boots with (the first one, for workers).

    Generated secrets are replaced by placeholders unless `show_secrets`; offline they
    are stand-ins anyway, the deployed stack's real ones stay in its encrypted state.
    """
    instances = result.of_type("openstack:compute/instance:Instance")
    for resource in instances:
        if resource.inputs.get("metadata", {}).get("relval-role") == role:
            text = decode_user_data(resource.inputs["userData"])
            return text if show_secrets else redact(text, result.secrets)
    if role == "worker":
        # With the elastic scaler Pulumi declares no worker: the scaler boots them with the
        # cloud-config the head keeps for it.
        for resource in instances:
            head = yaml.safe_load(decode_user_data(resource.inputs["userData"]))
            for item in head.get("write_files") or []:
                if item.get("path") == SCALER_WORKER_USER_DATA:
                    text = item["content"]
                    return text if show_secrets else redact(text, result.secrets)
    raise RelvalError(f"stack {result.stack} has no {role} instance to show "
                      "(relval:workers.initial is 0); set it to at least 1 to render a worker")
