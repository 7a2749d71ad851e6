"""`relval down` through the real openstacksdk, over HTTP, against a stateful project.

Keystone's token fixture supplies the catalog (compute, network, block-storage,
identity); requests-mock answers every call from one in-memory project that behaves as
the services do where the sweep depends on it: Neutron refuses to delete a security
group still used by a port (409), Cinder a volume still attached (400), and Nova takes
a moment to delete a server. Any call this stand-in does not know fails the test.
"""

from __future__ import annotations

import itertools
import json
import re
from urllib.parse import parse_qs, urlparse

import openstack.connection
import pytest
import requests_mock
from keystoneauth1 import fixture as ks_fixture
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

from relval.errors import RelvalError
from relval.infra import automation
from relval.lifecycle import down
from relval.openstack_sweep import OpenStackStackResources

pytestmark = pytest.mark.filterwarnings("ignore::openstack.warnings.RemovedInSDK50Warning")

AUTH = "https://identity.example.com/v3"
PROJECT = "6f70656e737461636b20342065766572"
USER = "operator-1"
ENDPOINTS = [("compute", "nova", "https://compute.example.com/v2.1/"),
             ("network", "neutron", "https://network.example.com/"),
             ("block-storage", "cinder", f"https://volume.example.com/v3/{PROJECT}/"),
             ("identity", "keystone", "https://identity.example.com/v3/")]


class Project:
    """The project's resources, as the services hold them."""

    def __init__(self):
        self.servers, self.ports, self.groups, self.fips, self.volumes = {}, {}, {}, {}, {}
        self.keypairs, self.server_groups, self.credentials = {}, {}, {}
        self.deleting: dict[str, int] = {}      # server id -> listings until gone
        self.failing: dict[str, int] = {}       # path fragment -> status to answer with
        self.ids = itertools.count(1)
        self.requests: list[str] = []

    def new_id(self, prefix: str) -> str:
        return f"{prefix}-{next(self.ids):04d}"

    def deploy(self, stack: str, scaler_workers: int = 1) -> None:
        """What `pulumi up` plus the scaler leave: every kind relval makes."""
        tag = [f"relval-stack={stack}", "relval"]
        sg = self.new_id("sg")
        self.groups[sg] = {"id": sg, "name": f"{stack}-cluster", "tags": tag}
        self.keypairs[f"{stack}-key"] = {"name": f"{stack}-key", "type": "ssh"}
        grp = self.new_id("grp")
        self.server_groups[grp] = {"id": grp, "name": f"{stack}-workers", "policies": ["anti-affinity"]}
        cred = self.new_id("cred")
        self.credentials[cred] = {"id": cred, "name": f"{stack}-autoscaler"}
        for role, n in (("head", 1), ("worker", 2 + scaler_workers)):
            for _ in range(n):
                server = self.new_id("srv")
                self.servers[server] = {"id": server, "name": f"{stack}-{role}", "status": "ACTIVE",
                                        "metadata": {"relval-stack": stack, "relval-role": role}}
                port = self.new_id("port")
                self.ports[port] = {"id": port, "device_id": server, "tags": tag,
                                    "security_groups": [sg]}
        head = next(s for s in self.servers.values() if s["name"] == f"{stack}-head")["id"]
        vol = self.new_id("vol")
        self.volumes[vol] = {"id": vol, "name": f"{stack}-head-data", "status": "in-use",
                             "attachments": [{"server_id": head}],
                             "metadata": {"relval-stack": stack, "relval-role": "head"}}
        fip = self.new_id("fip")
        self.fips[fip] = {"id": fip, "floating_ip_address": "192.0.2.10", "tags": tag}

    def of(self, stack: str) -> int:
        """How many resources of `stack` are left, all kinds together."""
        tag = f"relval-stack={stack}"
        return (sum(s["metadata"].get("relval-stack") == stack for s in self.servers.values())
                + sum(v["metadata"].get("relval-stack") == stack for v in self.volumes.values())
                + sum(tag in r["tags"] for store in (self.ports, self.groups, self.fips)
                      for r in store.values())
                + sum(k.startswith(f"{stack}-") for k in self.keypairs)
                + sum(g["name"].startswith(f"{stack}-") for g in self.server_groups.values())
                + sum(c["name"].startswith(f"{stack}-") for c in self.credentials.values()))

    # --- the HTTP side ---------------------------------------------------------------------------
    def handle(self, request, context):
        url = urlparse(request.url)
        path, query = url.path.rstrip("/"), parse_qs(url.query)
        self.requests.append(f"{request.method} {url.netloc}{path}" + (f"?{url.query}" if url.query else ""))
        for fragment, status in self.failing.items():
            if fragment in path:
                context.status_code = status
                return json.dumps({"message": "Service Unavailable", "code": status})
        if path in ("/v2.1", "", "/v3", f"/v3/{PROJECT}"):
            return "{}"  # version discovery: no document, the SDK uses the catalog URL
        context.status_code = 200
        routes = [
            ("GET", r"/v2.1/servers/detail", lambda m: {"servers": self._list_servers()}),
            ("DELETE", r"/v2.1/servers/([^/]+)", lambda m: self._delete_server(m[1], context)),
            ("POST", r"/v2.1/servers/([^/]+)/metadata", lambda m: self._set_metadata(m[1], request)),
            ("GET", r"/v2.1/os-keypairs", lambda m: {"keypairs": [{"keypair": k} for k in self.keypairs.values()]}),
            ("DELETE", r"/v2.1/os-keypairs/([^/]+)", lambda m: self._pop(self.keypairs, m[1], context)),
            ("GET", r"/v2.1/os-server-groups", lambda m: {"server_groups": list(self.server_groups.values())}),
            ("DELETE", r"/v2.1/os-server-groups/([^/]+)", lambda m: self._pop(self.server_groups, m[1], context)),
            ("GET", r"/v2.0/ports", lambda m: {"ports": self._tagged(self.ports, query)}),
            ("DELETE", r"/v2.0/ports/([^/]+)", lambda m: self._pop(self.ports, m[1], context)),
            ("GET", r"/v2.0/security-groups", lambda m: {"security_groups": self._tagged(self.groups, query)}),
            ("DELETE", r"/v2.0/security-groups/([^/]+)", lambda m: self._delete_group(m[1], context)),
            ("GET", r"/v2.0/floatingips", lambda m: {"floatingips": self._tagged(self.fips, query)}),
            ("DELETE", r"/v2.0/floatingips/([^/]+)", lambda m: self._pop(self.fips, m[1], context)),
            ("GET", rf"/v3/{PROJECT}/volumes/detail", lambda m: {"volumes": list(self.volumes.values())}),
            ("DELETE", rf"/v3/{PROJECT}/volumes/([^/]+)", lambda m: self._delete_volume(m[1], context)),
            ("GET", rf"/v3/users/{USER}/application_credentials",
             lambda m: {"application_credentials": list(self.credentials.values())}),
            ("DELETE", rf"/v3/users/{USER}/application_credentials/([^/]+)",
             lambda m: self._pop(self.credentials, m[1], context)),
        ]
        for method, pattern, answer in routes:
            match = re.fullmatch(pattern, path)
            if method == request.method and match:
                body = answer(match)
                return "" if body is None else json.dumps(body)
        raise AssertionError(f"unexpected call {request.method} {request.url}")

    def _list_servers(self):
        for server_id in list(self.deleting):  # a deleted server lingers for one listing
            self.deleting[server_id] -= 1
            if self.deleting[server_id] < 0:
                del self.deleting[server_id]
                self._detach(server_id)
                self.servers.pop(server_id, None)
        return list(self.servers.values())

    def _detach(self, server_id: str) -> None:
        for volume in self.volumes.values():
            volume["attachments"] = [a for a in volume["attachments"] if a["server_id"] != server_id]
            if not volume["attachments"]:
                volume["status"] = "available"
        for port in list(self.ports.values()):
            if port["device_id"] == server_id:
                port["device_id"] = ""

    def _delete_server(self, server_id, context):
        if server_id not in self.servers:
            context.status_code = 404
            return {"itemNotFound": {"code": 404, "message": "Instance could not be found."}}
        context.status_code = 204
        self.deleting.setdefault(server_id, 1)
        return None

    def _set_metadata(self, server_id, request):
        # The teardown's stop request; no scaler runs here to answer it.
        metadata = self.servers[server_id]["metadata"]
        metadata.update(request.json()["metadata"])
        return {"metadata": metadata}

    def _delete_group(self, group_id, context):
        if any(group_id in p["security_groups"] for p in self.ports.values()):
            context.status_code = 409
            return {"NeutronError": {"type": "SecurityGroupInUse", "message": "in use", "detail": ""}}
        return self._pop(self.groups, group_id, context)

    def _delete_volume(self, volume_id, context):
        volume = self.volumes.get(volume_id)
        if volume is not None and volume["status"] != "available":
            context.status_code = 400
            return {"badRequest": {"code": 400, "message": "Volume status must be available"}}
        context.status_code = 202
        return self._pop(self.volumes, volume_id, context, status=202)

    @staticmethod
    def _pop(store, key, context, status=204):
        if store.pop(key, None) is None:
            context.status_code = 404
            return {"error": {"code": 404, "message": "Not found"}}
        context.status_code = status
        return None

    @staticmethod
    def _tagged(store, query):
        wanted = set(query.get("tags", [""])[0].split(",")) - {""}
        return [r for r in store.values() if wanted <= set(r["tags"])]


@pytest.fixture
def project():
    state = Project()
    with requests_mock.Mocker() as m:
        m.register_uri(requests_mock.ANY, requests_mock.ANY, text=state.handle)
        token = ks_fixture.V3Token(project_id=PROJECT, user_id=USER)
        for kind, name, url in ENDPOINTS:
            token.add_service(kind, name=name).add_standard_endpoints(public=url, region="RegionOne")
        m.post(f"{AUTH}/auth/tokens", json=token, headers={"X-Subject-Token": "tok-1"})
        yield state


def connection():
    auth = v3.Password(auth_url=AUTH, username="operator", password="secret", project_id=PROJECT,
                       user_domain_id="default")
    return openstack.connection.Connection(session=ks_session.Session(auth=auth), region_name="RegionOne")


@pytest.fixture
def engine(monkeypatch):
    destroyed = []
    monkeypatch.setattr(automation, "require_cli", lambda: "/usr/bin/pulumi")
    monkeypatch.setattr(automation, "destroy", lambda stack, on_output, workspace=None: destroyed.append(stack) or True)
    return destroyed


def test_down_leaves_nothing_of_the_stack_and_everything_of_others(project, engine):
    project.deploy("rel-1")
    project.deploy("someone-else")
    before_other = project.of("someone-else")
    assert project.of("rel-1") == 14
    report = down("rel-1", on_output=lambda line: None, sleep=lambda s: None, stop_timeout_s=0,
                  resources_factory=lambda stack: OpenStackStackResources(connection(), stack))
    assert report.clean and engine == ["rel-1"]
    # The head was asked to stop its scaler; nothing answered, so the credential went first.
    assert any(r.startswith("POST") and r.endswith("/metadata") for r in project.requests)
    assert "did not answer the stop request" in report.scaler["how"]
    # The head's volume was refused while attached, then deleted once the head was gone.
    assert report.swept["deleted"]["volume"] and any("delete volume" in e and "400" in e
                                                     for e in report.swept["errors"]), report.swept
    assert project.of("rel-1") == 0
    assert project.of("someone-else") == before_other
    assert report.scaler["confirmed"]
    # Neutron filtered by the stack's tag; nothing of the other stack was ever deleted.
    assert any("ports?tags=relval-stack%3Drel-1" in r for r in project.requests)
    assert not [r for r in project.requests if r.startswith("DELETE") and "someone-else" in r]


def test_a_referenced_keypair_is_never_deleted(project, engine):
    project.deploy("rel-1")
    resources = OpenStackStackResources(connection(), "rel-1", keep_keypair="rel-1-key")
    down("rel-1", on_output=lambda line: None, sleep=lambda s: None, stop_timeout_s=0,
         resources_factory=lambda stack: resources)
    assert list(project.keypairs) == ["rel-1-key"]


def test_a_volume_service_that_answers_503_is_exit_3_naming_it(project, engine, monkeypatch):
    project.deploy("rel-1")
    project.failing["/volumes"] = 503
    monkeypatch.setattr(automation, "destroy", lambda *a, **k: pytest.fail("must not destroy"))
    clock = itertools.count(0, 30)
    with pytest.raises(RelvalError) as caught:
        down("rel-1", on_output=lambda line: None, sleep=lambda s: None, clock=lambda: next(clock),
             resources_factory=lambda stack: OpenStackStackResources(connection(), stack))
    assert caught.value.exit_code == 3
    assert "volume: could not list" in str(caught.value) and "503" in str(caught.value)
