"""Who owns a worker, and the teardown protocol: no VM leaked, none of another's deleted."""

from __future__ import annotations

from dataclasses import replace

from relval.autoscaler.config import Flavor, ScalerConfig
from relval.autoscaler.controller import Controller
from relval.autoscaler.fakes import FakeCloud, FakeCondor
from relval.autoscaler.model import ERROR, Alert
from relval.autoscaler.state import JsonStore
from relval.autoscaler.teardown import request_stop, teardown

STACK = "s"
CFG = ScalerConfig(stack=STACK, min=1, max=10, flavor=Flavor(8, 16000), idle_timeout=600)
WORKER = {"relval-stack": STACK, "relval-role": "worker"}
HEAD = {"relval-stack": STACK, "relval-role": "head"}


class Clock:
    def __init__(self, t: float = 1000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t

    def sleep(self, dt: float) -> None:
        self.t += dt


def controller(tmp_path, cloud, config=CFG, **kw) -> Controller:
    return Controller(cloud, FakeCondor(), config, JsonStore(tmp_path / "state.json"), **kw)


# --- ownership ------------------------------------------------------------------------------

def test_pulumis_workers_are_never_adopted_drained_or_deleted(tmp_path):
    clock = Clock()
    cloud = FakeCloud(STACK, clock=clock)
    pulumi_worker = cloud.add_vm({**WORKER, "relval-managed-by": "pulumi"}, status=ERROR)
    ctl = controller(tmp_path, cloud)
    for _ in range(5):
        clock.t += 3600      # long past every timeout
        result = ctl.cycle(clock())
        assert pulumi_worker.id not in {w.id for w in result.observed.workers}
        assert pulumi_worker.id not in result.deleted
    assert pulumi_worker.id in cloud.vms and pulumi_worker.id not in ctl.state.instances


def test_two_stacks_with_the_same_name_leave_each_others_workers_alone(tmp_path):
    clock = Clock()
    cloud = FakeCloud(STACK, clock=clock)
    a, b = replace(CFG, stack_id="id-a"), replace(CFG, stack_id="id-b")
    theirs = cloud.add_vm({**WORKER, "relval-stack-id": "id-b"}, status=ERROR)
    ctl_a = controller(tmp_path, cloud, a)
    created = ctl_a.cycle(clock()).created        # tops up to min with its own identity
    assert created and all(cloud.vms[i].metadata["relval-stack-id"] == "id-a" for i in created)
    clock.t += 3600
    assert theirs.id not in ctl_a.cycle(clock()).deleted
    # B sees only its own (repaired meanwhile, so B keeps it), never A's.
    theirs.status = "ACTIVE"
    ctl_b = controller(tmp_path / "b", cloud, b)
    seen = {w.id for w in ctl_b.cycle(clock()).observed.workers}
    assert theirs.id in seen and not seen & set(created)
    report = teardown(cloud, STACK, stack_id="id-a", sleep=clock.sleep, clock=clock)
    assert sorted(report.deleted) == sorted(created) and theirs.id in cloud.vms


def test_teardown_leaves_pulumis_workers_to_pulumi_destroy():
    cloud = FakeCloud(STACK)
    static = cloud.add_vm({**WORKER, "relval-managed-by": "pulumi"})
    scaled = cloud.add_vm({**WORKER, "relval-managed-by": "scaler"})
    report = teardown(cloud, STACK, sleep=lambda s: None)
    assert report.deleted == [scaled.id] and static.id in cloud.vms


# --- the teardown protocol ----------------------------------------------------------------------

def test_a_stop_request_on_the_head_stops_the_scaler_for_good_and_is_answered(tmp_path):
    clock = Clock()
    cloud = FakeCloud(STACK, clock=clock)
    head = cloud.add_vm(HEAD)
    ctl = controller(tmp_path, cloud, replace(CFG, min=3))
    cloud.set_metadata(head.id, {"relval-scaler-stop": "tok-1"})
    result = ctl.cycle(clock())
    assert result.created == [] and [a.case for a in result.actions] == ["stopped"]
    assert head.metadata["relval-scaler-stopped"] == "tok-1"
    # For good: a restarted process reads it from its state file, even if the flag went.
    del head.metadata["relval-scaler-stop"]
    again = controller(tmp_path, cloud, replace(CFG, min=3))
    clock.t += 60
    assert again.cycle(clock()).created == []


def test_a_stop_file_stops_the_scaler_too(tmp_path):
    cloud = FakeCloud(STACK)
    (tmp_path / "stop").touch()
    ctl = controller(tmp_path, cloud, replace(CFG, min=3), stop_file=tmp_path / "stop")
    result = ctl.cycle(1000.0)
    assert result.created == [] and isinstance(result.actions[0], Alert)


def test_request_stop_waits_for_the_running_scalers_answer(tmp_path):
    clock = Clock()
    cloud = FakeCloud(STACK, clock=clock)
    cloud.add_vm(HEAD)
    ctl = controller(tmp_path, cloud, replace(CFG, min=3))

    def sleep(dt):                 # the scaler runs a cycle while teardown waits
        clock.sleep(dt)
        ctl.cycle(clock())

    report = request_stop(cloud, STACK, sleep=sleep, clock=clock, poll_s=15)
    assert report.acknowledged and report.heads and report.waited_s <= 15
    booted = len(cloud.owned())
    sleep(15)
    assert len(cloud.owned()) == booted      # stopped: nothing boots any more


def test_request_stop_without_a_running_scaler_says_so():
    clock = Clock()
    cloud = FakeCloud(STACK, clock=clock)
    cloud.add_vm(HEAD)
    report = request_stop(cloud, STACK, timeout_s=60, poll_s=5, sleep=clock.sleep, clock=clock)
    assert report.heads and not report.acknowledged and report.waited_s >= 60
    assert not request_stop(FakeCloud(STACK), STACK, sleep=clock.sleep, clock=clock).heads


def test_the_sweep_waits_for_a_create_that_lands_after_the_first_empty_listing():
    clock = Clock()
    cloud = FakeCloud(STACK, clock=clock)
    calls = {"n": 0}

    def sleep(dt):
        clock.sleep(dt)
        calls["n"] += 1
        if calls["n"] == 1:          # a create sent just before the stop, listed late
            cloud.add_vm(WORKER)

    report = teardown(cloud, STACK, sleep=sleep, clock=clock, poll_s=5, settle_s=30)
    assert report.clean and len(report.deleted) == 1 and not cloud.owned()



# --- quota ---------------------------------------------------------------------------------------

def test_quota_refusals_are_not_failed_boots_and_keep_the_breaker_shut(tmp_path):
    clock = Clock()
    cloud = FakeCloud(STACK, clock=clock, p_quota_refused=1.0)
    condor = FakeCondor()
    ctl = Controller(cloud, condor, CFG, JsonStore(tmp_path / "state.json"))
    condor.submit(40, 1, 2000, 600, clock())
    for _ in range(10):
        result = ctl.cycle(clock())
        assert result.created == [] and "quota-refused" in [a.case for a in result.actions]
        clock.t += 60
    assert not [b for b in ctl.state.boots if b.failed] and ctl.counters.failed_boots == 0
    cloud.p_quota_refused = 0.0          # room again: boots go ahead at once, no probe
    result = ctl.cycle(clock())
    assert len(result.created) == 5 and result.actions[-1].case == "scale-up"


def test_boots_are_capped_by_the_server_group_member_quota():
    from relval.autoscaler.core import decide
    from relval.autoscaler.model import Boot, Headroom, Job, Observed

    obs = Observed(idle_jobs=(Job(1, 2000, 160),), headroom=Headroom(group_members=3))
    [boot] = [a for a in decide(obs, replace(CFG, max=20), 0.0) if isinstance(a, Boot)]
    assert boot.n == 3 and "server group" in boot.reason
