"""Discrete-event simulation of a cloud project and a condor pool, driving a scaling policy.

A virtual clock jumps from event to event (boot finished, job done, negotiator cycle,
collector update, policy tick), so hours run in well under a second per scenario.
The `relval` policy is the real `Controller` (reconcile, `decide`, apply, the JSON
state file) over the in-memory fakes; `elastiq` is the baseline in `elastiq.py`.

Accounting (all in virtual seconds, up to `duration_s`):
- vm_seconds: worker VMs in existence, failed ones included (they hold quota);
- idle_vm_seconds: worker VMs in existence that run no job (booting, failed, idle);
- time_to_capacity_s: from the first submission until the joined workers reach the
  size the first burst needs (FFD into what a worker advertises), or max, or what the project's
  quota leaves after the head and foreign VMs; None if never reached;
- duplicate_boots: VMs created while a live VM of the pool was unknown to the policy
  (e.g. one booted just before a crash and missing from its state);
- leaked_vms_after_teardown: the pool's VMs still there after the policy's teardown
  (at the end of the run, or at `teardown_at_s` while the policy still runs: relval
  goes through the real protocol of `teardown.py`, elastiq deletes the ids it knows;
  counted once `pulumi destroy` has removed the head, DESTROY_S later); a VM whose
  delete the cloud never completes is not leaked but counted in stuck_deletes;
- stuck_deletes: VMs still being deleted at the end (`cloud.p_stuck_delete`): the
  cloud's fault, for its operators; relval raises `stuck-delete` for them;
- jobs_killed: running jobs lost because their worker was deleted (they restart);
- alerts: the alert cases the policy raised (relval only; elastiq has none).

Collector outages (`collector_outages`): the collector answers with no startd ads
and the negotiator matches nothing, while running jobs carry on; afterwards each
startd reappears at its next update, spread over `startd_update_interval_s`, the
way a restarted collector fills up again.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import random
import tempfile
from collections import Counter
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable

from .config import Flavor, ScalerConfig
from .controller import Controller
from .core import pack
from .elastiq import Elastiq
from .fakes import FakeCloud, FakeCondor, FakeJob, FakeVM
from .model import (ACTIVE, BUILD, ERROR, ROLE_KEY, STACK_KEY, TRANSIENT, WORKER_ROLE, Alert,
                    Limits, Unfittable)
from .scenario import Scenario
from .state import JsonStore
from .teardown import teardown

POLICIES = ("relval", "elastiq")
STACK = "sim"
DESTROY_S = 60   # `pulumi destroy` after the sweep: the head, with its scaler, goes then
_quiet = logging.getLogger("relval.autoscaler.sim")
_quiet.addHandler(logging.NullHandler())
_quiet.propagate = False


class _VirtualTime(logging.LoggerAdapter):
    """Prefix each log line with the virtual time, so a run reads like the daemon's log."""

    def process(self, msg, kwargs):
        return f"t={self.extra.now:7.0f}s {msg}", kwargs


@dataclass
class SimResult:
    scenario: str
    policy: str
    time_to_capacity_s: float | None
    target_workers: int
    makespan_s: float | None
    jobs_total: int
    jobs_completed: int
    jobs_restarted: int
    jobs_killed: int
    vm_seconds: float
    idle_vm_seconds: float
    boots: int
    failed_boots: int
    api_errors: int
    busy_workers_deleted: int
    duplicate_boots: int
    leaked_vms_after_teardown: int
    peak_workers: int
    alert_cycles: int
    slowest_boot_s: float | None     # longest boot+join among the VMs that made up capacity
    virtual_s: float
    alerts: tuple[str, ...] = ()
    stuck_deletes: int = 0

    def to_json(self) -> dict:
        out = asdict(self)
        out["alerts"] = list(self.alerts)
        for key in ("vm_seconds", "idle_vm_seconds"):
            out[key] = round(out[key], 1)
        for key in ("time_to_capacity_s", "makespan_s", "slowest_boot_s"):
            out[key] = None if out[key] is None else round(out[key], 1)
        return out


class Simulation:
    def __init__(self, scenario: Scenario, policy: str = "relval", state_dir: str | None = None,
                 logger: logging.Logger = _quiet):
        if policy not in POLICIES:
            raise ValueError(f"unknown policy {policy!r}")
        self.sc, self.policy_name = scenario, policy
        self.log = _VirtualTime(logger, self)
        self.now = 0.0
        self._events: list = []
        self._seq = itertools.count()
        self._tmp = None if state_dir else tempfile.TemporaryDirectory(prefix="relval-sim-")
        self.state_dir = Path(state_dir or self._tmp.name)
        rng = random.Random(scenario.seed)
        # Independent streams, so one policy's extra API calls do not change the cloud's luck.
        self.fate_rng, self.job_rng = random.Random(rng.random()), random.Random(rng.random())
        sc = scenario
        quota = Limits(sc.quota_instances, sc.quota_cores, sc.quota_ram_mb,
                       max_group_members=sc.quota_group_members)
        self.cloud = FakeCloud(STACK, quota, (sc.flavor.cores, sc.flavor.ram_mb),
                               clock=lambda: self.now, rng=random.Random(rng.random()),
                               p_api_error=sc.p_api_error, on_create=self._on_create,
                               on_delete=self._on_delete, p_quota_refused=sc.p_quota_refused,
                               down=lambda: any(w.covers(self.now) for w in sc.api_outages))
        self.condor = FakeCondor(auto_publish=False)
        self.config: ScalerConfig = sc.scaler_config(STACK)
        self.stats = Counter()
        self.vm_seconds = self.idle_vm_seconds = 0.0
        self.peak = 0
        self.capacity_at: float | None = None
        self.last_done: float | None = None
        self.fates: dict[str, str] = {}
        self.boot_join: dict[str, tuple[float, float]] = {}
        self.down_until: float | None = None
        self.crash_pending = False
        self.accounting = True
        self.alerts: set[str] = set()
        self.leaked_at_teardown: int | None = None
        self.collector_down = False
        self.reappear: dict[str, float] = {}   # startd -> when it is back after an outage

        self.cloud.add_vm({STACK_KEY: STACK, ROLE_KEY: "head"}, ACTIVE, sc.head.cores,
                          sc.head.ram_mb, name="head")
        foreign = sc.foreign_flavor or sc.flavor
        for i in range(sc.foreign_instances):
            self.cloud.add_vm({"owner": "someone-else"}, ACTIVE, foreign.cores, foreign.ram_mb,
                              name=f"foreign-{i}")
        initial = [self.cloud.add_vm({STACK_KEY: STACK, ROLE_KEY: WORKER_ROLE}, ACTIVE,
                                     name=f"initial-{i}") for i in range(sc.initial)]
        for vm in initial:
            self.condor.join(vm.id, sc.flavor.cores, self.advertised_ram(vm))
        self.condor.publish()
        self.policy = self._new_policy()
        if policy == "elastiq":
            for vm in initial:
                self.policy.adopt(vm.id, 0.0)
        self.jobs_total = sum(b.count for b in sc.jobs)
        self.target = self._target()
        self.first_submit = sc.jobs[0].at_s if sc.jobs else None
        # Drawn last, so adding it left the other streams (and old results) unchanged.
        self.fault_rng = random.Random(rng.random())

    # --- event loop -----------------------------------------------------------------------
    def at(self, t: float, fn: Callable, *args) -> None:
        heapq.heappush(self._events, (t, next(self._seq), fn, args))

    def every(self, period: float, fn: Callable[[float], None], start: float = 0.0) -> None:
        def tick():
            fn(self.now)
            self.at(self.now + period, tick)
        self.at(start, tick)

    def run_until(self, t_end: float) -> None:
        while self._events and self._events[0][0] <= t_end:
            t, _, fn, args = heapq.heappop(self._events)
            self._advance(t)
            fn(*args)
        self._advance(max(self.now, t_end))

    def _advance(self, t: float) -> None:
        dt = t - self.now
        if dt > 0 and self.accounting:
            vms = self.cloud.owned()
            busy = sum(1 for vm in vms if self._running_on(vm.id))
            self.vm_seconds += dt * len(vms)
            self.idle_vm_seconds += dt * (len(vms) - busy)
        self.now = max(self.now, t)

    def _running_on(self, vm_id: str) -> bool:
        startd = self.condor.startds.get(vm_id)
        return bool(startd and startd.jobs)

    # --- the simulated cloud ----------------------------------------------------------------
    def _on_create(self, vm: FakeVM) -> None:
        sc, r = self.sc, self.fate_rng.random()
        self.stats["boots"] += 1
        if self.leaked_at_teardown is None and not self.accounting and self.sc.teardown_at_s:
            self.stats["boots_during_teardown"] += 1
        if r < sc.p_error:
            self.fates[vm.id] = "error"
            self.at(self.now + sc.error_after.sample(self.fate_rng), self._set_status, vm, BUILD, ERROR)
        elif r < sc.p_error + sc.p_stuck:
            self.fates[vm.id] = "stuck"
        else:
            never = self.fate_rng.random() < sc.p_never_join
            self.fates[vm.id] = "never-join" if never else "ok"
            boot = sc.boot_time.sample(self.fate_rng)
            self.at(self.now + boot, self._set_status, vm, BUILD, ACTIVE)
            if not never:
                join = sc.join_time.sample(self.fate_rng)
                self.boot_join[vm.id] = (self.now, boot + join)
                self.at(self.now + boot + join, self._join, vm)
        if self.fates[vm.id] != "ok":
            self.stats["failed_boots"] += 1
        # VMs being deleted are no workers (a stuck delete holds quota, not a place in max).
        self.peak = max(self.peak, sum(not v.deleting for v in self.cloud.owned()))

    def _set_status(self, vm: FakeVM, old: str, new: str) -> None:
        if vm.id in self.cloud.vms and vm.status == old and not vm.deleting:
            vm.status = new

    def _join(self, vm: FakeVM) -> None:
        if vm.id in self.cloud.vms and not vm.deleting and vm.status in (ACTIVE, TRANSIENT):
            self.condor.join(vm.id, vm.cores, self.advertised_ram(vm))
            self._check_capacity()

    def advertised_ram(self, vm: FakeVM) -> int:
        """What the startd advertises: the flavor's RAM less what the OS and condor keep."""
        return self.sc.advertised_ram_mb or vm.ram_mb

    def _on_delete(self, vm: FakeVM) -> None:
        lost = self.condor.leave(vm.id)
        if lost and self.accounting:   # teardown at the end stops jobs on purpose
            self.stats["busy_workers_deleted"] += 1
            self.stats["jobs_restarted"] += len(lost)
        # A stuck delete never completes: the VM stays listed, deleting, holding quota.
        # Drawn from the fault stream, so scenarios without it keep their old luck.
        if self.sc.p_stuck_delete and self.fault_rng.random() < self.sc.p_stuck_delete:
            self.stats["stuck_deletes"] += 1
            return
        self.at(self.now + self.sc.delete_time.sample(self.fate_rng), self.cloud.remove, vm.id)

    # --- the simulated pool -----------------------------------------------------------------
    def _submit(self, batch) -> None:
        for job in self.condor.submit(batch.count, batch.cores, batch.memory_mb, 0.0, self.now):
            job.runtime_s = batch.runtime.sample(self.job_rng)
        self._check_capacity()

    def _visible(self, instance_id: str) -> bool:
        return not self.collector_down and self.reappear.get(instance_id, 0.0) <= self.now

    def _negotiate(self, now: float) -> None:
        """Match idle jobs, in queue order, to the fullest partitionable slot that fits.

        HTCondor's default NEGOTIATOR_PRE_JOB_RANK ranks unclaimed slots by -Cpus, then
        -Memory, and a p-slot advertises what is left of it: the fullest slot wins, and
        with NEGOTIATOR_DEPTH_FIRST and CLAIM_PARTITIONABLE_LEFTOVERS one slot is filled
        before the next (the head's rendered config sets the first two). The same for
        both policies: placement is the negotiator's, not the scaler's.
        """
        startds = [s for s in self.condor.startds.values()
                   if not s.draining and self._visible(s.instance_id)]
        room = {s.instance_id: list(s.free) for s in startds}
        waiting: list[FakeJob] = []
        for i, job in enumerate(self.condor.idle):
            target = min((s for s in startds if room[s.instance_id][0] >= job.cpus
                          and room[s.instance_id][1] >= job.memory_mb),
                         key=lambda s: tuple(room[s.instance_id]), default=None)
            if target is None:
                waiting.append(job)
                if not any(r[0] > 0 for r in room.values()):
                    waiting.extend(self.condor.idle[i + 1:])
                    break
                continue
            r = room[target.instance_id]
            r[0] -= job.cpus
            r[1] -= job.memory_mb
            target.jobs.append(job)
            job.started_at, job.machine = now, target.instance_id
            self.condor.running[job.id] = job
            self.at(now + job.runtime_s, self._finish, job, now)
        self.condor.idle = waiting

    def _finish(self, job: FakeJob, started: float) -> None:
        if job.started_at != started or job.machine is None:
            return  # the worker was killed and the job went back to the queue
        startd = self.condor.startds.get(job.machine)
        if startd is not None and job in startd.jobs:
            startd.jobs.remove(job)
        self.condor.running.pop(job.id, None)
        job.machine = None
        self.stats["jobs_completed"] += 1
        self.last_done = self.now

    def _publish(self, now: float) -> None:
        self.condor.publish(self._visible)

    def _transient(self, fault) -> None:
        """Part of the ACTIVE workers shows a transient status; the guests keep working."""
        active = [vm for vm in self.cloud.owned() if vm.status == ACTIVE and not vm.deleting]
        for vm in self.fault_rng.sample(active, round(fault.fraction * len(active))):
            vm.status, vm.detail = TRANSIENT, fault.status
            self.at(self.now + fault.for_s, self._transient_end, vm)

    def _transient_end(self, vm: FakeVM) -> None:
        if vm.status == TRANSIENT:
            vm.status, vm.detail = ACTIVE, ""

    def _collector_outage(self, length: float) -> None:
        self.collector_down = True
        self.condor.publish(self._visible)
        self.at(self.now + length, self._collector_back)

    def _collector_back(self) -> None:
        self.collector_down = False
        spread = self.sc.startd_update_interval_s
        self.reappear = {iid: self.now + self.fault_rng.uniform(0, spread)
                         for iid in self.condor.startds}
        self.condor.publish(self._visible)

    def _check_capacity(self) -> None:
        if (self.capacity_at is None and self.target and self.first_submit is not None
                and self.now >= self.first_submit and len(self.condor.startds) >= self.target):
            self.capacity_at = self.now

    def _target(self) -> int:
        sc = self.sc
        if not sc.jobs:
            return 0
        first = [b for b in sc.jobs if b.at_s == sc.jobs[0].at_s]
        shapes = Counter()
        ram = sc.advertised_ram_mb or sc.flavor.ram_mb     # what a joined worker holds
        for b in first:
            if b.cores <= sc.flavor.cores and b.memory_mb <= ram:
                shapes[(b.cores, b.memory_mb)] += b.count
        worker = replace(self.config, flavor=Flavor(sc.flavor.cores, ram))
        bins, _ = pack(shapes, [], worker, 10 ** 6)
        fit = [sc.max]
        fl, ff = sc.flavor, sc.foreign_flavor or sc.flavor
        if sc.quota_instances is not None:
            fit.append(sc.quota_instances - sc.foreign_instances - 1)
        if sc.quota_cores is not None:
            fit.append((sc.quota_cores - sc.foreign_instances * ff.cores - sc.head.cores) // fl.cores)
        if sc.quota_ram_mb is not None:
            fit.append((sc.quota_ram_mb - sc.foreign_instances * ff.ram_mb - sc.head.ram_mb)
                       // fl.ram_mb)
        if sc.quota_group_members is not None:
            fit.append(sc.quota_group_members)
        return max(sc.min, min([bins] + fit))

    # --- the policy ---------------------------------------------------------------------------
    def _new_policy(self):
        if self.policy_name == "relval":
            return Controller(self.cloud, self.condor, self.config,
                              JsonStore(self.state_dir / "state.json", durable=False), logger=self.log)
        return Elastiq(self.cloud, self.condor, STACK, self.sc.min, self.sc.elastiq_max(),
                       self.state_dir / "elastiq.json", self.now,
                       idle_time_s=self.sc.elastiq_idle_timeout_s)

    def _live_pool(self) -> set[str]:
        return {vm.id for vm in self.cloud.owned() if not vm.deleting and vm.status != ERROR}

    def _policy_tick(self, fn_name: str, now: float) -> None:
        if self.down_until is not None:
            if now < self.down_until:
                return
            self.down_until = None
            self.policy = self._new_policy()   # a fresh process: only what is on disk
        live = self._live_pool()
        crash = self.crash_pending
        if self.policy_name == "relval":
            result = self.policy.cycle(now, persist=not crash)
            known = {w.id for w in result.observed.workers} if result.observed else live
            created = result.created
            raised = {a.case for a in result.actions if isinstance(a, (Alert, Unfittable))}
            if raised:
                self.stats["alert_cycles"] += 1
                self.alerts |= raised
        else:
            tick = getattr(self.policy, fn_name)(now)
            known, created = tick.known, tick.created
            if not crash:
                self.policy.save()
        self.stats["duplicate_boots"] += min(len(created), len(live - known))
        if crash:
            # The process dies right after this cycle's API calls, before saving its state.
            self.crash_pending = False
            self.down_until = now + self.sc.restart_downtime_s

    def _restart(self) -> None:
        self.crash_pending = True

    # --- run ------------------------------------------------------------------------------------
    def run(self) -> SimResult:
        sc = self.sc
        for batch in sc.jobs:
            self.at(batch.at_s, self._submit, batch)
        self.every(sc.negotiator_interval_s, self._negotiate, start=1.0)
        self.every(sc.collector_update_s, self._publish, start=0.5)
        if self.policy_name == "relval":
            self.every(self.config.poll_seconds, lambda now: self._policy_tick("cycle", now), start=2.0)
        else:
            for period, fn in self.policy.loops():
                self.every(period, lambda now, name=fn.__name__: self._policy_tick(name, now),
                           start=2.0)
        for t in sc.restart_daemon_at_s:
            self.at(t, self._restart)
        for window in sc.collector_outages:
            self.at(window.at_s, self._collector_outage, window.for_s)
        for fault in sc.transient:
            self.at(fault.at_s, self._transient, fault)
        if sc.teardown_at_s is not None:
            self.at(sc.teardown_at_s, self._relval_down)
        self.run_until(sc.duration_s)
        self.accounting = False
        self._events = [e for e in self._events if e[2] in (self.cloud.remove, self._set_status,
                                                            self._join, self._transient_end)]
        heapq.heapify(self._events)
        if self.leaked_at_teardown is None:
            self._teardown()
        return self._result()

    def _teardown(self) -> None:
        if self.policy_name == "relval":
            teardown(self.cloud, STACK, sleep=lambda dt: self.run_until(self.now + dt),
                     clock=lambda: self.now, timeout_s=900, poll_s=5)
        else:
            self.policy.teardown()
        self.run_until(self.now + 120)   # let the last deletes finish

    def _relval_down(self) -> None:
        """`relval down` while the scaler keeps running on the head, then destroy."""
        self.accounting = False          # jobs stopped from here on are stopped on purpose
        if self.policy_name == "relval":
            teardown(self.cloud, STACK, sleep=lambda dt: self.run_until(self.now + dt),
                     clock=lambda: self.now, timeout_s=900, poll_s=5, stop_scaler=True,
                     settle_s=2 * self.config.poll_seconds)
        else:
            self.policy.teardown()       # elastiq can only delete the ids it knows
            self.run_until(self.now + 30)
        self.run_until(self.now + DESTROY_S)
        self.down_until = float("inf")  # the head is destroyed: no policy any more
        self.run_until(self.now + 120)   # deletes sent before then complete
        self.leaked_at_teardown = self._left_over()

    def _result(self) -> SimResult:
        s = self.stats
        done = s["jobs_completed"]
        makespan = (self.last_done - self.first_submit
                    if done == self.jobs_total and self.jobs_total and self.last_done is not None
                    else None)
        ttc = None if self.capacity_at is None else self.capacity_at - self.first_submit
        slowest = None
        if self.capacity_at is not None:
            slowest = max((d for c, d in self.boot_join.values() if c + d <= self.capacity_at),
                          default=None)
        return SimResult(
            scenario=self.sc.name, policy=self.policy_name, time_to_capacity_s=ttc,
            target_workers=self.target, makespan_s=makespan, jobs_total=self.jobs_total,
            jobs_completed=done, jobs_restarted=s["jobs_restarted"], vm_seconds=self.vm_seconds,
            jobs_killed=s["jobs_restarted"],
            idle_vm_seconds=self.idle_vm_seconds, boots=s["boots"], failed_boots=s["failed_boots"],
            api_errors=self.cloud.calls.get("api_errors", 0),
            busy_workers_deleted=s["busy_workers_deleted"], duplicate_boots=s["duplicate_boots"],
            leaked_vms_after_teardown=(self._left_over() if self.leaked_at_teardown is None
                                       else self.leaked_at_teardown), peak_workers=self.peak,
            alert_cycles=s["alert_cycles"], slowest_boot_s=slowest, virtual_s=self.sc.duration_s,
            alerts=tuple(sorted(self.alerts)),
            stuck_deletes=sum(vm.deleting for vm in self.cloud.owned()))

    def _left_over(self) -> int:
        """The pool's VMs still there, those the cloud never finished deleting aside."""
        return sum(not vm.deleting for vm in self.cloud.owned())

    def close(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()


def simulate(scenario: Scenario, policy: str = "relval", logger: logging.Logger = _quiet) -> SimResult:
    sim = Simulation(scenario, policy, logger=logger)
    try:
        return sim.run()
    finally:
        sim.close()


def simulate_file(path, policy: str = "relval", trace: bool = False) -> SimResult:
    """`relval autoscale simulate`: load a scenario file and run one policy on it."""
    from .scenario import load_scenario

    if policy not in POLICIES:
        from relval.errors import RelvalError
        raise RelvalError(f"--policy must be one of {', '.join(POLICIES)} (got {policy!r})")
    logger = logging.getLogger("relval.autoscaler.trace") if trace else _quiet
    return simulate(load_scenario(path), policy, logger=logger)
