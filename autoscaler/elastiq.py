"""The elastiq baseline: the 2014 scaler's documented algorithm (DESIGN.md), as a policy.

It talks to the same narrow interfaces as relval's controller, so the simulator can
run both on the same simulated cloud. Reproduced as documented:
- every 15 s: idle jobs minus 4 per VM booted in the last 600 s; at or above 10 for
  100 s in a row -> boot ceil(n/4) VMs, one API call at a time, no retry, capped by
  max_vms which counts every VM in the project (foreign ones and the head included);
  below `min_vms` VMs it tops up;
- a VM not joined 600 s after its boot is killed and not replaced (checked with the
  15 s loop);
- every 20 s: every VM in ERROR is killed and replaced (replacements too);
- every 45 s: a worker idle for 3600 s (`idle_time_s`) is terminated without draining
  (it keeps `min_vms`);
- only the list of owned VM ids survives a restart: boot times, idle timers, the
  threshold timer and the replaced-once marks are forgotten.
It ignores job sizes and has no teardown by tag: it can only delete the ids it knows.

Set-up choices for a fair comparison: max_vms is the pool's max plus the VMs it cannot
tell apart from its own (the head and the project's foreign VMs: `Scenario.elastiq_max`),
so its worker cap equals the pool's; it adopts the initial workers as its own; it keeps
`min_vms` when idling workers off.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .interfaces import AdapterError, Cloud, Condor
from .model import ACTIVE, BUILD, ERROR, GONE, ROLE_KEY, STACK_KEY, WORKER_ROLE
from .state import machines

QUEUE_CHECK_S = 15
WAITING_JOBS_THRESHOLD = 10
WAITING_JOBS_TIME_S = 100
JOBS_PER_VM = 4
JOIN_DEADLINE_S = 600
ERROR_CHECK_S = 20
IDLE_TIME_S = 3600
IDLE_CHECK_S = 45


@dataclass
class ElastiqTick:
    created: list[str] = field(default_factory=list)
    known: set[str] = field(default_factory=set)
    deleted: list[str] = field(default_factory=list)


class Elastiq:
    def __init__(self, cloud: Cloud, condor: Condor, stack: str, min_vms: int, max_vms: int,
                 state_file: str | os.PathLike, now: float, idle_time_s: float = IDLE_TIME_S):
        self.cloud, self.condor, self.stack = cloud, condor, stack
        self.min_vms, self.max_vms = min_vms, max_vms
        self.idle_time_s = idle_time_s
        self.state_file = Path(state_file)
        self.ids: set[str] = self._load()
        # Timers live in memory only: a restart starts them again from now.
        self.booted_at: dict[str, float] = {i: now for i in self.ids}
        self.idle_since: dict[str, float] = {}
        self.above_since: float | None = None

    # persistence: the owned ids only --------------------------------------------------
    def _load(self) -> set[str]:
        try:
            return set(json.loads(self.state_file.read_text()))
        except FileNotFoundError:
            return set()

    def save(self) -> None:
        if getattr(self, "_saved", None) == self.ids:
            return
        self._saved = set(self.ids)
        fd, tmp = tempfile.mkstemp(dir=self.state_file.parent)
        with os.fdopen(fd, "w") as handle:
            json.dump(sorted(self.ids), handle)
        os.replace(tmp, self.state_file)

    def adopt(self, vm_id: str, now: float) -> None:
        self.ids.add(vm_id)
        self.booted_at[vm_id] = now

    # helpers ---------------------------------------------------------------------------
    def _own(self):
        return {w.id: w for w in self.cloud.list_workers() if w.id in self.ids and w.status != GONE}

    def _kill(self, vm_id: str, tick: ElastiqTick) -> None:
        try:
            self.cloud.delete_worker(vm_id)
        except AdapterError:
            return
        self.ids.discard(vm_id)
        self.booted_at.pop(vm_id, None)
        self.idle_since.pop(vm_id, None)
        tick.deleted.append(vm_id)

    def _boot(self, now: float, tick: ElastiqTick) -> str | None:
        md = {STACK_KEY: self.stack, ROLE_KEY: WORKER_ROLE}
        try:
            vm_id = self.cloud.create_worker(f"elastiq-{len(self.ids)}-{now:.0f}", md)
        except AdapterError:
            return None  # no retry
        self.adopt(vm_id, now)
        tick.created.append(vm_id)
        return vm_id

    # the three loops ---------------------------------------------------------------------
    def queue_check(self, now: float) -> ElastiqTick:
        tick = ElastiqTick(known=set(self.ids))
        try:
            own = self._own()
            joined = machines(self.condor.slots())
            idle = len(self.condor.idle_jobs())
        except AdapterError:
            return tick
        booting = [i for i, w in own.items() if i not in joined and w.status in (BUILD, ACTIVE)]
        for i in booting:
            if now - self.booted_at.get(i, now) >= JOIN_DEADLINE_S:
                self._kill(i, tick)
        # Its own count of the VMs on the way: those booted in the last JOIN_DEADLINE_S.
        recent = [i for i in self.ids if now - self.booted_at.get(i, now) < JOIN_DEADLINE_S]
        waiting = idle - JOBS_PER_VM * len(recent)
        if len(self.ids) < self.min_vms:
            for _ in range(self.min_vms - len(self.ids)):
                self._boot(now, tick)
        if waiting < WAITING_JOBS_THRESHOLD:
            self.above_since = None
            return tick
        if self.above_since is None:
            self.above_since = now
        if now - self.above_since < WAITING_JOBS_TIME_S:
            return tick
        self.above_since = None
        try:
            room = self.max_vms - self.cloud.limits().used_instances
        except AdapterError:
            return tick
        for _ in range(max(0, min(math.ceil(waiting / JOBS_PER_VM), room))):
            self._boot(now, tick)
        return tick

    def error_check(self, now: float) -> ElastiqTick:
        tick = ElastiqTick(known=set(self.ids))
        try:
            own = self._own()
        except AdapterError:
            return tick
        for i, w in own.items():
            if w.status != ERROR:
                continue
            self._kill(i, tick)
            if i not in self.ids:
                self._boot(now, tick)
        return tick

    def idle_check(self, now: float) -> ElastiqTick:
        tick = ElastiqTick(known=set(self.ids))
        try:
            joined = machines(self.condor.slots())
        except AdapterError:
            return tick
        for i in sorted(self.ids):
            m = joined.get(i)
            if m is None or m.running_jobs:
                self.idle_since.pop(i, None)
                continue
            since = self.idle_since.setdefault(i, now)
            if now - since >= self.idle_time_s and len(self.ids) > self.min_vms:
                self._kill(i, tick)  # no drain: whatever landed meanwhile is lost
        return tick

    def loops(self):
        return [(QUEUE_CHECK_S, self.queue_check), (ERROR_CHECK_S, self.error_check),
                (IDLE_CHECK_S, self.idle_check)]

    def teardown(self) -> list[str]:
        """Delete the VMs it knows; it has no way to find the others."""
        gone = []
        for i in sorted(self.ids):
            try:
                self.cloud.delete_worker(i)
                gone.append(i)
            except AdapterError:
                pass
        return gone
