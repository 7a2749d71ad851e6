"""Evaluate the Pulumi program offline, under Pulumi's mock engine.

The real `pulumi_openstack` SDK declares every resource; a stand-in cloud
(`OfflineCloud`) answers with realistic ids and addresses. The result is what
`pulumi up` would create, without CLI, credentials or network. `relval plan`
prints it and the tests assert on it.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass, field
from typing import Any, Callable

import pulumi
from pulumi.runtime import mocks, rpc, settings
from pulumi.runtime.sync_await import _sync_await

from .cluster import build_cluster
from .config import StackConfig

PROJECT = "relval"
SECRET_MASK = "[secret]"


@dataclass
class PlannedResource:
    type: str
    name: str
    parent: str | None
    inputs: dict[str, Any]
    secret_inputs: frozenset[str] = frozenset()
    custom: bool = True

    def public_inputs(self) -> dict[str, Any]:
        return {k: (SECRET_MASK if k in self.secret_inputs else v) for k, v in self.inputs.items()}


@dataclass
class Plan:
    stack: str
    resources: list[PlannedResource] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    secret_outputs: frozenset[str] = frozenset()

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
                           "inputs": r.public_inputs()} for r in self.resources],
            "outputs": self.public_outputs(),
        }


def _stable_id(*parts: str) -> str:
    digest = hashlib.sha1("/".join(parts).encode()).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"


class OfflineCloud(pulumi.runtime.Mocks):
    """Answers like OpenStack would: uuids, addresses from a tenant subnet, a floating IP."""

    def __init__(self, subnet: str = "10.0.0.0/8", floating: str = "203.0.113.0/24"):
        self._subnets = {"fixed": ipaddress.ip_network(subnet),
                         "floating": ipaddress.ip_network(floating)}
        self._taken: set[str] = set()

    def _address(self, pool: str, name: str) -> str:
        """An address derived from the resource name, so plans are reproducible."""
        network = self._subnets[pool]
        offset = int(hashlib.sha1(name.encode()).hexdigest(), 16)
        for probe in range(network.num_addresses):
            host = network.network_address + 2 + (offset + probe) % (network.num_addresses - 3)
            if str(host) not in self._taken:
                self._taken.add(str(host))
                return str(host)
        raise RuntimeError(f"offline address pool {network} exhausted")

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        resource_id = _stable_id(args.typ, args.name)
        state = dict(args.inputs)
        if args.typ == "openstack:networking/port:Port":
            state["allFixedIps"] = [self._address("fixed", args.name)]
        elif args.typ == "openstack:networking/floatingIp:FloatingIp":
            state["address"] = self._address("floating", args.name)
        elif args.typ == "openstack:compute/instance:Instance":
            state.setdefault("accessIpV4", "")
        elif args.typ == "tls:index/privateKey:PrivateKey":
            state["publicKeyOpenssh"] = f"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI{resource_id[:20]} offline-plan"
            state["privateKeyOpenssh"] = pulumi.Output.secret("-----BEGIN OPENSSH PRIVATE KEY-----")
        elif args.typ.startswith("random:"):
            state["result"] = hashlib.sha256(resource_id.encode()).hexdigest()
        return resource_id, state

    def call(self, args: pulumi.runtime.MockCallArgs):
        if args.token == "openstack:networking/getNetwork:getNetwork":
            name = args.args.get("name", "network")
            return {"id": _stable_id("network", name), "name": name, "mtu": 1450}
        if args.token == "openstack:compute/getKeypair:getKeypair":
            name = args.args.get("name")
            return {"id": name, "name": name, "fingerprint": "offline-plan",
                    "publicKey": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOfflinePlanLookedUpKey "
                                 f"{name}"}
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


def plan(cfg: StackConfig, stack: str) -> Plan:
    """Declare the stack's resources offline and resolve its outputs."""

    def program() -> tuple[dict[str, Any], set[str]]:
        values, secrets = {}, set()
        for key, value in build_cluster(cfg, stack).items():
            output = pulumi.Output.from_input(value)
            values[key] = _sync_await(output.future())
            if _sync_await(output.is_secret()):
                secrets.add(key)
        return values, secrets

    monitor, (values, secrets) = run_offline(program, stack)
    return Plan(stack=stack, resources=_tree_order(monitor.planned), outputs=_plain(values),
                secret_outputs=frozenset(secrets))


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
