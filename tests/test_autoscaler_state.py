"""State on disk, reconciliation by tag, and the controller's cycle against the fakes."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from relval.autoscaler.config import Flavor, ScalerConfig
from relval.autoscaler.controller import Controller
from relval.autoscaler.fakes import FakeCloud, FakeCondor
from relval.autoscaler.model import (ACTIVE, BUILD, BUSY, DRAINING, IDLE, NOT_JOINED, Boot, Delete,
                                     Drain, Limits, Slot, Worker)
from relval.autoscaler.state import (Instance, JsonStore, ScalerState, machines, reconcile,
                                     record_boot)

STACK = "s"
MD = {"relval-stack": STACK, "relval-role": "worker"}
CFG = ScalerConfig(stack=STACK, min=1, max=10, flavor=Flavor(8, 16000), idle_timeout=600)


class Clock:
    def __init__(self, t: float = 1000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


def make(tmp_path, clock=None, **kw):
    clock = clock or Clock()
    cloud = FakeCloud(STACK, Limits(30, 400, 800000), clock=clock)
    condor = FakeCondor()
    ctl = Controller(cloud, condor, CFG, JsonStore(tmp_path / "state.json"), **kw)
    return cloud, condor, ctl, clock


def test_store_round_trips_and_writes_atomically(tmp_path):
    store = JsonStore(tmp_path / "sub" / "state.json")
    assert store.load().instances == {}
    state = ScalerState()
    state.instances["a"] = Instance("a", 5.0, active_since=7.0, condor=IDLE, condor_since=9.0)
    record_boot(state, Boot(1, "why"), ["b"], 10.0)
    store.save(state)
    again = store.load()
    assert again.instances["a"].condor_since == 9.0 and again.boots[0].id == "b"
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["state.json"]  # no temp files left
    assert json.loads((tmp_path / "sub" / "state.json").read_text())["version"] == 1


@pytest.mark.parametrize("text", ["", "{\"version\": 1, \"insta", json.dumps({"version": 99}),
                                  "[1, 2]", json.dumps({"version": 1, "instances": {
                                      "a": {"id": "a", "created_at": 1, "colour": "red"}}})],
                         ids=["empty", "truncated", "other-version", "not-an-object",
                              "unknown-field"])
def test_a_broken_state_file_is_moved_aside_and_rebuilt_from_the_cloud(tmp_path, text, caplog):
    (tmp_path / "state.json").write_text(text)
    cloud, condor, ctl, clock = make(tmp_path)
    [backup] = tmp_path.glob("state.json.broken-*")
    assert backup.read_text() == text and "moved to" in caplog.text
    vm = cloud.add_vm(MD)
    result = ctl.cycle(clock())          # no crash loop: the cycle runs and adopts by tag
    assert result.error is None and vm.id in ctl.state.instances
    assert JsonStore(tmp_path / "state.json").load().instances.keys() == {vm.id}


def test_machines_aggregates_partitionable_and_dynamic_slots():
    slots = [Slot("a", "slot1@a", "a", "Unclaimed", "Idle", 6, 12000, "Partitionable"),
             Slot("a", "slot1_1@a", "a", "Claimed", "Busy", 2, 4000, "Dynamic"),
             Slot("b", "slot1@b", "b", "Unclaimed", "Idle", 8, 16000, "Partitionable"),
             Slot("c", "slot1@c", "c", "Drained", "Retiring", 7, 14000, "Partitionable", True),
             Slot("c", "slot1_1@c", "c", "Claimed", "Retiring", 1, 2000, "Dynamic", True),
             Slot(None, "slot1@other", "other", "Claimed", "Busy", 1, 1, "Dynamic")]
    m = machines(slots)
    assert (m["a"].state, m["a"].running_jobs, m["a"].free_cpus) == (BUSY, 1, 6)
    assert (m["b"].state, m["b"].running_jobs, m["b"].free_cpus) == (IDLE, 0, 8)
    assert (m["c"].state, m["c"].running_jobs) == (DRAINING, 1)
    assert "other" not in m


def test_reconcile_keeps_timers_and_adopts_unknown_vms_by_tag():
    state = ScalerState()
    state.instances["known"] = Instance("known", 100.0, active_since=300.0, condor=IDLE,
                                        condor_since=400.0)
    workers = [Worker("known", "k", ACTIVE, 100.0, MD), Worker("new", "n", BUILD, 900.0, MD)]
    slots = [Slot("known", "slot1@k", "k", "Unclaimed", "Idle", 8, 16000, "Partitionable")]
    obs = reconcile(state, workers, slots, [], {}, Limits(), STACK, 1000.0)
    views = {w.id: w for w in obs.workers}
    assert views["known"].condor_since == 400.0     # the idle timer continues
    assert views["new"].condor == NOT_JOINED and "new" in state.instances
    assert [b.id for b in state.boots if b.outcome is None] == ["new"]


def test_reconcile_counts_a_just_created_vm_missing_from_the_listing_as_booting():
    state = ScalerState()
    record_boot(state, Boot(1, "why"), ["fresh"], 990.0)
    obs = reconcile(state, [], [], [], {}, Limits(), STACK, 1000.0)
    assert [(w.id, w.cloud) for w in obs.workers] == [("fresh", BUILD)]
    later = reconcile(state, [], [], [], {}, Limits(), STACK, 1200.0)
    assert later.workers == () and state.boots[0].outcome == "vanished"


def test_cycle_boots_for_the_queue_with_stack_metadata(tmp_path):
    cloud, condor, ctl, clock = make(tmp_path, release="rel-1")
    condor.submit(20, 1, 2000, 600, clock())
    result = ctl.cycle(clock())
    assert len(result.created) == 3
    expected = {**MD, "relval-release": "rel-1", "relval-managed-by": "scaler"}
    assert all(cloud.vms[i].metadata == expected for i in result.created)
    assert set(JsonStore(tmp_path / "state.json").load().instances) == set(result.created)


def test_dry_run_changes_nothing(tmp_path):
    cloud, condor, ctl, clock = make(tmp_path, dry_run=True)
    condor.submit(20, 1, 2000, 600, clock())
    result = ctl.cycle(clock())
    assert sum(a.n for a in result.actions if isinstance(a, Boot)) == 3
    assert cloud.owned() == [] and not (tmp_path / "state.json").exists()


def test_a_failed_observation_skips_the_cycle(tmp_path):
    cloud, condor, ctl, clock = make(tmp_path)
    cloud.p_api_error = 1.0
    result = ctl.cycle(clock())
    assert result.error and result.actions == [] and ctl.counters.skipped_cycles == 1


def test_restart_after_unsaved_boots_adopts_them_no_duplicates(tmp_path):
    cloud, condor, ctl, clock = make(tmp_path)
    condor.submit(40, 1, 2000, 600, clock())
    first = ctl.cycle(clock(), persist=False)  # crash before the state write
    assert len(first.created) == 5
    clock.t += 60
    fresh = Controller(cloud, condor, CFG, JsonStore(tmp_path / "state.json"))
    second = fresh.cycle(clock())
    assert second.created == [] and set(fresh.state.instances) == set(first.created)


def test_restart_keeps_idle_timers(tmp_path):
    cloud, condor, ctl, clock = make(tmp_path)
    vms = [cloud.add_vm(MD) for _ in range(2)]
    for vm in vms:
        condor.join(vm.id, 8, 16000)
    ctl.cycle(clock())
    clock.t += 500
    ctl.cycle(clock())
    clock.t += 200   # 700 s idle in total, but only 200 s since the restart
    restarted = Controller(cloud, condor, CFG, JsonStore(tmp_path / "state.json"))
    drains = [a for a in restarted.cycle(clock()).actions if isinstance(a, Drain)]
    assert len(drains) == 1  # min 1 keeps the other


def test_drain_then_delete_once_empty(tmp_path):
    cloud, condor, ctl, clock = make(tmp_path)
    vms = [cloud.add_vm(MD) for _ in range(2)]
    for vm in vms:
        condor.join(vm.id, 8, 16000)
    ctl.cycle(clock())
    clock.t += 700
    drained = [a.worker for a in ctl.cycle(clock()).actions if isinstance(a, Drain)]
    assert condor.startds[drained[0]].draining
    clock.t += 15
    deleted = [a.worker for a in ctl.cycle(clock()).actions if isinstance(a, Delete)]
    assert deleted == drained and drained[0] not in cloud.vms
    assert len(cloud.owned()) == 1


def test_fakes_reject_misspelt_methods():
    cloud, condor = FakeCloud(STACK), FakeCondor()
    with pytest.raises(AttributeError, match="did you mean 'create_worker'"):
        cloud.create_workers("x", {})
    with pytest.raises(AttributeError, match="did you mean 'idle_jobs'"):
        condor.idle_job()
    with pytest.raises(AttributeError):
        cloud.list_servers = lambda: []


def test_queue_quiet_time_is_kept_across_cycles_and_restarts(tmp_path):
    cloud, condor, ctl, clock = make(tmp_path)
    condor.submit(1, 1, 2000, 0, clock())
    assert ctl.cycle(clock()).observed.queue_quiet_since is None
    condor.idle.clear()
    clock.t += 15
    assert ctl.cycle(clock()).observed.queue_quiet_since == clock.t
    clock.t += 300
    restarted = Controller(cloud, condor, CFG, JsonStore(tmp_path / "state.json"))
    assert restarted.cycle(clock()).observed.queue_quiet_since == clock.t - 300


def test_emptiest_busy_worker_is_drained_its_job_finishes_then_it_goes(tmp_path):
    from relval.autoscaler.fakes import FakeJob
    cloud, condor, ctl, clock = make(tmp_path)
    vms = [cloud.add_vm(MD) for _ in range(3)]
    for vm, n in zip(vms, (6, 1, 0)):
        startd = condor.join(vm.id, 8, 16000)
        startd.jobs = [FakeJob(i, 1, 2000, 1800, 0.0, 0.0, vm.id) for i in range(n)]
    ctl.cycle(clock())
    clock.t += 601
    drains = [a for a in ctl.cycle(clock()).actions if isinstance(a, Drain)]
    # 7 running cores fill one worker: the idle one and the one with a single job go.
    assert sorted((a.worker, a.retire) for a in drains) == sorted(
        [(vms[2].id, False), (vms[1].id, True)])
    assert condor.startds[vms[1].id].draining and condor.startds[vms[1].id].jobs
    clock.t += 15
    deleted = [a.worker for a in ctl.cycle(clock()).actions if isinstance(a, Delete)]
    assert deleted == [vms[2].id]                  # the busy one keeps running its job
    condor.startds[vms[1].id].jobs.clear()
    clock.t += 15
    deleted = [a.worker for a in ctl.cycle(clock()).actions if isinstance(a, Delete)]
    assert deleted == [vms[1].id]


def test_the_fake_refuses_an_idle_drain_of_a_worker_that_got_a_job_meanwhile():
    from relval.autoscaler.fakes import FakeJob
    from relval.autoscaler.interfaces import CondorError
    condor = FakeCondor()
    startd = condor.join("vm-1", 8, 16000)
    startd.jobs = [FakeJob(1, 1, 2000, 60, 0.0, 0.0, "vm-1")]
    with pytest.raises(CondorError, match="refused"):
        condor.drain("vm-1")
    condor.drain("vm-1", retire=True)
    assert startd.draining and startd.jobs


def test_worker_size_is_learned_from_what_joined_workers_advertise_per_flavor(tmp_path):
    cloud, condor, ctl, clock = make(tmp_path)
    assert ctl.cycle(clock()).observed.worker_size is None          # nothing joined yet
    vm = cloud.add_vm(MD)
    condor.join(vm.id, 8, 14600)                                     # 16 GB flavor
    clock.t += 15
    assert ctl.cycle(clock()).observed.worker_size == (8, 14600)
    del condor.startds[vm.id]
    clock.t += 15
    restarted = Controller(cloud, condor, CFG, JsonStore(tmp_path / "state.json"))
    assert restarted.cycle(clock()).observed.worker_size == (8, 14600)   # kept in the file
    other = Controller(cloud, condor, replace(CFG, flavor=Flavor(16, 32000)),
                       JsonStore(tmp_path / "state.json"))
    assert other.cycle(clock()).observed.worker_size is None       # a new flavor: not yet


def test_slot_totals_come_from_the_partitionable_slot():
    slots = FakeCondor().join("vm-1", 8, 14600)
    slots.jobs = []
    [m] = machines(slots.ads()).values()
    assert (m.total_cpus, m.total_memory_mb) == (8, 14600)
