"""The pure decision core on hand-made states: one test (or more) per rule."""

from __future__ import annotations

from dataclasses import replace

import pytest

from relval.autoscaler.config import Flavor, ScalerConfig
from relval.autoscaler.core import backoff_delay, breaker, decide, learned_timeouts, pack
from relval.autoscaler.model import (ACTIVE, BUILD, BUSY, DRAINING, ERROR, IDLE, NOT_JOINED, TRANSIENT, Alert,
                                     Boot, BootRecord, Delete, Drain, Headroom, Job, Observed,
                                     Unfittable, WorkerState)

NOW = 10_000.0
CFG = ScalerConfig(stack="s", min=1, max=20, flavor=Flavor(8, 16000), poll_seconds=15,
                   idle_timeout=600, boot_timeout=900, join_timeout=600, max_concurrent_boots=20,
                   failure_window=1800, failure_rate_limit=0.5, failure_min_samples=5,
                   backoff_seconds=15, backoff_max_seconds=600)


def worker(wid: str, cloud=ACTIVE, condor=BUSY, since=NOW - 100, created=NOW - 1000, jobs=None,
           free=(0, 0), **kw) -> WorkerState:
    running = jobs if jobs is not None else (1 if condor == BUSY else 0)
    return WorkerState(wid, cloud, created, condor, since, active_since=created + 200,
                       running_jobs=running, free_cpus=free[0], free_memory_mb=free[1], **kw)


def jobs(n: int, cpus=1, mem=2000) -> tuple[Job, ...]:
    return (Job(cpus, mem, n),)


def kinds(actions, cls):
    return [a for a in actions if isinstance(a, cls)]


def booted(actions) -> int:
    return sum(a.n for a in kinds(actions, Boot))


# --- scale-up -----------------------------------------------------------------------------

def test_packs_idle_jobs_first_fit_decreasing_into_worker_sized_bins():
    # 160 single-core jobs need 20 eight-core workers; one busy worker exists.
    obs = Observed(idle_jobs=jobs(160), workers=(worker("w1"),))
    assert booted(decide(obs, CFG, NOW)) == 19  # max 20 minus the one already there


def test_mixed_sizes_are_packed_not_counted():
    # 3 x 6-core + 6 x 2-core: FFD puts a 2-core job beside each 6-core one -> 3 bins + 1.
    obs = Observed(idle_jobs=(Job(6, 1000, 3), Job(2, 1000, 6)), workers=(worker("w1"),))
    assert booted(decide(obs, CFG, NOW)) == 4


def test_memory_can_be_the_binding_request():
    obs = Observed(idle_jobs=jobs(8, cpus=1, mem=8000), workers=(worker("w1"),))
    assert booted(decide(obs, CFG, NOW)) == 4  # two 8 GB jobs per 16 GB worker


def test_free_room_of_booting_and_idle_workers_is_subtracted():
    booting = worker("b1", cloud=BUILD, condor=NOT_JOINED, created=NOW - 60)
    idle = worker("i1", condor=IDLE, since=NOW - 30, free=(8, 16000))
    obs = Observed(idle_jobs=jobs(24), workers=(booting, idle))
    assert booted(decide(obs, CFG, NOW)) == 1  # 24 jobs = 3 bins, 2 already paid for


def test_no_boot_when_existing_room_suffices():
    idle = worker("i1", condor=IDLE, since=NOW - 30, free=(8, 16000))
    assert booted(decide(Observed(idle_jobs=jobs(5), workers=(idle,)), CFG, NOW)) == 0


def test_never_exceeds_max():
    many = tuple(worker(f"w{i}") for i in range(18))
    assert booted(decide(Observed(idle_jobs=jobs(400), workers=many), CFG, NOW)) == 2


def test_never_exceeds_quota_headroom_and_says_so():
    obs = Observed(idle_jobs=jobs(160), workers=(worker("w1"),),
                   headroom=Headroom(instances=10, cores=40, ram_mb=None))
    actions = decide(obs, CFG, NOW)
    assert booted(actions) == 5  # 40 free cores / 8 per worker
    assert "quota: 40 cores left" in kinds(actions, Boot)[0].reason


def test_never_exceeds_max_concurrent_boots():
    cfg = replace(CFG, max_concurrent_boots=4)
    booting = worker("b1", cloud=BUILD, condor=NOT_JOINED, created=NOW - 60)
    actions = decide(Observed(idle_jobs=jobs(160), workers=(booting,)), cfg, NOW)
    assert booted(actions) == 3
    assert "maxConcurrentBoots 4" in kinds(actions, Boot)[0].reason


def test_jobs_that_never_fit_are_reported_not_booted_for():
    obs = Observed(idle_jobs=(Job(16, 1000, 2), Job(1, 64000, 1)), workers=(worker("w1"),))
    actions = decide(obs, CFG, NOW)
    assert booted(actions) == 0
    reported = {(a.cpus, a.memory_mb): a.count for a in kinds(actions, Unfittable)}
    assert reported == {(16, 1000): 2, (1, 64000): 1}


def test_pack_counts_only_up_to_what_can_be_booted():
    needed, used = pack({(1, 100): 10_000_000}, [], CFG, cap=5)
    assert needed == 6 and used == set()


# --- scale-down -----------------------------------------------------------------------------

def test_idle_worker_past_timeout_is_drained_not_deleted():
    idle = worker("i1", condor=IDLE, since=NOW - 700, free=(8, 16000))
    actions = decide(Observed(workers=(worker("w1"), idle)), CFG, NOW)
    assert [a.worker for a in kinds(actions, Drain)] == ["i1"]
    assert not kinds(actions, Delete)


def test_only_idle_workers_the_queue_cannot_use_are_drained():
    idle = tuple(worker(f"i{i}", condor=IDLE, since=NOW - 5000 + i, free=(8, 16000)) for i in range(3))
    actions = decide(Observed(idle_jobs=jobs(9), workers=(worker("w1"),) + idle), CFG, NOW)
    # 9 jobs fill the first idle worker and one more: the third one goes.
    assert [a.worker for a in kinds(actions, Drain)] == ["i2"]
    assert "not needed by the 9 idle job(s)" in kinds(actions, Drain)[0].reason


def test_idle_worker_within_timeout_is_kept():
    idle = worker("i1", condor=IDLE, since=NOW - 500, free=(8, 16000))
    assert decide(Observed(workers=(worker("w1"), idle)), CFG, NOW) == []


def test_idle_worker_needed_by_the_queue_is_not_drained():
    idle = worker("i1", condor=IDLE, since=NOW - 5000, free=(8, 16000))
    actions = decide(Observed(idle_jobs=jobs(3), workers=(worker("w1"), idle)), CFG, NOW)
    assert not kinds(actions, Drain)


def test_drained_empty_worker_is_deleted():
    drained = worker("d1", condor=DRAINING, jobs=0, since=NOW - 20)
    actions = decide(Observed(workers=(worker("w1"), drained)), CFG, NOW)
    assert [(a.worker, a.case) for a in kinds(actions, Delete)] == [("d1", "drained")]


def test_draining_worker_with_jobs_is_never_deleted():
    draining = worker("d1", condor=DRAINING, jobs=2, since=NOW - 5000)
    assert not kinds(decide(Observed(workers=(worker("w1"), draining)), CFG, NOW), Delete)


def test_busy_workers_are_never_deleted_or_drained_even_when_over_max():
    cfg = replace(CFG, max=2, min=0)
    busy = tuple(worker(f"w{i}", since=NOW - 99999) for i in range(5))
    actions = decide(Observed(workers=busy), cfg, NOW)
    assert not kinds(actions, Delete) and not kinds(actions, Drain)


def test_never_drains_below_min():
    cfg = replace(CFG, min=2)
    idle = tuple(worker(f"i{i}", condor=IDLE, since=NOW - 5000 - i, free=(8, 16000)) for i in range(3))
    actions = decide(Observed(workers=idle), cfg, NOW)
    assert [a.worker for a in kinds(actions, Drain)] == ["i2"]  # the longest idle one only


def test_tops_up_to_min():
    cfg = replace(CFG, min=3)
    actions = decide(Observed(workers=(worker("w1"),)), cfg, NOW)
    assert booted(actions) == 2 and kinds(actions, Boot)[0].case == "min-top-up"


# --- failed boots ---------------------------------------------------------------------------

def test_error_vm_is_deleted_and_replaced_after_backoff():
    err = worker("e1", cloud=ERROR, condor=NOT_JOINED, created=NOW - 40)
    obs = Observed(idle_jobs=jobs(8), workers=(worker("w1"), err),
                   boots=(BootRecord("e1", NOW - 40),))
    actions = decide(obs, CFG, NOW)
    assert [(a.worker, a.case) for a in kinds(actions, Delete)] == [("e1", "error")]
    assert booted(actions) == 0  # backoff holds the replacement for backoffSeconds
    # One cycle later the failure is on record and its backoff has passed.
    later = Observed(idle_jobs=jobs(8), workers=(worker("w1"),),
                     boots=(BootRecord("e1", NOW - 40, "error", NOW),))
    actions = decide(later, CFG, NOW + 15)
    assert booted(actions) == 1 and kinds(actions, Boot)[0].replaces == ("e1",)


def test_build_past_boot_timeout_is_deleted():
    stuck = worker("s1", cloud=BUILD, condor=NOT_JOINED, created=NOW - 901)
    actions = decide(Observed(workers=(worker("w1"), stuck)), CFG, NOW)
    assert [a.case for a in kinds(actions, Delete)] == ["boot-timeout"]


def test_build_within_boot_timeout_is_kept():
    booting = worker("s1", cloud=BUILD, condor=NOT_JOINED, created=NOW - 800)
    assert not kinds(decide(Observed(workers=(worker("w1"), booting)), CFG, NOW), Delete)


def test_active_but_never_joined_is_deleted_after_join_timeout():
    lost = WorkerState("n1", ACTIVE, NOW - 900, NOT_JOINED, NOW - 900, active_since=NOW - 601)
    actions = decide(Observed(workers=(worker("w1"), lost)), CFG, NOW)
    assert [a.case for a in kinds(actions, Delete)] == ["join-timeout"]
    fresh = replace(lost, active_since=NOW - 100)
    assert not kinds(decide(Observed(workers=(worker("w1"), fresh)), CFG, NOW), Delete)


def test_learned_boot_timeout_catches_stuck_vms_sooner():
    history = tuple(BootRecord(f"ok{i}", NOW - 5000 + i, "ok", NOW - 4000, build_s=180 + i)
                    for i in range(10))
    t = learned_timeouts(history, CFG)
    assert 180 <= t.boot < CFG.boot_timeout and "learned" in t.boot_why
    stuck = worker("s1", cloud=BUILD, condor=NOT_JOINED, created=NOW - 400)
    actions = decide(Observed(workers=(worker("w1"), stuck), boots=history), CFG, NOW)
    assert [a.case for a in kinds(actions, Delete)] == ["boot-timeout"]
    off = replace(CFG, adaptive_timeouts=False)
    assert not kinds(decide(Observed(workers=(worker("w1"), stuck), boots=history), off, NOW), Delete)


def test_backoff_grows_exponentially_with_the_clouds_failures_in_a_row():
    assert [backoff_delay(g, CFG) for g in range(7)] == [15, 30, 60, 120, 240, 480, 600]
    # Four boots of different places failed one after the other: the fourth waits 120 s.
    run = tuple(BootRecord(f"e{i}", NOW - 500 + i, "error", NOW - 100) for i in range(4))
    obs = Observed(idle_jobs=jobs(8), workers=(worker("w1"),), boots=run[-1:] + tuple(
        replace(b, replaced=True) for b in run[:-1]))
    assert booted(decide(obs, CFG, NOW)) == 0
    assert "held back by backoff" in decide(replace(obs, idle_jobs=jobs(16)), CFG, NOW)[0].reason
    assert booted(decide(obs, CFG, NOW + 21)) == 1


def test_a_long_replacement_chain_on_a_cloud_where_boots_succeed_waits_little():
    """Boots fail independently of the place they fill: the 6th failure of one place,
    among successes elsewhere, is bad luck, not a reason to keep the queue waiting."""
    ok = tuple(BootRecord(f"ok{i}", NOW - 400 + i, "ok", NOW - 150) for i in range(3))
    unlucky = BootRecord("e5", NOW - 300, "error", NOW - 40, generation=5)
    obs = Observed(idle_jobs=jobs(8), workers=(worker("w1"),), boots=ok + (unlucky,))
    actions = decide(obs, CFG, NOW)
    assert booted(actions) == 1 and kinds(actions, Boot)[0].replaces == ("e5",)


def test_a_failure_among_boots_still_booting_is_no_run():
    burst = tuple(BootRecord(f"p{i}", NOW - 60 + i) for i in range(10))
    errors = tuple(BootRecord(f"e{i}", NOW - 60 + i + 0.5, "error", NOW - 20) for i in range(3))
    obs = Observed(idle_jobs=jobs(8), workers=(worker("w1"),), boots=burst + errors)
    assert booted(decide(obs, CFG, NOW)) == 1      # 15 s after the errors: replaced


def test_circuit_breaker_stops_boots_and_raises_an_alert():
    history = tuple(BootRecord(f"f{i}", NOW - 600 + i, "error", NOW - 500) for i in range(6))
    obs = Observed(idle_jobs=jobs(160), workers=(worker("w1"),), boots=history)
    actions = decide(obs, CFG, NOW)
    assert booted(actions) == 0
    assert kinds(actions, Alert) and "6 of the last 6 boots failed" in kinds(actions, Alert)[0].reason


def test_circuit_breaker_ignores_failures_that_arrive_before_slower_successes():
    # 6 errors came back at once while 14 boots of the same burst are still booting.
    history = tuple(BootRecord(f"f{i}", NOW - 60, "error", NOW - 30) for i in range(6)) + \
        tuple(BootRecord(f"p{i}", NOW - 60) for i in range(14))
    assert breaker(history, CFG, NOW)[0] == "closed"


def test_circuit_breaker_half_opens_with_one_probe_after_the_window():
    history = tuple(BootRecord(f"f{i}", NOW - 4000 + i, "error", NOW - 3900) for i in range(6))
    obs = Observed(idle_jobs=jobs(160), workers=(worker("w1"),), boots=history)
    actions = decide(obs, CFG, NOW)
    assert booted(actions) == 1 and kinds(actions, Boot)[0].case.startswith("probe")
    # A failed probe lengthens the streak: the next probe waits backoffMaxSeconds.
    failed_probe = BootRecord("probe1", NOW, "error", NOW + 30)
    later = replace(obs, boots=history + (failed_probe,))
    assert booted(decide(later, CFG, NOW + 100)) == 0
    assert booted(decide(later, CFG, NOW + 30 + CFG.backoff_max_seconds)) == 1


def test_half_the_boots_failing_keeps_booting_with_an_alert():
    """On a hostile cloud some boots succeed: stopping would only make the queue wait."""
    history = tuple(BootRecord(f"b{i}", NOW - 900 + i, "error" if i % 5 < 3 else "ok", NOW - 100)
                    for i in range(20))                     # 60% fail, in runs of 3
    assert breaker(history, CFG, NOW)[0] == "degraded"
    actions = decide(Observed(idle_jobs=jobs(160), workers=(worker("w1"),), boots=history), CFG, NOW)
    assert booted(actions) == 19
    assert [a.case for a in kinds(actions, Alert)] == ["boot-failures"]


def test_a_long_failure_streak_after_older_successes_is_nothing_boots():
    history = tuple(BootRecord(f"ok{i}", NOW - 1500 + i, "ok", NOW - 1400) for i in range(10)) + \
        tuple(BootRecord(f"f{i}", NOW - 1000 + i, "error", NOW - 900) for i in range(10))
    assert breaker(history, CFG, NOW)[0] == "open"
    assert breaker(history[:15], CFG, NOW)[0] != "open"         # a run of 5: keep going


def test_a_30_percent_failure_rate_keeps_booting():
    history = tuple(BootRecord(f"b{i}", NOW - 900 + i, "error" if i % 10 < 3 else "ok", NOW - 100)
                    for i in range(20))
    assert breaker(history, CFG, NOW)[0] == "closed"


# --- ownership ------------------------------------------------------------------------------

def test_only_owned_workers_count(tmp_path):
    """Foreign VMs and the head never reach the core: reconcile keeps this stack's workers."""
    from relval.autoscaler.model import Limits, Worker
    from relval.autoscaler.state import ScalerState, reconcile

    md = {"relval-stack": "s", "relval-role": "worker"}
    listing = [Worker("w1", "w1", ACTIVE, NOW - 500, md),
               Worker("head", "head", ACTIVE, NOW - 500, {"relval-stack": "s", "relval-role": "head"}),
               Worker("other", "x", ACTIVE, NOW - 500, {"relval-stack": "t", "relval-role": "worker"}),
               Worker("foreign", "y", ERROR, NOW - 500, {})]
    obs = reconcile(ScalerState(), listing, [], [], {}, Limits(), "s", NOW)
    assert [w.id for w in obs.workers] == ["w1"]
    # The foreign VM in ERROR is not ours to delete.
    assert not kinds(decide(obs, CFG, NOW), Delete)


def test_every_action_names_its_case_and_reason():
    err = worker("e1", cloud=ERROR, condor=NOT_JOINED)
    idle = worker("i1", condor=IDLE, since=NOW - 9999, free=(8, 16000))
    obs = Observed(idle_jobs=jobs(1, cpus=64), workers=(worker("w1"), err, idle))
    actions = decide(obs, CFG, NOW)
    assert {type(a) for a in actions} >= {Delete, Drain, Unfittable}
    assert all(a.reason and a.case for a in actions)


@pytest.mark.parametrize("idle_jobs", [0, 5, 40, 160])
def test_pool_settles_without_flapping(idle_jobs):
    """Drive decide against a tiny deterministic pool for many cycles: the size settles."""
    cfg = replace(CFG, min=2, max=10)
    workers: dict[str, WorkerState] = {}
    queue = idle_jobs
    sizes, t, seq = [], 0.0, 0
    for cycle in range(400):
        t = cycle * cfg.poll_seconds
        # Workers boot in 3 cycles; each joined worker takes up to 8 queued jobs and
        # keeps them for the whole run (steady load).
        views = []
        for wid, w in list(workers.items()):
            if w.cloud == BUILD and t - w.created_at >= 45:
                take = min(8, queue)
                queue -= take
                w = workers[wid] = replace(w, cloud=ACTIVE, condor=BUSY if take else IDLE,
                                           condor_since=t, running_jobs=take,
                                           free_cpus=8 - take, free_memory_mb=16000)
            views.append(w)
        actions = decide(Observed(idle_jobs=jobs(queue) if queue else (), workers=tuple(views)), cfg, t)
        for a in actions:
            if isinstance(a, Boot):
                for _ in range(a.n):
                    seq += 1
                    workers[f"n{seq}"] = WorkerState(f"n{seq}", BUILD, t, NOT_JOINED, t)
            elif isinstance(a, Drain):
                workers[a.worker] = replace(workers[a.worker], condor=DRAINING, condor_since=t)
            elif isinstance(a, Delete):
                assert workers[a.worker].running_jobs == 0
                del workers[a.worker]
        sizes.append(len(workers))
    tail = sizes[-100:]
    expected = min(cfg.max, max(cfg.min, -(-idle_jobs // 8)))
    assert len(set(tail)) == 1 and tail[0] == expected
    changes = sum(1 for a, b in zip(sizes, sizes[1:]) if a != b)
    assert changes <= 4  # up once (maybe in steps), never up-down-up


# --- never kill busy workers ------------------------------------------------------------

def test_a_busy_worker_in_error_is_kept_and_reported():
    w = worker("w1", cloud=ERROR, condor=BUSY, jobs=3, joined=True)
    actions = decide(Observed(workers=(w,)), CFG, NOW)
    assert not kinds(actions, Delete)
    assert [a.case for a in kinds(actions, Alert)] == ["busy-not-deleted"]


def test_a_worker_the_schedd_says_is_busy_is_never_deleted():
    # Gone from the collector long ago, but the schedd still runs 4 jobs there.
    w = worker("w1", condor=NOT_JOINED, since=NOW - 5000, jobs=0, schedd_jobs=4, joined=True)
    obs = Observed(workers=(w, worker("w2"), worker("w3")), joined_listed=3, joined_visible=2)
    actions = decide(obs, CFG, NOW)
    assert not kinds(actions, Delete) and kinds(actions, Alert)[0].case == "busy-not-deleted"


def test_transient_statuses_are_waited_out_not_failed():
    w = worker("w1", cloud=TRANSIENT, condor=IDLE, jobs=0, joined=True, cloud_since=NOW - 3000,
               status_detail="MIGRATING", since=NOW - 5000)
    assert not kinds(decide(Observed(workers=(w, worker("w2"))), CFG, NOW), Delete)
    late = replace(w, cloud_since=NOW - CFG.transient_timeout - 1, condor=NOT_JOINED)
    [d] = kinds(decide(Observed(workers=(late, worker("w2"))), CFG, NOW), Delete)
    assert d.case == "transient-timeout" and d.failure is None and "MIGRATING" in d.reason


def test_an_empty_collector_stops_every_absence_based_delete():
    # 20 workers joined; a restarted collector shows none of them: no deletes, an alert.
    pool = tuple(worker(f"w{i}", condor=NOT_JOINED, since=NOW - 1000, jobs=0, joined=True)
                 for i in range(20))
    never = worker("new", condor=NOT_JOINED, since=NOW - 2000, jobs=0, created=NOW - 2500)
    obs = Observed(workers=pool + (never,), joined_listed=20, joined_visible=0)
    actions = decide(obs, CFG, NOW)
    assert not kinds(actions, Delete)
    assert "collector-outage" in [a.case for a in kinds(actions, Alert)]


def test_absence_counts_only_from_the_collectors_recovery():
    w = worker("w1", condor=NOT_JOINED, since=NOW - 5000, jobs=0, joined=True)
    rest = tuple(worker(f"w{i}") for i in range(2, 6))
    recovered = Observed(workers=(w,) + rest, joined_listed=5, joined_visible=4,
                         collector_ok_since=NOW - 100)
    assert not kinds(decide(recovered, CFG, NOW), Delete)
    long_ago = replace(recovered, collector_ok_since=NOW - 5000)
    [d] = kinds(decide(long_ago, CFG, NOW), Delete)
    assert d.case == "lost" and d.failure is None   # joined once: not a failed boot


def test_join_timeout_is_never_below_twice_the_update_interval():
    condor_default = replace(CFG, startd_update_interval=300)   # workers with condor's 300 s
    fast = [BootRecord(f"b{i}", i, "ok", i + 60, build_s=40, join_s=20) for i in range(20)]
    t = learned_timeouts(fast, condor_default)
    assert t.join >= 2 * condor_default.startd_update_interval == 600
    short = replace(condor_default, join_timeout=120)
    w = worker("w1", condor=NOT_JOINED, since=NOW - 400, jobs=0, created=NOW - 450)
    assert not kinds(decide(Observed(workers=(w,)), short, NOW), Delete)


def test_absence_based_deletes_are_rate_limited():
    never = tuple(worker(f"n{i}", condor=NOT_JOINED, since=NOW - 2000, jobs=0,
                         created=NOW - 2500) for i in range(8))
    deletes = kinds(decide(Observed(workers=never), CFG, NOW), Delete)
    assert 0 < len(deletes) <= max(2, len(never) // 4)
    assert all(d.case == "join-timeout" and d.failure == "join-timeout" for d in deletes)


# --- stuck deletes ------------------------------------------------------------------------

def test_a_vm_being_deleted_is_no_worker_no_boot_and_its_delete_is_re_sent():
    """A failed boot whose delete never completes used to come back as a worker after
    120 s: counted as booting (holding a place) and deleted again as a second failure."""
    leaving = worker("w1", cloud=ERROR, condor=NOT_JOINED, deleting=True,
                     deleting_since=NOW - 300, delete_sent_at=NOW - 130)
    actions = decide(Observed(workers=(leaving,)), CFG, NOW)
    deletes = kinds(actions, Delete)
    assert [(d.worker, d.case, d.failure) for d in deletes] == [("w1", "delete-retry", None)]
    assert booted(actions) == 1                   # min 1: the VM being deleted is no worker
    assert not [a for a in kinds(actions, Alert) if a.case == "stuck-delete"]


def test_a_delete_that_lasts_past_delete_timeout_raises_an_alert():
    leaving = worker("w1", cloud=ACTIVE, condor=NOT_JOINED, deleting=True,
                     deleting_since=NOW - 700, delete_sent_at=NOW - 10)
    foreign = worker("w2", cloud="DELETING", condor=NOT_JOINED, deleting=True,
                     deleting_since=NOW - 900)    # deleted by someone else: not re-sent
    actions = decide(Observed(workers=(leaving, foreign)), CFG, NOW)
    alerts = [a for a in kinds(actions, Alert) if a.case == "stuck-delete"]
    assert len(alerts) == 1 and "w1, w2" in alerts[0].reason and "600" in alerts[0].reason
    assert kinds(actions, Delete) == []           # w1's delete was re-sent 10 s ago


# --- emptiest-drain -------------------------------------------------------------------------

def partly(wid: str, n_jobs: int, condor=BUSY) -> WorkerState:
    """A joined 8-core worker running n 1-core/2000 MB jobs."""
    return worker(wid, condor=condor, jobs=n_jobs, free=(8 - n_jobs, 16000 - 2000 * n_jobs))


def test_emptiest_workers_are_drained_once_the_queue_has_been_quiet_for_idle_timeout():
    # 14 running cores fill 2 workers: the 2 emptiest of 4 go, their jobs finish first.
    pool = (partly("full", 7), partly("half", 4), partly("two", 2), partly("one", 1))
    obs = Observed(workers=pool, queue_quiet_since=NOW - 601)
    drains = kinds(decide(obs, CFG, NOW), Drain)
    assert [(d.worker, d.case, d.retire) for d in drains] == [
        ("one", "emptiest-drain", True), ("two", "emptiest-drain", True)]
    assert "idleTimeout 600s" in drains[0].reason
    # Not while the queue was busy within idleTimeout, nor with jobs waiting, nor unknown.
    for quiet in (replace(obs, queue_quiet_since=NOW - 500), replace(obs, queue_quiet_since=None),
                  replace(obs, idle_jobs=jobs(1))):
        assert not kinds(decide(quiet, CFG, NOW), Drain)


def test_draining_workers_keep_their_jobs_counted_no_cascade():
    pool = (partly("full", 7), partly("half", 4), partly("two", 2, DRAINING),
            partly("one", 1, DRAINING))
    obs = Observed(workers=pool, queue_quiet_since=NOW - 5000)
    assert not kinds(decide(obs, CFG, NOW), Drain)
    # Jobs ended meanwhile: 7 cores left fill one worker, so "half" goes too.
    fewer = replace(obs, workers=(partly("full", 4), partly("half", 1)) + pool[2:])
    assert [d.worker for d in kinds(decide(fewer, CFG, NOW), Drain)] == ["half"]


def test_emptiest_drain_keeps_min_and_memory_counts():
    pool = (partly("a", 1), partly("b", 1), partly("c", 1))
    obs = Observed(workers=pool, queue_quiet_since=NOW - 700)
    assert len(kinds(decide(obs, replace(CFG, min=2), NOW), Drain)) == 1
    # Memory-bound jobs: 3 x 6000 MB need two 16 GB workers although they use 3 cores.
    big = tuple(worker(w, jobs=1, free=(7, 10000)) for w in "abc")
    assert len(kinds(decide(replace(obs, workers=big), CFG, NOW), Drain)) == 1


def test_jobs_are_packed_into_what_workers_advertise():
    # 7500 MB jobs: two per 16 GB flavor, one per worker advertising 14600 MB.
    obs = Observed(idle_jobs=jobs(8, cpus=2, mem=7500), workers=(worker("w1"),))
    assert booted(decide(obs, CFG, NOW)) == 4
    learned = replace(obs, worker_size=(8, 14600))
    assert booted(decide(learned, CFG, NOW)) == 8
    # A job that fits the flavor but no advertised worker is reported, never booted for.
    big = replace(learned, idle_jobs=jobs(2, cpus=4, mem=15000))
    actions = decide(big, CFG, NOW)
    assert booted(actions) == 0
    [u] = kinds(actions, Unfittable)
    assert u.count == 2 and "14600 MB as its startd advertises" in u.reason
