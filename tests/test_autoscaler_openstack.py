"""The OpenStack adapter: real openstacksdk against recorded nova responses.

As openstacksdk's own unit tests do: keystoneauth's token fixture supplies the
service catalog, requests-mock answers every HTTP call, and any call the test did
not expect fails (requests-mock raises NoMockAddress).
"""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone
from pathlib import Path

import openstack.connection
import pytest
import requests_mock
from keystoneauth1 import fixture as ks_fixture
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

from relval.autoscaler.adapters.openstack import OpenStackCloud
from relval.autoscaler.interfaces import CloudError, QuotaError
from relval.autoscaler.model import ACTIVE, BUILD, ERROR, TRANSIENT
from relval.autoscaler.teardown import teardown

# The SDK warns about its own internals; those are not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore::openstack.warnings.RemovedInSDK50Warning")

FIXTURES = Path(__file__).parent / "fixtures" / "autoscaler_openstack"
AUTH = "https://identity.example.com/v3"
COMPUTE = "https://compute.example.com/v2.1"
PROJECT = "6f70656e737461636b20342065766572"
MD = {"relval-stack": "alice", "relval-role": "worker", "relval-release": "rel-1"}


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


@pytest.fixture
def mock():
    with requests_mock.Mocker() as m:
        token = ks_fixture.V3Token(project_id=PROJECT, user_id="relval-scaler")
        service = token.add_service("compute", name="nova")
        service.add_standard_endpoints(public=COMPUTE + "/", region="RegionOne")
        m.post(f"{AUTH}/auth/tokens", json=token, headers={"X-Subject-Token": "tok-123"})
        versions = fixture("compute-versions.json")
        m.get("https://compute.example.com/", json=versions)
        m.get(COMPUTE + "/", json={"version": versions["versions"][1]})
        yield m


@pytest.fixture
def cloud(mock) -> OpenStackCloud:
    auth = v3.Password(auth_url=AUTH, username="app", password="secret", project_id=PROJECT,
                       user_domain_id="default")
    conn = openstack.connection.Connection(session=ks_session.Session(auth=auth),
                                           region_name="RegionOne")
    return OpenStackCloud(conn, "alice", image_id="70a599e0-31e7-49b7-b260-868f441e862b",
                          flavor_id="7", network_id="net-uuid-1",
                          user_data="#cloud-config\nruncmd: [echo hi]\n",
                          server_group_id="sg-uuid-1", availability_zone="cern-geneva-a",
                          keypair="ops", security_groups=("relval-workers",))


def test_create_sends_metadata_user_data_flavor_image_network_and_group(cloud, mock):
    mock.post(f"{COMPUTE}/servers", json=fixture("server-create.json"), status_code=202)
    server_id = cloud.create_worker("alice-worker-1", MD)
    assert server_id == "0c7f3b0e-8a11-4d3c-9a55-1d1e3f6a0004"
    body = mock.request_history[-1].json()
    server = body["server"]
    assert server["metadata"] == MD and server["name"] == "alice-worker-1"
    assert server["flavorRef"] == "7" and server["imageRef"].startswith("70a599e0")
    assert server["networks"] == [{"uuid": "net-uuid-1"}]
    assert base64.b64decode(server["user_data"]).decode().startswith("#cloud-config")
    assert server["availability_zone"] == "cern-geneva-a" and server["key_name"] == "ops"
    assert server["security_groups"] == [{"name": "relval-workers"}]
    # Nova takes the server group as a top-level scheduler hint.
    assert body["OS-SCH-HNT:scheduler_hints"] == {"group": "sg-uuid-1"}


def test_list_keeps_this_stacks_servers_by_metadata(cloud, mock):
    mock.get(f"{COMPUTE}/servers/detail", json=fixture("servers-detail.json"))
    workers = {w.id[-4:]: w for w in cloud.list_workers()}
    assert set(workers) == {"0001", "0002", "0003"}          # the foreign VM is not listed
    assert workers["0001"].status == ACTIVE and workers["0002"].status == ERROR
    assert workers["0001"].owned_by("alice") and not workers["0003"].owned_by("alice")
    created = datetime(2026, 11, 25, 6, 58, 12, tzinfo=timezone.utc).timestamp()
    assert workers["0001"].created_at == created


def test_delete_and_a_missing_server_is_fine(cloud, mock):
    sid = "0c7f3b0e-8a11-4d3c-9a55-1d1e3f6a0002"
    mock.delete(f"{COMPUTE}/servers/{sid}", status_code=204)
    mock.delete(f"{COMPUTE}/servers/gone", status_code=404,
                json={"itemNotFound": {"code": 404, "message": "Instance gone could not be found."}})
    cloud.delete_worker(sid)
    cloud.delete_worker("gone")
    assert [r.method for r in mock.request_history if "/servers/" in r.url] == ["DELETE", "DELETE"]


def test_absolute_limits_give_headroom(cloud, mock):
    mock.get(f"{COMPUTE}/limits", json=fixture("limits.json"))
    mock.get(f"{COMPUTE}/os-server-groups/sg-uuid-1", json=fixture("server-group-get.json"))
    limits = cloud.limits()
    assert (limits.max_instances, limits.used_instances) == (25, 14)
    h = limits.headroom()
    assert (h.instances, h.cores, h.ram_mb) == (11, 100, 195200)


def test_worker_size_comes_from_the_flavor(cloud, mock):
    mock.get(f"{COMPUTE}/flavors/7", json=fixture("flavor-get.json"))
    assert cloud.worker_size() == (8, 14600)


def test_quota_refusals_are_quota_errors_other_refusals_are_not(cloud, mock):
    mock.post(f"{COMPUTE}/servers", status_code=403, json={"forbidden": {
        "code": 403, "message": "Quota exceeded, too many servers in group"}})
    with pytest.raises(QuotaError, match="too many servers in group"):
        cloud.create_worker("w", MD)
    mock.post(f"{COMPUTE}/servers", status_code=403, json={"forbidden": {
        "code": 403, "message": "Policy doesn't allow os_compute_api:servers:create"}})
    with pytest.raises(CloudError) as info:
        cloud.create_worker("w", MD)
    assert not isinstance(info.value, QuotaError)


def test_the_server_group_member_quota_is_read(cloud, mock):
    limits = fixture("limits.json")
    limits["limits"]["absolute"]["maxServerGroupMembers"] = 10    # nova's default
    mock.get(f"{COMPUTE}/limits", json=limits)
    mock.get(f"{COMPUTE}/os-server-groups/sg-uuid-1", json=fixture("server-group-get.json"))
    h = cloud.limits().headroom()
    assert h.group_members == 3 and h.instances == 11   # 7 members of 10


def test_teardown_deletes_failed_and_active_workers_then_waits(cloud, mock):
    listing = fixture("servers-detail.json")
    gone = {"servers": [s for s in listing["servers"] if s["metadata"].get("relval-role") != "worker"]}
    mock.get(f"{COMPUTE}/servers/detail", [{"json": listing}, {"json": gone}])
    for suffix in ("0001", "0002"):
        mock.delete(f"{COMPUTE}/servers/0c7f3b0e-8a11-4d3c-9a55-1d1e3f6a{suffix}", status_code=204)
    report = teardown(cloud, "alice", sleep=lambda s: None)
    assert report.clean and [d[-4:] for d in report.deleted] == ["0001", "0002"]
    assert all(w.status != BUILD for w in cloud.list_workers())


@pytest.mark.parametrize("status", ["MIGRATING", "REBOOT", "HARD_REBOOT", "RESIZE", "VERIFY_RESIZE",
                                    "REVERT_RESIZE", "REBUILD", "PASSWORD", "RESCUE", "UNKNOWN",
                                    "SHELVED", "SUSPENDED", "PAUSED"])
def test_transient_nova_statuses_are_not_errors(cloud, mock, status):
    """A live migration shows MIGRATING while the guest keeps running its jobs."""
    listing = fixture("servers-detail.json")
    listing["servers"][0]["status"] = status
    mock.get(f"{COMPUTE}/servers/detail", json=listing)
    worker = next(w for w in cloud.list_workers() if w.id.endswith("0001"))
    assert worker.status == TRANSIENT and worker.detail == status


def test_stop_request_and_answer_go_into_server_metadata(cloud, mock):
    sid = "0c7f3b0e-8a11-4d3c-9a55-1d1e3f6a0003"
    mock.post(f"{COMPUTE}/servers/{sid}/metadata",
              json={"metadata": {"relval-scaler-stop": "tok"}})
    cloud.set_metadata(sid, {"relval-scaler-stop": "tok"})
    # POST merges with what is there (PUT would replace the stack's own keys).
    assert mock.request_history[-1].method == "POST"
    assert mock.request_history[-1].json() == {"metadata": {"relval-scaler-stop": "tok"}}


def test_every_call_has_a_timeout_and_a_hung_connection_is_a_cloud_error(cloud, mock, tmp_path):
    import requests

    from relval.autoscaler.adapters.openstack import API_TIMEOUT_S, cloud_region
    from relval.autoscaler.config import OpenStackSettings

    clouds = tmp_path / "clouds.yaml"
    clouds.write_text("clouds:\n  relval:\n    auth_type: v3applicationcredential\n"
                      f"    auth: {{auth_url: '{AUTH}', application_credential_id: a,"
                      " application_credential_secret: s}\n")
    region = cloud_region(OpenStackSettings(cloud="relval", clouds_yaml=str(clouds)))
    assert float(region.config["api_timeout"]) == API_TIMEOUT_S   # openstacksdk's default: none
    mock.get(f"{COMPUTE}/servers/detail", exc=requests.exceptions.ConnectTimeout)
    with pytest.raises(CloudError, match="list servers"):
        cloud.list_workers()
