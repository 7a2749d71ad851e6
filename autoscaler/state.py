"""The scaler's memory: owned instances, their timers and the boot history.

`ScalerState` is plain data that round-trips through JSON; `JsonStore` writes it
atomically (temp file + rename), so a crash leaves the old or the new file, never
half of one. `reconcile` merges one observation of the cloud and the pool into the
state (pure: `now` is passed in) and builds the `Observed` that `decide` reads;
`record` notes what was applied. Reconciling by tag on every cycle is what makes a
restart safe: a VM booted just before a crash is found by its metadata and adopted,
so it is neither booted twice nor leaked, and timers continue from the file.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable

from .config import Flavor
from .core import collector_outage
from .model import (ACTIVE, BUILD, BUSY, DELETING, DRAINING, GONE, IDLE, NOT_JOINED, TRANSIENT, Boot,
                    BootRecord, Delete, Drain, Job, Limits, Observed, Slot, Worker, WorkerState)

STATE_VERSION = 1
# A VM missing from a listing this soon after its create call is still counted as
# booting (listings can lag behind creates).
LISTING_GRACE_S = 120.0
RESEND_DRAIN_S = 300.0
KEEP_BOOTS = 200


@dataclass
class Instance:
    id: str
    created_at: float
    active_since: float | None = None
    condor: str = NOT_JOINED
    condor_since: float = 0.0
    drain_sent_at: float | None = None
    delete_sent_at: float | None = None   # the last delete sent
    delete_case: str | None = None
    deleting_since: float | None = None   # the first delete sent, or first seen DELETING
    seen_build: bool = False         # we saw it in BUILD, so its boot duration is meaningful
    joined_at: float | None = None   # first seen in the collector: later absence means "lost"
    cloud: str = ""                  # last cloud status seen, and since when
    cloud_since: float = 0.0


@dataclass
class ScalerState:
    instances: dict[str, Instance] = field(default_factory=dict)
    boots: list[BootRecord] = field(default_factory=list)
    alert: str | None = None
    collector_ok_since: float = 0.0  # start of the current run of healthy collector answers
    collector_down: bool = False
    stopped_at: float | None = None  # teardown asked this scaler to stop: for good
    initial_done: bool = False       # the first boots (workers.initial) have been made
    queue_quiet_since: float | None = None  # no idle job seen since (None: some now)
    # Per flavor ("<cores>x<ram_mb>"): [cpus, memory MB] its joined workers advertise.
    advertised: dict[str, list[int]] = field(default_factory=dict)

    def to_json(self) -> dict:
        # vars() rather than dataclasses.asdict: the latter deep-copies and is 10x slower.
        return {"version": STATE_VERSION,
                "instances": {k: dict(vars(v)) for k, v in sorted(self.instances.items())},
                "boots": [dict(vars(b)) for b in self.boots], "alert": self.alert,
                "collector_ok_since": self.collector_ok_since,
                "collector_down": self.collector_down, "stopped_at": self.stopped_at,
                "initial_done": self.initial_done,
                "queue_quiet_since": self.queue_quiet_since, "advertised": self.advertised}

    @classmethod
    def from_json(cls, data: dict) -> "ScalerState":
        if data.get("version") != STATE_VERSION:
            raise ValueError(f"unsupported state version {data.get('version')!r}")
        return cls(instances={k: Instance(**v) for k, v in data.get("instances", {}).items()},
                   boots=[BootRecord(**b) for b in data.get("boots", [])],
                   alert=data.get("alert"),
                   collector_ok_since=float(data.get("collector_ok_since", 0.0)),
                   collector_down=bool(data.get("collector_down", False)),
                   stopped_at=data.get("stopped_at"),
                   initial_done=bool(data.get("initial_done", False)),
                   queue_quiet_since=data.get("queue_quiet_since"),
                   advertised={str(k): [int(x) for x in v]
                               for k, v in data.get("advertised", {}).items()})


class JsonStore:
    """The state file: read at start, replaced atomically after every cycle that changed it.

    `durable=False` skips the fsync (the simulator: a crash there is simulated, not real).
    """

    def __init__(self, path: str | os.PathLike, durable: bool = True):
        self.path = Path(path)
        self.durable = durable
        self._last: str | None = None
        self.broken: Path | None = None
        self.broken_why = ""

    def load(self) -> ScalerState:
        """The saved state; a broken one is moved aside and an empty state returned.

        Corrupt, empty, truncated or of another version: the daemon must not crash-loop
        on it. The next cycle rebuilds what matters from the cloud (VMs found by tag are
        adopted), so only timers and the boot history are lost. `broken` names the copy.
        """
        self.broken = None
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return ScalerState()
        try:
            data = json.loads(text)
            if not isinstance(data, dict):
                raise ValueError(f"a JSON {type(data).__name__}, not an object")
            return ScalerState.from_json(data)
        except (ValueError, TypeError, KeyError, AttributeError) as error:
            self.broken = self.path.with_name(f"{self.path.name}.broken-{int(time.time())}")
            os.replace(self.path, self.broken)
            self.broken_why = f"{type(error).__name__}: {error}"
            return ScalerState()

    def save(self, state: ScalerState) -> None:
        text = json.dumps(state.to_json(), separators=(",", ":"))
        if text == self._last:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".state-", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(text)
                if self.durable:
                    handle.flush()
                    os.fsync(handle.fileno())
            os.replace(tmp, self.path)
            self._last = text
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


# --- condor view per VM ----------------------------------------------------------------

@dataclass
class Machine:
    state: str = IDLE
    running_jobs: int = 0
    free_cpus: int = 0
    free_memory_mb: int = 0
    total_cpus: int = 0              # the p-slots' advertised totals (0: not advertised)
    total_memory_mb: int = 0


def machines(slots: Iterable[Slot]) -> dict[str, Machine]:
    """Aggregate startd ads per RelvalInstanceId: idle, busy or draining, with free room.

    A partitionable slot carries the unclaimed room; each claimed dynamic (or static)
    slot is one running job. Any draining slot makes the machine draining.
    """
    out: dict[str, Machine] = {}
    for s in slots:
        if not s.instance_id:
            continue
        m = out.setdefault(s.instance_id, Machine())
        claimed = s.state == "Claimed"
        if claimed:
            m.running_jobs += 1
        elif s.slot_type in ("Partitionable", "Static") and s.state == "Unclaimed":
            m.free_cpus += s.cpus
            m.free_memory_mb += s.memory_mb
        if s.slot_type in ("Partitionable", "Static"):
            m.total_cpus += s.total_cpus
            m.total_memory_mb += s.total_memory_mb
        if s.draining or s.state == "Drained" or (claimed and s.activity == "Retiring"):
            m.state = DRAINING
    for m in out.values():
        if m.state != DRAINING:
            m.state = BUSY if m.running_jobs else IDLE
    return out


# --- reconcile -----------------------------------------------------------------------

def reconcile(state: ScalerState, workers: list[Worker], slots: list[Slot], idle_jobs: list[Job],
              running: dict[str, int], limits: Limits, stack: str, now: float,
              stack_id: str = "", flavor: Flavor | None = None) -> Observed:
    """Merge one observation into `state` (timers, adoptions, boot outcomes) -> Observed.

    `running` is the schedd's count of running jobs per RelvalInstanceId ("" for jobs
    whose machine is unknown): the cross-check that keeps a worker the collector lost.
    """
    listed = {w.id: w for w in workers if w.owned_by(stack, stack_id) and w.status != GONE}
    pool = machines(slots)
    views: list[WorkerState] = []
    joined_listed = joined_visible = 0

    for wid, w in listed.items():
        inst = state.instances.get(wid)
        if inst is None:
            # Not in our file: booted just before a crash (Pulumi's are not owned). Adopt it;
            # one already being deleted is no boot (it would stay pending for ever).
            inst = state.instances[wid] = Instance(wid, w.created_at, condor_since=now)
            if w.status != DELETING and not any(b.id == wid for b in state.boots):
                state.boots.append(BootRecord(wid, w.created_at))
        if w.status == DELETING and inst.deleting_since is None:
            inst.deleting_since = inst.delete_sent_at or now
            if inst.delete_sent_at is None:
                # Deleted by someone else (an operator, `relval down`): as if it had vanished.
                _resolve(state, wid, "vanished", now)
        if w.status == BUILD:
            inst.seen_build = True
        if w.status == ACTIVE and inst.active_since is None:
            inst.active_since = now
            if inst.seen_build:
                _note(state, wid, build_s=now - inst.created_at)
        if w.status != inst.cloud:
            inst.cloud, inst.cloud_since = w.status, now
        m = pool.get(wid)
        condor = m.state if m else NOT_JOINED
        if condor != inst.condor:
            inst.condor, inst.condor_since = condor, now
        if condor != NOT_JOINED:
            if inst.joined_at is None:
                inst.joined_at = now
            if _resolve(state, wid, "ok", now) and inst.seen_build and inst.active_since is not None:
                _note(state, wid, join_s=now - inst.active_since)
        if inst.joined_at is not None and w.status in (ACTIVE, TRANSIENT):
            joined_listed += 1
            joined_visible += m is not None
        views.append(_view(inst, w.status, m, now, running.get(wid, 0), w.detail))

    for wid in list(state.instances):
        if wid in listed:
            continue
        inst = state.instances[wid]
        if inst.delete_sent_at is None and now - inst.created_at < LISTING_GRACE_S:
            views.append(_view(inst, BUILD, None, now))   # created, not listed yet
            continue
        if inst.delete_sent_at is None:
            _resolve(state, wid, "vanished", now)
        del state.instances[wid]

    size = learn_worker_size(state, [pool[w] for w in listed if w in pool], flavor)
    cutoff = now - 4 * 3600
    state.boots = [b for b in state.boots if b.outcome is None or b.launched_at >= cutoff][-KEEP_BOOTS:]
    observed = Observed(idle_jobs=tuple(idle_jobs), running_jobs=sum(running.values()),
                        workers=tuple(views), headroom=limits.headroom(), boots=tuple(state.boots),
                        worker_size=size,
                        joined_listed=joined_listed, joined_visible=joined_visible)
    # The queue's quiet time starts at the first cycle without idle jobs (after a restart
    # with an old file: from the file, which only saw quiet cycles before it).
    if idle_jobs:
        state.queue_quiet_since = None
    elif state.queue_quiet_since is None:
        state.queue_quiet_since = now
    # Absence from the collector counts only from the end of its last outage.
    down = collector_outage(observed) is not None
    if state.collector_down and not down:
        state.collector_ok_since = now
    state.collector_down = down
    return replace(observed, collector_ok_since=state.collector_ok_since,
                   queue_quiet_since=state.queue_quiet_since)


def learn_worker_size(state: ScalerState, joined: list[Machine],
                      flavor: Flavor | None) -> tuple[int, int] | None:
    """What a worker of this flavor holds, from what the joined ones advertise.

    The startd advertises less memory than the flavor has (the OS and condor keep
    some): packing by the flavor boots workers for jobs that never match them. The
    smallest advertised worker counts (a job that fits it fits all); kept per flavor,
    so a changed flavor is learned anew, and across restarts.
    """
    if flavor is None:
        return None
    key = f"{flavor.cores}x{flavor.ram_mb}"
    sizes = [(m.total_cpus, m.total_memory_mb) for m in joined
             if m.total_cpus > 0 and m.total_memory_mb > 0]
    if sizes:
        state.advertised[key] = [min(c for c, _ in sizes), min(r for _, r in sizes)]
    known = state.advertised.get(key)
    return (known[0], known[1]) if known else None


def _view(inst: Instance, status: str, m: Machine | None, now: float, schedd_jobs: int = 0,
          detail: str = "") -> WorkerState:
    drain = (inst.drain_sent_at is not None and now - inst.drain_sent_at < RESEND_DRAIN_S
             and inst.condor != DRAINING)
    return WorkerState(
        id=inst.id, cloud=status, created_at=inst.created_at, condor=inst.condor,
        condor_since=inst.condor_since, active_since=inst.active_since,
        running_jobs=m.running_jobs if m else 0, free_cpus=m.free_cpus if m else 0,
        free_memory_mb=m.free_memory_mb if m else 0, drain_requested=drain,
        total_cpus=m.total_cpus if m else 0, total_memory_mb=m.total_memory_mb if m else 0,
        deleting=inst.deleting_since is not None or status == DELETING,
        deleting_since=inst.deleting_since, delete_sent_at=inst.delete_sent_at,
        schedd_jobs=schedd_jobs, joined=inst.joined_at is not None, cloud_since=inst.cloud_since,
        status_detail=detail)


def _resolve(state: ScalerState, wid: str, outcome: str, now: float) -> bool:
    for i, b in enumerate(state.boots):
        if b.id == wid and b.outcome is None:
            state.boots[i] = replace(b, outcome=outcome, resolved_at=now)
            return True
    return False


def _note(state: ScalerState, wid: str, **durations: float) -> None:
    for i, b in enumerate(state.boots):
        if b.id == wid:
            state.boots[i] = replace(b, **durations)


# --- record what was applied -------------------------------------------------------------

def record_boot(state: ScalerState, action: Boot, results: list[str | None], now: float) -> None:
    """Note the VMs one Boot created (None: the create call failed) and the chains they continue."""
    gens = {b.id: b.generation for b in state.boots}
    replaced = list(action.replaces)
    for i, wid in enumerate(results):
        gen = gens.get(replaced[i], 0) + 1 if i < len(replaced) else 0
        if wid is None:
            state.boots.append(BootRecord(f"create-failed-{now:.3f}-{i}", now, "api-error", now, gen))
        else:
            state.boots.append(BootRecord(wid, now, generation=gen))
            state.instances[wid] = Instance(wid, now, condor_since=now, seen_build=True)
    done = set(replaced[:len(results)])
    state.boots = [replace(b, replaced=True) if b.id in done else b for b in state.boots]


def record_delete(state: ScalerState, action: Delete, now: float) -> None:
    inst = state.instances.get(action.worker)
    if inst is not None:
        inst.delete_sent_at = now
        if inst.deleting_since is None:
            inst.deleting_since, inst.delete_case = now, action.case
    if action.failure:
        known = any(b.id == action.worker for b in state.boots)
        if not known:
            created = inst.created_at if inst else now
            state.boots.append(BootRecord(action.worker, created))
        _resolve(state, action.worker, action.failure, now)


def record_drain(state: ScalerState, action: Drain, now: float) -> None:
    inst = state.instances.get(action.worker)
    if inst is not None:
        inst.drain_sent_at = now
