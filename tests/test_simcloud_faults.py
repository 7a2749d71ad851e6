"""Injected faults, and the scaler's own openstacksdk adapter against the simulated cloud
over real HTTP: the faults the scaler and the teardown must survive."""

from __future__ import annotations

import pytest
import requests
from relval.autoscaler.adapters.openstack import OpenStackCloud
from relval.autoscaler.interfaces import CloudError
from relval.autoscaler.model import ACTIVE, BUILD, ERROR, TRANSIENT
from relval.autoscaler.teardown import teardown
from relval.simcloud import add_fault, clear_faults, inventory

from tests.simcloud_support import connect, until

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
MD = {"relval-stack": "alice", "relval-role": "worker", "relval-release": "rel-1"}


@pytest.fixture
def scaler(simcloud):
    """The scaler's adapter as the head builds it: names resolved once, then by id."""
    conn = connect(simcloud)
    return OpenStackCloud(
        conn, "alice", image_id=conn.image.find_image("alma9").id,
        flavor_id=conn.compute.find_flavor("m1.small").id,
        network_id=conn.network.find_network("relval-net").id,
        user_data="#cloud-config\nruncmd: [echo hi]\n", keypair="ops",
        security_groups=("default",))


def statuses(cloud):
    return {w.name: w.status for w in cloud.list_workers()}


def test_scaler_boots_lists_and_deletes_its_workers(simcloud, scaler):
    worker_id = scaler.create_worker("alice-worker-1", MD)
    assert statuses(scaler) == {"alice-worker-1": BUILD}
    until(lambda: statuses(scaler) == {"alice-worker-1": ACTIVE})
    assert scaler.worker_size() == (1, 2048)
    limits = scaler.limits()
    assert (limits.max_instances, limits.used_instances, limits.used_cores) == (10, 1, 1)
    scaler.delete_worker(worker_id)
    scaler.delete_worker("00000000-0000-0000-0000-000000000000")  # missing is fine
    until(lambda: statuses(scaler) == {})


def test_boot_error_and_build_that_never_ends(simcloud, scaler):
    add_fault(simcloud.url, {"kind": "boot_error", "name": "-1$"})
    add_fault(simcloud.url, {"kind": "build_stuck", "name": "-2$"})
    for index in (1, 2, 3):
        scaler.create_worker(f"alice-worker-{index}", MD)
    until(lambda: statuses(scaler).get("alice-worker-3") == ACTIVE)
    assert statuses(scaler) == {"alice-worker-1": ERROR, "alice-worker-2": BUILD,
                                "alice-worker-3": ACTIVE}
    conn = connect(simcloud)
    [failed] = conn.compute.servers(name="alice-worker-1", details=True)
    assert failed.fault["code"] == 500 and "No valid host" in failed.fault["message"]
    # Each rule was used once; the next boot of the same name is healthy.
    assert requests.get(simcloud.url + "/_sim/faults", timeout=5).json() == {"faults": []}


def test_transient_statuses_count_as_running_and_end(simcloud, scaler):
    scaler.create_worker("alice-worker-1", MD)
    until(lambda: statuses(scaler) == {"alice-worker-1": ACTIVE})
    for status in ("MIGRATING", "REBOOT", "RESIZE"):
        # Long enough to be seen on a loaded machine; the scaler waits it out (TRANSIENT).
        moved = add_fault(simcloud.url, {"kind": "transient", "status": status, "seconds": 3})
        assert len(moved["servers"]) == 1
        conn = connect(simcloud)
        assert conn.compute.get_server(moved["servers"][0]).status == status
        assert statuses(scaler) == {"alice-worker-1": TRANSIENT}
        server_id = moved["servers"][0]
        until(lambda conn=conn, server_id=server_id:
              conn.compute.get_server(server_id).status == "ACTIVE")


def test_api_errors_for_n_calls_then_recovery(simcloud, scaler):
    add_fault(simcloud.url, {"kind": "api_error", "count": 2, "status": 503,
                             "method": "GET", "path": "/servers/detail"})
    for _ in range(2):
        with pytest.raises(CloudError, match="503"):
            scaler.list_workers()
    assert scaler.list_workers() == []
    add_fault(simcloud.url, {"kind": "api_error", "path": "/compute/.*/servers$",
                             "method": "POST"})
    with pytest.raises(CloudError, match="500"):
        scaler.create_worker("alice-worker-1", MD)
    assert inventory(simcloud.url)["counts"]["servers"] == 0


def test_vm_stuck_in_deletion_is_reported_by_teardown(simcloud, scaler):
    add_fault(simcloud.url, {"kind": "delete_stuck", "name": "worker-1"})
    for index in (1, 2):
        scaler.create_worker(f"alice-worker-{index}", MD)
    until(lambda: set(statuses(scaler).values()) == {ACTIVE})
    report = teardown(scaler, "alice", timeout_s=1.5, poll_s=0.1)
    assert not report.clean
    assert [w.name for w in scaler.list_workers()] == ["alice-worker-1"]
    assert report.remaining == [w.id for w in scaler.list_workers()]
    clear_faults(simcloud.url)  # lets the stuck delete complete
    until(lambda: statuses(scaler) == {})


def test_bad_fault_specs_are_refused_naming_the_field(simcloud):
    answer = requests.post(simcloud.url + "/_sim/faults", json={"kind": "meteor"}, timeout=5)
    assert answer.status_code == 400 and "kind must be one of" in answer.json()["error"]["message"]
    answer = requests.post(simcloud.url + "/_sim/faults",
                           json={"kind": "api_error", "count": 0}, timeout=5)
    assert answer.status_code == 400 and "count" in answer.json()["error"]["message"]
