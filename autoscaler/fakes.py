"""In-memory cloud and condor pool behind the same interfaces as the real adapters.

Tests use them directly; the simulator drives them through time. Both reject
misspelt method or attribute names (`__slots__` plus a hint), the way openstacksdk's
shipped fakes do, so a test cannot silently call something the adapters lack.
"""

from __future__ import annotations

import difflib
import itertools
import random
from dataclasses import dataclass, field
from typing import Callable

from .interfaces import CloudError, CondorError, QuotaError
from .model import (ACTIVE, BUILD, DELETING, INSTANCE_ATTR, ROLE_KEY, STACK_KEY, Job, Limits,
                    Slot, Worker)


class _Strict:
    __slots__ = ()

    def __getattr__(self, name: str):
        names = [n for n in dir(type(self)) if not n.startswith("_")]
        hint = difflib.get_close_matches(name, names, n=1)
        raise AttributeError(f"{type(self).__name__} has no {name!r}"
                             + (f" (did you mean {hint[0]!r}?)" if hint else ""))


@dataclass
class FakeVM:
    id: str
    name: str
    status: str
    created_at: float
    metadata: dict[str, str]
    cores: int
    ram_mb: int
    deleting: bool = False
    detail: str = ""                 # the cloud's own status word (MIGRATING, ...)


class FakeCloud(_Strict):
    """A project with a quota, foreign VMs and scripted failures.

    `clock` gives the current (virtual) time; `on_create` / `on_delete` let the
    simulator schedule what happens next (BUILD -> ACTIVE, removal after a delete).
    Without hooks a VM is ACTIVE at once and a delete removes it at once.
    """

    __slots__ = ("stack", "vms", "quota", "flavor", "clock", "rng", "p_api_error",
                 "p_quota_refused", "on_create", "on_delete", "calls", "_ids", "down")

    def __init__(self, stack: str, quota: Limits | None = None, flavor: tuple[int, int] = (8, 16000),
                 clock: Callable[[], float] = lambda: 0.0, rng: random.Random | None = None,
                 p_api_error: float = 0.0, on_create=None, on_delete=None,
                 p_quota_refused: float = 0.0, down: Callable[[], bool] | None = None):
        self.stack = stack
        self.down = down                 # true while the whole API is unreachable
        self.vms: dict[str, FakeVM] = {}
        self.quota = quota or Limits()
        self.flavor = flavor
        self.clock = clock
        self.rng = rng or random.Random(0)
        self.p_api_error = p_api_error
        self.p_quota_refused = p_quota_refused
        self.on_create = on_create
        self.on_delete = on_delete
        self.calls: dict[str, int] = {}
        self._ids = itertools.count(1)

    # helpers for tests and the simulator (not part of the interface) ----------
    def add_vm(self, metadata: dict[str, str], status: str = ACTIVE, cores: int | None = None,
               ram_mb: int | None = None, name: str = "vm") -> FakeVM:
        vm = FakeVM(f"vm-{next(self._ids):05d}", name, status, self.clock(), dict(metadata),
                    cores or self.flavor[0], ram_mb or self.flavor[1])
        self.vms[vm.id] = vm
        return vm

    def owned(self) -> list[FakeVM]:
        return [vm for vm in self.vms.values() if vm.metadata.get(STACK_KEY) == self.stack
                and vm.metadata.get(ROLE_KEY) == "worker"]

    def remove(self, vm_id: str) -> None:
        self.vms.pop(vm_id, None)

    def _call(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1
        if self.down is not None and self.down():
            self.calls["api_errors"] = self.calls.get("api_errors", 0) + 1
            raise CloudError(f"{name}: cloud API unreachable (simulated outage)")
        if self.p_api_error and self.rng.random() < self.p_api_error:
            self.calls["api_errors"] = self.calls.get("api_errors", 0) + 1
            raise CloudError(f"{name}: simulated transient API error (HTTP 503)")

    # the Cloud interface --------------------------------------------------------
    def create_worker(self, name: str, metadata: dict[str, str]) -> str:
        self._call("create_worker")
        q, (cores, ram) = self._usage(), self.flavor
        if ((q.max_instances is not None and q.used_instances + 1 > q.max_instances)
                or (q.max_cores is not None and q.used_cores + cores > q.max_cores)
                or (q.max_ram_mb is not None and q.used_ram_mb + ram > q.max_ram_mb)
                or (q.max_group_members is not None
                    and q.used_group_members + 1 > q.max_group_members)):
            raise QuotaError("create_worker: Quota exceeded (HTTP 403)")
        if self.p_quota_refused and self.rng.random() < self.p_quota_refused:
            raise QuotaError("create_worker: Quota exceeded for instances (HTTP 403, simulated)")
        vm = self.add_vm(metadata, BUILD if self.on_create else ACTIVE, name=name)
        if self.on_create:
            self.on_create(vm)
        return vm.id

    def list_workers(self) -> list[Worker]:
        self._call("list_workers")
        return [Worker(vm.id, vm.name, DELETING if vm.deleting else vm.status, vm.created_at,
                       dict(vm.metadata), detail=vm.detail or vm.status)
                for vm in self.vms.values() if vm.metadata.get(STACK_KEY) == self.stack]

    def delete_worker(self, worker_id: str) -> None:
        self._call("delete_worker")
        vm = self.vms.get(worker_id)
        if vm is None or vm.deleting:
            return
        vm.deleting = True
        if self.on_delete:
            self.on_delete(vm)
        else:
            self.remove(worker_id)

    def set_metadata(self, vm_id: str, metadata: dict[str, str]) -> None:
        self._call("set_metadata")
        vm = self.vms.get(vm_id)
        if vm is None:
            raise CloudError(f"set_metadata: no VM {vm_id} (HTTP 404)")
        vm.metadata.update(metadata)

    def worker_size(self) -> tuple[int, int]:
        self._call("worker_size")
        return self.flavor

    def limits(self) -> Limits:
        self._call("limits")
        return self._usage()

    def _usage(self) -> Limits:
        vms = list(self.vms.values())
        return Limits(self.quota.max_instances, self.quota.max_cores, self.quota.max_ram_mb,
                      used_instances=len(vms), used_cores=sum(v.cores for v in vms),
                      used_ram_mb=sum(v.ram_mb for v in vms),
                      # every worker of the stack boots into its one server group
                      max_group_members=self.quota.max_group_members,
                      used_group_members=len(self.owned()))


@dataclass
class FakeJob:
    id: int
    cpus: int
    memory_mb: int
    runtime_s: float
    submitted_at: float
    started_at: float | None = None
    machine: str | None = None


@dataclass
class FakeStartd:
    instance_id: str
    cpus: int
    memory_mb: int
    jobs: list[FakeJob] = field(default_factory=list)
    draining: bool = False

    @property
    def free(self) -> tuple[int, int]:
        return (self.cpus - sum(j.cpus for j in self.jobs),
                self.memory_mb - sum(j.memory_mb for j in self.jobs))

    def ads(self) -> list[Slot]:
        """One partitionable slot plus a dynamic slot per job, like a real startd."""
        cpus, mem = self.free
        name = f"slot1@{self.instance_id}"
        state = "Drained" if self.draining else "Unclaimed"
        out = [Slot(self.instance_id, name, self.instance_id, state,
                    "Retiring" if self.draining and self.jobs else "Idle", cpus, mem,
                    "Partitionable", self.draining, total_cpus=self.cpus,
                    total_memory_mb=self.memory_mb)]
        for i, job in enumerate(self.jobs, 1):
            out.append(Slot(self.instance_id, f"slot1_{i}@{self.instance_id}", self.instance_id,
                            "Claimed", "Retiring" if self.draining else "Busy", job.cpus,
                            job.memory_mb, "Dynamic", self.draining))
        return out


class FakeCondor(_Strict):
    """A schedd queue and a collector. `publish()` refreshes what `slots()` reports,
    so the simulator can make the collector lag like the real one."""

    __slots__ = ("startds", "idle", "running", "published", "p_api_error", "rng", "calls",
                 "auto_publish", "_ids", "attr")

    def __init__(self, rng: random.Random | None = None, p_api_error: float = 0.0,
                 auto_publish: bool = True):
        self.startds: dict[str, FakeStartd] = {}
        self.idle: list[FakeJob] = []
        self.running: dict[int, FakeJob] = {}
        self.published: list[Slot] = []
        self.p_api_error = p_api_error
        self.rng = rng or random.Random(0)
        self.calls: dict[str, int] = {}
        self.auto_publish = auto_publish
        self._ids = itertools.count(1)
        self.attr = INSTANCE_ATTR

    # helpers ------------------------------------------------------------------------
    def submit(self, count: int, cpus: int, memory_mb: int, runtime_s: float, now: float) -> list[FakeJob]:
        jobs = [FakeJob(next(self._ids), cpus, memory_mb, runtime_s, now) for _ in range(count)]
        self.idle.extend(jobs)
        return jobs

    def join(self, instance_id: str, cpus: int, memory_mb: int) -> FakeStartd:
        startd = self.startds[instance_id] = FakeStartd(instance_id, cpus, memory_mb)
        return startd

    def leave(self, instance_id: str) -> list[FakeJob]:
        """The startd is gone (VM deleted): its jobs go back to the queue."""
        startd = self.startds.pop(instance_id, None)
        lost = list(startd.jobs) if startd else []
        for job in lost:
            self.running.pop(job.id, None)
            job.started_at, job.machine = None, None
        self.idle[:0] = lost
        return lost

    def publish(self, visible: Callable[[str], bool] | None = None) -> None:
        """Refresh the collector's view; `visible` hides startds (a collector outage)."""
        self.published = [ad for s in self.startds.values()
                          if visible is None or visible(s.instance_id) for ad in s.ads()]

    def _call(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1
        if self.p_api_error and self.rng.random() < self.p_api_error:
            raise CondorError(f"{name}: simulated failure to reach the daemon")

    # the Condor interface --------------------------------------------------------------
    def idle_jobs(self) -> list[Job]:
        self._call("idle_jobs")
        return [Job(j.cpus, j.memory_mb) for j in self.idle]

    def running_jobs(self) -> dict[str, int]:
        self._call("running_jobs")
        out: dict[str, int] = {}
        for job in self.running.values():
            out[job.machine or ""] = out.get(job.machine or "", 0) + 1
        return out

    def slots(self) -> list[Slot]:
        self._call("slots")
        if self.auto_publish:
            self.publish()
        return list(self.published)

    def drain(self, instance_id: str, retire: bool = False) -> None:
        self._call("drain")
        startd = self.startds.get(instance_id)
        if startd is None:
            raise CondorError(f"drain: no startd with {INSTANCE_ATTR} == {instance_id!r}")
        if startd.jobs and not retire:
            # The real drain's check expression (every slot unclaimed) is false: refused.
            raise CondorError(f"drain {instance_id}: refused, a job was matched meanwhile")
        startd.draining = True
