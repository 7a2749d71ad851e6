"""The pure decision core: `decide(observed, config, now) -> list[Action]`.

No I/O and no clock: everything comes in through `Observed` (built by `reconcile`)
and `now`, so tests and the simulator drive it exactly. Each rule is a named case
and every action carries its reason; the daemon logs them.

Cases, in the order they are applied:
- `collector-outage`: the collector shows far fewer startds than the workers known to
  have joined (a restart, an upgrade): an Alert, and no delete justified by absence
  from the collector (`join-timeout`, `lost`) until it recovers;
- failed boots: `error` (VM in ERROR), `boot-timeout` (BUILD too long),
  `join-timeout` (ACTIVE, startd never in the collector within a timeout that is never
  below 2 x startdUpdateInterval): delete, then replace after a backoff that grows
  exponentially with the cloud's run of failed boots in a row;
- `lost`: a worker that joined once and has been absent from the collector for twice
  the update interval; deleted (not a failed boot) only if the schedd runs nothing there;
- `transient-timeout`: a VM in a transient cloud state (MIGRATING, RESIZE, ...) past
  transientTimeout; transient states are waited out, never failures;
- `busy-not-deleted`: any of the above on a worker that runs jobs (by the collector or
  the schedd), ERROR included: never deleted, an Alert instead;
- absence-based deletes are rate-limited per cycle;
- `drained`: a draining worker with no jobs left is deleted (busy ones never are);
- VMs being deleted are no workers and never booting: the delete is re-sent
  (`delete-retry`) and one still listed past deleteTimeout raises `stuck-delete`;
- `unfittable`: jobs bigger than a worker are reported, never booted for;
- `scale-up`: idle jobs packed first-fit decreasing into worker-sized bins (the size
  joined workers advertise, learned per flavor; the flavor's until one joined), after the
  free room of booting and idle workers; capped by max, quota and concurrent boots;
- `min-top-up`: the pool is brought back to `min`;
- `idle-drain`: workers idle longer than idleTimeout, not needed by the queue, are
  drained (never below min);
- `emptiest-drain`: once no job has waited for idleTimeout, the emptiest workers beyond
  what the running jobs fill are drained, their jobs finishing first (never below min);
- `circuit-open`: nothing boots (the last boots all failed, none succeeded recently):
  boots stop and an Alert is raised; a single probe boot at a time is allowed after a
  backoff (`probe`). `boot-failures`: many boots fail but some succeed: an Alert, and
  boots go on, each failure replaced with backoff.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from operator import attrgetter

from .config import Flavor, ScalerConfig
from .model import (ACTIVE, BUILD, BUSY, DRAINING, ERROR, GONE, IDLE, NOT_JOINED, TRANSIENT,
                    Action, Alert, Boot, BootRecord, Delete, Drain, Observed, Unfittable,
                    WorkerState)


def decide(observed: Observed, config: ScalerConfig, now: float) -> list[Action]:
    actions: list[Action] = leaving_actions(observed, config, now)
    workers = [w for w in observed.workers if w.cloud != GONE and not w.deleting]
    by_id = {b.id: b for b in observed.boots}

    # Failed boots and lost workers first: they free their place in max and concurrency.
    new_failures: list[BootRecord] = []
    removed: set[str] = set()
    timeouts = learned_timeouts(observed.boots, config)
    outage = collector_outage(observed)
    if outage:
        actions.append(Alert(outage, case="collector-outage"))
    silent_budget = max(SILENT_DELETES_MIN, len(workers) // SILENT_DELETES_SHARE)
    for w in workers:
        verdict = boot_failure(w, config, now, timeouts, observed.collector_ok_since)
        if verdict is None:
            continue
        case, reason = verdict
        if case in SILENT_CASES:
            # Only the collector's silence speaks against these: never while it looks
            # broken, and only a few per cycle (a half-empty collector is not an outage yet).
            if outage or silent_budget == 0:
                continue
            silent_budget -= 1
        if busy(w):
            actions.append(Alert(f"{w.id} would be deleted ({case}) but {jobs_on(w)} job(s) "
                                 f"run there; kept, look at it", case="busy-not-deleted"))
            continue
        failure = case if case in FAILURE_CASES and not w.joined else None
        actions.append(Delete(w.id, reason, case=case, failure=failure))
        removed.add(w.id)
        record = by_id.get(w.id)
        if failure and (record is None or record.outcome is None):
            gen = record.generation if record else 0
            new_failures.append(BootRecord(w.id, w.created_at, case, now, gen))
    live = [w for w in workers if w.id not in removed]

    # Drained workers go once empty; a worker with jobs is never deleted.
    for w in live:
        if w.condor == DRAINING and not busy(w):
            actions.append(Delete(w.id, f"drained since {now - w.condor_since:.0f}s, no jobs left",
                                  case="drained"))
            removed.add(w.id)
    live = [w for w in live if w.id not in removed]

    size = worker_size(observed, config)
    fitting, unfittable = split_unfittable(observed.idle_jobs, config, size)
    for (cpus, mem), count in sorted(unfittable.items()):
        actions.append(Unfittable(count, cpus, mem,
                                  f"{count} idle job(s) ask {cpus} cores/{mem} MB, more than a "
                                  f"worker ({describe_size(size, config)})"))

    booting = [w for w in live if is_booting(w)]
    # Bins already paid for: booting workers (whole) and idle, undrained workers (their free room).
    open_bins: list[tuple[str, int, int]] = []
    for w in booting:
        open_bins.append((w.id, size.cores, size.ram_mb))
    for w in live:
        if w.cloud == ACTIVE and w.condor == IDLE and not w.drain_requested:
            open_bins.append((w.id, w.free_cpus or size.cores, w.free_memory_mb or size.ram_mb))

    limits = boot_limits(live, booting, observed, config)
    cap = min(v for v, _ in limits.values())
    needed, used_bins = pack(fitting, open_bins, config, cap, size)

    # Scale-down: idle past the timeout, not wanted by the queue, never below min.
    not_leaving = [w for w in live if not w.drain_requested and w.condor != DRAINING]
    spare = len(not_leaving) - config.min
    candidates = sorted((w for w in not_leaving
                         if w.condor == IDLE and w.cloud == ACTIVE and w.id not in used_bins
                         and now - w.condor_since > config.idle_timeout),
                        key=lambda w: w.condor_since)
    for w in candidates[:max(0, spare)]:
        actions.append(Drain(w.id, f"idle for {now - w.condor_since:.0f}s "
                                   f"(> idleTimeout {config.idle_timeout:.0f}s) and not needed "
                                   f"by the {sum(fitting.values())} idle job(s)"))

    actions.extend(consolidate(live, not_leaving, actions, fitting, observed, config, now))

    top_up = max(0, config.min - len(not_leaving))
    actions.extend(_boots(needed, top_up, limits, cap, observed, new_failures, config, now, size))
    return _never_busy(actions, {w.id: w for w in workers})


def consolidate(live: list[WorkerState], not_leaving: list[WorkerState], actions: list[Action],
                fitting: Counter, observed: Observed, config: ScalerConfig,
                now: float) -> list[Action]:
    """`emptiest-drain`: spare room the queue has not needed for idleTimeout goes back.

    The idle timeout, applied to the pool's room rather than to whole workers only: once
    no idle job has been seen for idleTimeout, the pool is shrunk to the workers its
    running jobs fill when packed (by cores and by memory), by draining the emptiest
    ones. A drained worker takes no new job and is deleted when its last one ends,
    instead of idling idleTimeout after it. Draining workers still count with the jobs
    they run, so a drain is never followed by another for the same room; never below min.
    """
    quiet = observed.queue_quiet_since
    if fitting or quiet is None or now - quiet <= config.idle_timeout:
        return []
    size = worker_size(observed, config)
    cores, ram = size.cores, size.ram_mb
    chosen = {a.worker for a in actions if isinstance(a, Drain)}
    joined = [w for w in live if w.cloud == ACTIVE and w.condor in (IDLE, BUSY, DRAINING)]
    used_cpus = sum(max(0, (w.total_cpus or cores) - w.free_cpus)
                    for w in joined if w.condor != IDLE)
    used_mem = sum(max(0, (w.total_memory_mb or ram) - w.free_memory_mb)
                   for w in joined if w.condor != IDLE)
    needed = max(math.ceil(used_cpus / cores), math.ceil(used_mem / ram))
    staying = [w for w in not_leaving if w.id not in chosen]
    staying_ids = {w.id for w in staying}
    leaving = sum(w.id not in staying_ids for w in joined)
    spare = min(len(joined) - leaving - needed, len(staying) - config.min)
    candidates = sorted((w for w in staying if w.cloud == ACTIVE and w.condor in (IDLE, BUSY)),
                        key=lambda w: (-w.free_cpus, -w.free_memory_mb, w.running_jobs))
    return [Drain(w.id, f"no idle job for {now - quiet:.0f}s (> idleTimeout "
                        f"{config.idle_timeout:.0f}s): the {len(joined)} worker(s) hold room for "
                        f"{len(joined) - needed} more than their {used_cpus} running core(s) "
                        f"need; the emptiest ({w.running_jobs} job(s), {w.free_cpus} free "
                        f"core(s)) is drained{', its jobs finish first' if busy(w) else ''}",
                  case="emptiest-drain", retire=busy(w))
            for w in candidates[:max(0, spare)]]


# --- VMs being deleted ----------------------------------------------------------------

# A delete that left the VM listed is sent again this often (at most; sooner with a short
# deleteTimeout): a lost request is repaired, a stuck one costs one call per period.
RESEND_DELETE_S = 120.0


def stuck_deletes(observed: Observed, config: ScalerConfig, now: float) -> list[WorkerState]:
    """VMs still listed deleteTimeout after their delete began (sent, or seen DELETING)."""
    return [w for w in observed.workers if w.cloud != GONE and w.deleting
            and now - (w.deleting_since if w.deleting_since is not None else w.cloud_since)
            > config.delete_timeout]


def leaving_actions(observed: Observed, config: ScalerConfig, now: float) -> list[Action]:
    """Re-send the scaler's deletes that have not finished; alert on stuck ones.

    These VMs are neither workers nor boots: they hold no place in max or in the
    concurrent boots, and a re-sent delete is never a second failed boot.
    """
    resend = min(RESEND_DELETE_S, config.delete_timeout)
    actions: list[Action] = []
    for w in observed.workers:
        if w.cloud != GONE and w.delete_sent_at is not None and now - w.delete_sent_at >= resend:
            state = w.status_detail or w.cloud
            actions.append(Delete(w.id, f"still listed ({state}) {now - w.deleting_since:.0f}s "
                                        f"after its delete; sent again", case="delete-retry"))
    stuck = stuck_deletes(observed, config, now)
    if stuck:
        ids = ", ".join(sorted(w.id for w in stuck))
        actions.append(Alert(f"{len(stuck)} VM(s) stuck in deletion for more than deleteTimeout "
                             f"{config.delete_timeout:.0f}s: {ids}; they still use quota, ask the "
                             f"cloud's operators", case="stuck-delete"))
    return actions


# --- failed boots --------------------------------------------------------------------

@dataclass(frozen=True)
class Timeouts:
    boot: float
    join: float
    boot_why: str
    join_why: str


LEARN_FLOOR_S = 180.0
LEARN_FACTOR = 1.5
LEARN_MIN_SAMPLES = 5
LEARN_LAST = 50
# Failed boots: the breaker and the backoff count these. A worker that joined once and
# then failed is not a failed boot.
FAILURE_CASES = ("error", "boot-timeout", "join-timeout")
# Deletes justified only by a worker's absence from the collector.
SILENT_CASES = ("join-timeout", "lost")
SILENT_DELETES_MIN, SILENT_DELETES_SHARE = 2, 4
# The collector is taken to be broken (restarted, unreachable, being upgraded) when it
# shows fewer than this share of the workers known to have joined and still alive.
OUTAGE_SHARE = 0.5


def join_floor(config: ScalerConfig) -> float:
    """A startd re-advertises every UPDATE_INTERVAL: a restarted collector is empty up to
    that long, so absence for less than twice it proves nothing."""
    return 2 * config.startd_update_interval


def learned_timeouts(boots, config: ScalerConfig) -> Timeouts:
    """bootTimeout/joinTimeout, tightened to 1.5x the p90 of recent successful boots.

    A VM stuck in BUILD otherwise holds its place in max for the whole bootTimeout;
    on a cloud where boots take 3 minutes, waiting 15 is what makes failures slow.
    The join timeout never goes below twice the startds' update interval.
    """
    def learn(values, limit, name, floor):
        values = sorted(values[-LEARN_LAST:])
        if not config.adaptive_timeouts or len(values) < LEARN_MIN_SAMPLES:
            return limit, f"{name} {limit:.0f}s"
        p90 = values[min(len(values) - 1, int(0.9 * len(values)))]
        value = min(limit, max(floor, LEARN_FACTOR * p90))
        if value >= limit:
            return limit, f"{name} {limit:.0f}s"
        return value, f"learned {name} {value:.0f}s = {LEARN_FACTOR:g} x p90 of {len(values)} boots"
    ordered = sorted(boots, key=lambda b: b.launched_at)
    boot, boot_why = learn([b.build_s for b in ordered if b.build_s is not None and not b.failed],
                           config.boot_timeout, "bootTimeout", LEARN_FLOOR_S)
    floor = join_floor(config)
    join, join_why = learn([b.join_s for b in ordered if b.join_s is not None],
                           max(config.join_timeout, floor), "joinTimeout",
                           max(LEARN_FLOOR_S, floor))
    if config.join_timeout < floor:
        join_why += f" (joinTimeout {config.join_timeout:.0f}s raised to 2 x startdUpdateInterval)"
    return Timeouts(boot, join, boot_why, join_why)


def collector_outage(observed: Observed) -> str | None:
    """Why the collector looks broken (far fewer startds than joined workers), or None."""
    known, seen = observed.joined_listed, observed.joined_visible
    if known and seen < OUTAGE_SHARE * known:
        return (f"the collector shows {seen} of the {known} workers that joined and are alive "
                f"in the cloud (collector restarted or unreachable?); no worker is deleted "
                f"for being absent from it until it recovers")
    return None


def busy(w: WorkerState) -> bool:
    """Runs jobs by the collector's or by the schedd's account."""
    return w.running_jobs > 0 or w.condor == BUSY or w.schedd_jobs > 0


def jobs_on(w: WorkerState) -> int:
    return max(w.running_jobs, w.schedd_jobs, 1 if w.condor == BUSY else 0)


def boot_failure(w: WorkerState, config: ScalerConfig, now: float,
                 timeouts: Timeouts | None = None,
                 collector_ok_since: float = 0.0) -> tuple[str, str] | None:
    """(case, reason) when this VM is a failed boot or a lost worker, else None.

    Cases: `error` (ERROR), `boot-timeout` (BUILD too long), `join-timeout` (ACTIVE and
    never in the collector), `lost` (joined once, absent from the collector for twice the
    update interval), `transient-timeout` (in MIGRATING, RESIZE, ... past transientTimeout).
    Absence counts only from when the collector last recovered.
    """
    floor = join_floor(config)
    t = timeouts or Timeouts(config.boot_timeout, max(config.join_timeout, floor),
                             f"bootTimeout {config.boot_timeout:.0f}s",
                             f"joinTimeout {max(config.join_timeout, floor):.0f}s")
    if w.cloud == ERROR:
        detail = f" ({w.status_detail})" if w.status_detail and w.status_detail != ERROR else ""
        return "error", f"VM is in ERROR state{detail}"
    if w.cloud == TRANSIENT:
        since = now - w.cloud_since
        if since > config.transient_timeout:
            return "transient-timeout", (f"in {w.status_detail or 'a transient state'} for "
                                         f"{since:.0f}s (> transientTimeout "
                                         f"{config.transient_timeout:.0f}s)")
        return None
    if w.cloud == BUILD and now - w.created_at > t.boot:
        return "boot-timeout", f"in BUILD for {now - w.created_at:.0f}s (> {t.boot_why})"
    if w.cloud == ACTIVE and w.condor == NOT_JOINED:
        since = max(w.active_since if w.active_since is not None else w.created_at,
                    w.condor_since, collector_ok_since)
        if w.joined:
            if now - since > floor:
                return "lost", (f"joined the pool once, absent from the collector for "
                                f"{now - since:.0f}s (> 2 x startdUpdateInterval) and no job "
                                f"runs there by the schedd")
            return None
        if now - since > t.join:
            return "join-timeout", (f"ACTIVE but not in the condor pool for {now - since:.0f}s "
                                    f"(> {t.join_why})")
    return None


def is_booting(w: WorkerState) -> bool:
    return w.cloud == BUILD or (w.cloud == ACTIVE and w.condor == NOT_JOINED)


# --- scale-up ------------------------------------------------------------------------

def worker_size(observed: Observed, config: ScalerConfig) -> Flavor:
    """What one worker holds: what joined workers of the flavor advertise, once known
    (the startd offers less memory than the flavor has), else the flavor."""
    if observed.worker_size is None:
        return config.flavor
    return Flavor(*observed.worker_size)


def describe_size(size: Flavor, config: ScalerConfig) -> str:
    if size == config.flavor:
        return f"{size.cores} cores/{size.ram_mb} MB"
    return (f"{size.cores} cores/{size.ram_mb} MB as its startd advertises; the flavor has "
            f"{config.flavor.cores} cores/{config.flavor.ram_mb} MB")


def split_unfittable(jobs, config: ScalerConfig,
                     size: Flavor | None = None) -> tuple[Counter, Counter]:
    """Group idle jobs by (cpus, memory): those a worker can hold, and those it never can."""
    fit: Counter = Counter()
    never: Counter = Counter()
    cores, ram = (size or config.flavor).cores, (size or config.flavor).ram_mb
    # Count distinct (cpus, memory, count) first: a C-level pass over 100k jobs.
    for (cpus, mem, count), times in Counter(map(_shape, jobs)).items():
        key = (max(cpus, 0), max(mem, 0))
        (fit if key[0] <= cores and key[1] <= ram else never)[key] += count * times
    return fit, never


_shape = attrgetter("cpus", "memory_mb", "count")


def pack(shapes: Counter, open_bins: list[tuple[str, int, int]], config: ScalerConfig,
         cap: int, size: Flavor | None = None) -> tuple[int, set[str]]:
    """First-fit decreasing of job shapes into open bins, then new worker-sized bins.

    Returns the new bins needed (stops counting past `cap + 1`: more cannot be booted)
    and the ids of open bins the queue uses. Identical jobs are placed in bulk, so the
    cost grows with shapes x bins, not with the number of jobs.
    """
    bins = [[cpus, mem] for _, cpus, mem in open_bins]
    existing = len(bins)
    used: set[str] = set()
    cores, ram = (size or config.flavor).cores, (size or config.flavor).ram_mb
    for (cpus, mem), count in sorted(shapes.items(), reverse=True):
        for i, room in enumerate(bins):
            if count == 0:
                break
            k = min(count, _fits(room, cpus, mem))
            if k:
                room[0] -= k * cpus
                room[1] -= k * mem
                count -= k
                if i < existing:
                    used.add(open_bins[i][0])
        per_bin = _fits([cores, ram], cpus, mem)
        while count > 0 and len(bins) - existing <= cap:
            k = min(count, per_bin)
            bins.append([cores - k * cpus, ram - k * mem])
            count -= k
    return len(bins) - existing, used


def _fits(room: list[int], cpus: int, mem: int) -> int:
    by_cpu = room[0] // cpus if cpus > 0 else math.inf
    by_mem = room[1] // mem if mem > 0 else math.inf
    n = min(by_cpu, by_mem)
    return 1 << 30 if n == math.inf else int(n)


def boot_limits(live: list[WorkerState], booting: list[WorkerState], observed: Observed,
                config: ScalerConfig) -> dict[str, tuple[int, str]]:
    """Each limit on how many workers may be booted now, with how to say it."""
    h = observed.headroom
    limits = {"max": (config.max - len(live), f"max {config.max} workers"),
              "concurrency": (config.max_concurrent_boots - len(booting),
                              f"maxConcurrentBoots {config.max_concurrent_boots}")}
    if h.instances is not None:
        limits["quota-instances"] = (h.instances, f"quota: {h.instances} instance(s) left")
    if h.cores is not None:
        limits["quota-cores"] = (h.cores // config.flavor.cores, f"quota: {h.cores} cores left")
    if h.ram_mb is not None:
        limits["quota-ram"] = (h.ram_mb // config.flavor.ram_mb, f"quota: {h.ram_mb} MB RAM left")
    if h.group_members is not None:
        limits["quota-server-group"] = (h.group_members, f"quota: {h.group_members} place(s) "
                                                         f"left in the workers' server group")
    return {k: (max(0, v), text) for k, (v, text) in limits.items()}


def breaker(boots: tuple[BootRecord, ...], config: ScalerConfig,
            now: float) -> tuple[str, str, float]:
    """("closed" | "degraded" | "open", why, no probe before this time).

    It tells "half the boots fail" from "nothing boots":
    - `open`: nothing boots. The last failureMinSamples boots all failed and none
      succeeded within failureWindow (or the last 2 x failureMinSamples all failed):
      boots stop and an alert is raised; one probe boot
      at a time is allowed, backing off like replacements do by the length of the
      failure streak, so a broken cloud sees one boot every backoffMaxSeconds at most.
    - `degraded`: more than failureRateLimit of the recent boots failed, but some
      succeed. Stopping would leave the queue waiting for nothing: boots go on, and each
      failure is replaced with its own exponential backoff. An alert says so.

    Only boots launched before the oldest pending one count: errors show up in seconds
    and successes only after the join, so counting outcomes as they arrive would trip
    the breaker on every burst.
    """
    ordered = sorted(boots, key=lambda b: b.launched_at)
    pending = [b.launched_at for b in ordered if b.outcome is None]
    cutoff = min(pending) if pending else math.inf
    settled = [b for b in ordered if b.launched_at < cutoff and b.outcome is not None]
    recent = [b for b in settled if b.launched_at >= now - config.failure_window]
    failed = sum(b.failed for b in recent)
    streak = 0
    for b in reversed(settled):
        if not b.failed:
            break
        streak += 1
    window = f"failureWindow {config.failure_window:.0f}s"
    # A streak twice failureMinSamples long is "nothing boots" even after older successes
    # (on a cloud where half the boots fail, such a run is rare; after a break, certain).
    if streak >= 2 * config.failure_min_samples or (streak >= config.failure_min_samples
                                                     and failed == len(recent)):
        last = max(b.resolved_at or b.launched_at for b in settled[-streak:])
        not_before = last + backoff_delay(streak, config)
        wait = f", not before t={not_before:.0f}" if not_before > now else ""
        counted = (f"{failed} of the last {len(recent)} boots failed within {window}"
                   if recent else f"the last {streak} boots all failed")
        return "open", (f"nothing boots: {counted}, none succeeded; not booting but one probe "
                        f"at a time{wait}"), not_before
    if len(recent) >= config.failure_min_samples and failed / len(recent) > config.failure_rate_limit:
        return "degraded", (f"{failed} of the last {len(recent)} boots failed within {window} "
                            f"(> failureRateLimit {config.failure_rate_limit:.0%}), but some "
                            f"succeed: booting on, each failure replaced with backoff"), -math.inf
    return "closed", "", -math.inf


def backoff_delay(generation: int, config: ScalerConfig) -> float:
    return min(config.backoff_max_seconds, config.backoff_seconds * 2 ** generation)


def failure_streak(boots: tuple[BootRecord, ...]) -> int:
    """Failed boots in a row at the end of the history, in launch order.

    A boot still pending ends the run (it may well succeed): errors come back in seconds
    and successes only after the join, so the failures of a burst that is still booting
    are not a run.
    """
    streak = 0
    for b in sorted(boots, key=lambda b: b.launched_at, reverse=True):
        if not b.failed:
            break
        streak += 1
    return streak


def _boots(needed: int, top_up: int, limits: dict[str, tuple[int, str]], cap: int,
           observed: Observed, new_failures: list[BootRecord], config: ScalerConfig,
           now: float, size: Flavor) -> list[Action]:
    want = max(needed, top_up)
    case = "scale-up" if needed >= top_up else "min-top-up"
    if want == 0:
        return []
    why = (f"{needed} more worker(s) needed for the idle jobs (first-fit decreasing into "
           f"{size.cores}-core/{size.ram_mb} MB workers)"
           if case == "scale-up" else f"pool below min {config.min}")
    history = {b.id: b for b in observed.boots}
    history.update((b.id, b) for b in new_failures)
    state, breaker_why, not_before = breaker(tuple(history.values()), config, now)
    alerts: list[Action] = []
    n = min(want, cap)
    if state == "open":
        alerts.append(Alert(breaker_why, case="circuit-open"))
        idle_cloud = limits["concurrency"][0] >= config.max_concurrent_boots
        n = min(n, 1 if idle_cloud and now >= not_before else 0)
        case, why = "probe", f"{why}; {breaker_why}"
    elif state == "degraded":
        alerts.append(Alert(breaker_why, case="boot-failures"))
    if n < want:
        binding = min(limits.values(), key=lambda v: v[0])
        why += f"; {want} wanted, capped by {binding[1]}"
    # Each unreplaced failure holds one place until its backoff has passed. The delay
    # grows with the cloud's run of failures in a row, not with the place's own chain:
    # boots fail independently of the place they fill, so a long chain on a cloud where
    # half the boots succeed is bad luck, and waiting minutes for it only keeps the
    # queue waiting; a cloud where nothing boots makes the run, and the delay, grow.
    failures = [b for b in observed.boots
                if b.failed and not b.replaced and b.resolved_at is not None
                and b.resolved_at >= now - config.failure_window] + new_failures
    delay = backoff_delay(max(0, failure_streak(tuple(history.values())) - 1), config)
    waiting = [b for b in failures if b.resolved_at + delay > now]
    ready = sorted((b for b in failures if b not in waiting), key=lambda b: b.resolved_at)
    if waiting:
        blocked = min(n, len(waiting))
        n -= blocked
        until = min(b.resolved_at + delay for b in waiting)
        why += f"; {blocked} held back by backoff until t={until:.0f}"
    if n <= 0:
        return alerts
    replaces = tuple(b.id for b in ready[:n])
    return alerts + [Boot(n, why, case=case if not replaces else f"{case}+replace",
                          replaces=replaces)]


def _never_busy(actions: list[Action], workers: dict[str, WorkerState]) -> list[Action]:
    """Last guard: drop any delete of a worker that still runs jobs, ERROR included."""
    return [a for a in actions
            if not (isinstance(a, Delete) and a.worker in workers and busy(workers[a.worker]))]
