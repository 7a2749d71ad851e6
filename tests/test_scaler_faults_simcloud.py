"""The scaler's openstacksdk adapter and daemon against the simulated OpenStack's faults.

Each test runs the head's scaler loop (`autoscaler.daemon.run`) for several cycles in a
thread, over real HTTP against `relval.simcloud`, logged in with the stack's application
credential; the condor pool is the in-memory one whose startds follow the cloud
(tests/scaler_simcloud.py). Faults are the simulator's own (`/_sim/faults`): a boot
ending in ERROR, a BUILD that never ends, transient statuses, API 5xx, a delete that
never completes, and the server group's member quota.
"""

from __future__ import annotations

import logging

import pytest

from relval.autoscaler.interfaces import CloudError, QuotaError
from relval.autoscaler.model import ACTIVE, DELETING, ERROR, TRANSIENT
from relval.simcloud import client
from relval.simcloud.faults import TRANSIENT_STATUSES

from .scaler_simcloud import STACK, ScalerOnSimcloud, scaler_connection
from .simcloud_support import connect, until

pytestmark = pytest.mark.filterwarnings("ignore::openstack.warnings.RemovedInSDK50Warning")
WORKERS = rf"^{STACK}-worker-"


@pytest.fixture
def operator(simcloud):
    return connect(simcloud)


@pytest.fixture
def logs(caplog):
    caplog.set_level(logging.INFO, logger="relval.autoscaler")
    return caplog


def cases(logs, level=logging.WARNING) -> str:
    return "\n".join(r.getMessage() for r in logs.records if r.levelno >= level)


def listed(scaler) -> dict[str, str]:
    return {w.id: w.status for w in scaler.cloud.last if w.owned_by(STACK)}


def test_a_boot_ending_in_error_is_deleted_as_a_failed_boot_and_replaced(simcloud, operator, tmp_path):
    client.add_fault(simcloud.url, {"kind": "boot_error", "name": WORKERS, "count": 1,
                               "message": "No valid host was found."})
    with ScalerOnSimcloud(simcloud, operator, tmp_path, idle_jobs=1, max=2,
                          backoff_seconds=0) as scaler:
        until(lambda: ERROR in listed(scaler).values(), timeout=20)
        failed = next(i for i, s in listed(scaler).items() if s == ERROR)
        until(lambda: scaler.pool.busy_workers(), timeout=20)   # the replacement runs the job
        assert failed in scaler.cloud.deleted
        assert scaler.outcomes()[failed] == "error"
        assert scaler.metric("failed_boots_total") == 1
    assert scaler.pool.jobs_killed == 0


def test_a_build_that_never_ends_times_out_and_is_replaced(simcloud, operator, tmp_path):
    client.add_fault(simcloud.url, {"kind": "build_stuck", "name": WORKERS, "count": 1})
    with ScalerOnSimcloud(simcloud, operator, tmp_path, idle_jobs=1, max=2, boot_timeout=2.0,
                          backoff_seconds=0) as scaler:
        until(lambda: scaler.cloud.deleted, timeout=20)
        stuck = scaler.cloud.deleted[0]
        until(lambda: scaler.pool.busy_workers(), timeout=20)
        assert scaler.outcomes()[stuck] == "boot-timeout"
        assert scaler.metric("failed_boots_total") == 1


@pytest.mark.parametrize("status", TRANSIENT_STATUSES)
def test_the_adapter_lists_every_transient_status_as_transient(simcloud, operator, tmp_path, status):
    with ScalerOnSimcloud(simcloud, operator, tmp_path, idle_jobs=1, max=1) as scaler:
        until(lambda: scaler.pool.busy_workers(), timeout=20)
    client.add_fault(simcloud.url, {"kind": "transient", "status": status, "name": WORKERS})
    worker = next(w for w in scaler.cloud.cloud.list_workers() if w.owned_by(STACK))
    assert (worker.status, worker.detail) == (TRANSIENT, status)


def test_a_live_migration_past_the_transient_timeout_kills_no_busy_worker(simcloud, operator,
                                                                          tmp_path, logs):
    with ScalerOnSimcloud(simcloud, operator, tmp_path, idle_jobs=2, max=2,
                          transient_timeout=0.5) as scaler:
        until(lambda: len(scaler.pool.busy_workers()) == 2, timeout=20)
        client.add_fault(simcloud.url, {"kind": "transient", "status": "MIGRATING", "name": WORKERS})
        until(lambda: set(listed(scaler).values()) == {TRANSIENT}, timeout=10)
        cycles = scaler.cycles()
        until(lambda: scaler.cycles() >= cycles + 10, timeout=20)    # 2 s past the timeout
        assert scaler.cloud.deleted == [] and scaler.pool.jobs_killed == 0
        assert "[busy-not-deleted]" in cases(logs) and "transient-timeout" in cases(logs)
        client.clear_faults(simcloud.url)                   # the migration ends
        until(lambda: set(listed(scaler).values()) == {ACTIVE}, timeout=10)
        assert len(scaler.pool.busy_workers()) == 2 and scaler.cloud.deleted == []


def test_api_5xx_skips_cycles_and_nothing_is_deleted_or_booted_twice(simcloud, operator, tmp_path,
                                                                       logs):
    with ScalerOnSimcloud(simcloud, operator, tmp_path, idle_jobs=2, max=4) as scaler:
        until(lambda: len(scaler.pool.busy_workers()) == 2, timeout=20)
        creates = scaler.creates()
        client.add_fault(simcloud.url, {"kind": "api_error", "status": 503, "method": "GET",
                                   "path": "/servers/detail", "count": 5})
        client.add_fault(simcloud.url, {"kind": "api_error", "status": 500, "method": "GET",
                                   "path": "/limits", "count": 3})
        until(lambda: scaler.metric("skipped_cycles_total") >= 8, timeout=20)
        cycles = scaler.cycles()
        until(lambda: scaler.cycles() >= cycles + 5, timeout=20)
        assert scaler.creates() == creates and scaler.cloud.deleted == []
        assert scaler.pool.jobs_killed == 0
    assert any("503" in e for e in scaler.cloud.errors) and any("500" in e for e in scaler.cloud.errors)
    assert "cycle skipped, observation failed: list servers" in cases(logs)


def test_a_failed_create_call_is_retried_and_leaks_nothing(simcloud, operator, tmp_path):
    client.add_fault(simcloud.url, {"kind": "api_error", "status": 500, "method": "POST",
                               "path": "/servers$", "count": 2})
    with ScalerOnSimcloud(simcloud, operator, tmp_path, idle_jobs=1, max=1,
                          backoff_seconds=0) as scaler:
        until(lambda: scaler.pool.busy_workers(), timeout=20)
        assert scaler.metric("boot_api_errors_total") == 2 and scaler.metric("boots_total") == 1
    assert len([s for s in simcloud.server.inventory()["servers"]]) == 1


def test_a_vm_stuck_in_deletion_raises_an_alert_and_is_not_a_boot(simcloud, operator, tmp_path, logs):
    client.add_fault(simcloud.url, {"kind": "boot_error", "name": WORKERS, "count": 1})
    client.add_fault(simcloud.url, {"kind": "delete_stuck", "name": WORKERS, "count": None})
    with ScalerOnSimcloud(simcloud, operator, tmp_path, idle_jobs=1, max=2, delete_timeout=1.0,
                          backoff_seconds=0) as scaler:
        until(lambda: scaler.cloud.deleted, timeout=20)
        stuck = scaler.cloud.deleted[0]
        until(lambda: scaler.pool.busy_workers(), timeout=20)    # replaced all the same
        until(lambda: "[stuck-delete]" in cases(logs), timeout=20)
        cycles = scaler.cycles()
        until(lambda: scaler.cycles() >= cycles + 5, timeout=20)
        assert listed(scaler)[stuck] == DELETING                     # still there, still deleting
        assert stuck in cases(logs)
        assert scaler.metric("failed_boots_total") == 1              # one failure, however long
        assert scaler.metric('workers{state="booting"}') == 0
        assert scaler.metric("stuck_deletes") == 1
        assert scaler.cloud.deleted.count(stuck) >= 2                # the delete is re-sent
    client.clear_faults(simcloud.url)


def test_the_server_group_member_quota_caps_boots(simcloud, operator, tmp_path):
    group = operator.compute.create_server_group(name=f"{STACK}-workers", policy="soft-anti-affinity")
    simcloud.server.configure(quotas={"server_group_members": 2})
    with ScalerOnSimcloud(simcloud, operator, tmp_path, idle_jobs=4, max=4,
                          server_group_id=group.id) as scaler:
        until(lambda: len(scaler.pool.busy_workers()) == 2, timeout=20)
        cycles = scaler.cycles()
        until(lambda: scaler.cycles() >= cycles + 5, timeout=20)
        assert scaler.creates() == 2                                  # never asked beyond it
        assert scaler.metric('quota_headroom{resource="server_group_members"}') == 0
    assert len(operator.compute.get_server_group(group.id).member_ids) == 2


def test_a_403_from_the_server_group_quota_is_no_failed_boot(simcloud, operator, tmp_path, logs):
    group = operator.compute.create_server_group(name=f"{STACK}-workers", policy="soft-anti-affinity")
    simcloud.server.configure(quotas={"server_group_members": 2})
    with ScalerOnSimcloud(simcloud, operator, tmp_path, idle_jobs=4, max=4, server_group_id=group.id,
                          hide_group_quota=True) as scaler:
        until(lambda: len(scaler.pool.busy_workers()) == 2, timeout=20)
        until(lambda: scaler.metric("quota_refusals_total") >= 3, timeout=20)
        assert scaler.metric("failed_boots_total") == 0 and scaler.metric("boot_api_errors_total") == 0
        assert all(outcome in (None, "ok") for outcome in scaler.outcomes().values())
        assert "[circuit-open]" not in cases(logs) and "[quota-refused]" in cases(logs)
        assert "too many servers in group" in cases(logs)
    assert len(simcloud.server.inventory()["servers"]) == 2


def test_the_adapter_turns_the_group_403_into_a_quota_error(simcloud, operator, tmp_path):
    from relval.autoscaler.adapters.openstack import OpenStackCloud

    group = operator.compute.create_server_group(name=f"{STACK}-workers", policy="anti-affinity")
    simcloud.server.configure(quotas={"server_group_members": 1})
    ids = simcloud.ids
    cloud = OpenStackCloud(scaler_connection(simcloud, operator), STACK, ids["images"]["alma9"],
                           ids["flavors"]["m1.small"], ids["networks"]["relval-net"],
                           server_group_id=group.id)
    cloud.create_worker(f"{STACK}-worker-1", {"relval-stack": STACK, "relval-role": "worker"})
    with pytest.raises(QuotaError, match="too many servers in group"):
        cloud.create_worker(f"{STACK}-worker-2", {"relval-stack": STACK, "relval-role": "worker"})
    headroom = cloud.limits().headroom()
    assert headroom.group_members == 0
    client.add_fault(simcloud.url, {"kind": "api_error", "status": 403, "method": "POST",
                               "path": "/servers$", "message": "Policy doesn't allow it"})
    simcloud.server.configure(quotas={"server_group_members": 10})
    with pytest.raises(CloudError) as refused:
        cloud.create_worker(f"{STACK}-worker-3", {"relval-stack": STACK, "relval-role": "worker"})
    assert not isinstance(refused.value, QuotaError)


def test_a_pool_under_load_settles_without_flapping(simcloud, operator, tmp_path):
    with ScalerOnSimcloud(simcloud, operator, tmp_path, idle_jobs=6, max=4) as scaler:
        until(lambda: len(scaler.pool.busy_workers()) == 4, timeout=20)
        cycles = scaler.cycles()
        until(lambda: scaler.cycles() >= cycles + 15, timeout=30)
        assert scaler.creates() == 4 and scaler.cloud.deleted == []
        assert {s for s in listed(scaler).values()} == {ACTIVE}
