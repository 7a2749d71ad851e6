"""HTCondor through its Python bindings (`htcondor2`, `classad2`).

The schedd gives idle jobs with their requests and running jobs with the VM they run
on (`MachineAttrRelvalInstanceId0`, which the head's SYSTEM_JOB_MACHINE_ATTRS makes the
schedd record at match time): the cross-check that keeps a worker the collector lost
from being deleted with its jobs. The collector gives the
startd ads, which relval's workers tag with `RelvalInstanceId` (their VM id); a drain
goes to the startd through the bindings, gracefully and only while every slot is
still unclaimed, so a job matched since the last look is never cut off.

Parsing (`parse_jobs`, `parse_slots`) is separate from the queries and takes plain
ClassAds, so tests feed it real ads made with `classad2`.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Iterable

from ..interfaces import CondorError
from ..model import INSTANCE_ATTR, RETIRE_ATTR, Job, Slot

JOB_ATTRS = ["ClusterId", "ProcId", "JobStatus", "RequestCpus", "RequestMemory"]
# The schedd copies the matched machine's RelvalInstanceId into the job ad as this
# attribute when the head's config lists it in SYSTEM_JOB_MACHINE_ATTRS.
JOB_MACHINE_ATTR = f"MachineAttr{INSTANCE_ATTR}0"
SLOT_ATTRS = ["Name", "Machine", "MyAddress", "State", "Activity", "Cpus", "Memory",
              "PartitionableSlot", "DynamicSlot", "SlotType", "Draining", "DrainingRequestId",
              "EnteredCurrentState", "TotalSlotCpus", "TotalSlotMemory", INSTANCE_ATTR]
IDLE, RUNNING = 1, 2
# Every call to the schedd, the collector or a startd gives up after this long: one hung
# daemon must not freeze the scaler's loop (the bindings take no timeout themselves).
CALL_TIMEOUT_S = 60
# What a job that leaves a request unset or uncomputable (e.g. an expression on
# MemoryUsage before it ever ran) is taken to need.
DEFAULT_CPUS, DEFAULT_MEMORY_MB = 1, 1024


def _number(ad, attr: str, default: int) -> int:
    try:
        value = ad.eval(attr) if attr in ad else default
    except Exception:  # noqa: BLE001 - a malformed expression is treated as unset
        return default
    # classad2's Undefined/Error are IntEnum members: only plain numbers count.
    if type(value) not in (int, float):
        return default
    return int(value)


def parse_jobs(ads: Iterable) -> list[Job]:
    """Idle job ads -> one Job per distinct (cpus, memory) with its count."""
    shapes: Counter = Counter()
    for ad in ads:
        shapes[(_number(ad, "RequestCpus", DEFAULT_CPUS),
                _number(ad, "RequestMemory", DEFAULT_MEMORY_MB))] += 1
    return [Job(cpus, mem, count) for (cpus, mem), count in sorted(shapes.items())]


def parse_running(ads: Iterable) -> dict[str, int]:
    """Running job ads -> how many run on each RelvalInstanceId ("" when unknown)."""
    out: Counter = Counter()
    for ad in ads:
        where = ad.get(JOB_MACHINE_ATTR)
        out[where if isinstance(where, str) else ""] += 1
    return dict(out)


def parse_slots(ads: Iterable) -> list[Slot]:
    out = []
    for ad in ads:
        if ad.get("PartitionableSlot") is True:
            slot_type = "Partitionable"
        elif ad.get("DynamicSlot") is True:
            slot_type = "Dynamic"
        else:
            slot_type = str(ad.get("SlotType", "Static"))
        instance = ad.get(INSTANCE_ATTR)
        entered = ad.get("EnteredCurrentState")
        out.append(Slot(
            instance_id=str(instance) if isinstance(instance, str) and instance else None,
            name=str(ad.get("Name", "")), machine=str(ad.get("Machine", "")),
            state=str(ad.get("State", "")), activity=str(ad.get("Activity", "")),
            cpus=_number(ad, "Cpus", 0), memory_mb=_number(ad, "Memory", 0),
            slot_type=slot_type,
            total_cpus=_number(ad, "TotalSlotCpus", 0),
            total_memory_mb=_number(ad, "TotalSlotMemory", 0),
            draining=ad.get("Draining") is True or "DrainingRequestId" in ad,
            entered_state=float(entered) if isinstance(entered, (int, float)) else None))
    return out


def bounded(what: str, fn, timeout_s: float = CALL_TIMEOUT_S):
    """fn() in a daemon thread; CondorError if it raises or has not returned in time.

    A call that hangs is abandoned (its thread cannot be killed, but it is a daemon
    thread and the loop goes on); the systemd watchdog covers what is left.
    """
    box: dict = {}

    def run():
        try:
            box["value"] = fn()
        except Exception as error:  # noqa: BLE001 - the bindings raise several types
            box["error"] = error
    thread = threading.Thread(target=run, name=f"condor {what}", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        raise CondorError(f"{what}: no answer within {timeout_s:g}s")
    if "error" in box:
        raise CondorError(f"{what} failed: {box['error']}") from box["error"]
    return box["value"]


class HTCondor:
    """The Condor interface on the head node's own schedd and collector (or named ones)."""

    def __init__(self, schedd: str | None = None, collector: str | None = None,
                 timeout_s: float = CALL_TIMEOUT_S):
        self.schedd_name, self.collector_host = schedd, collector
        self.timeout_s = timeout_s

    def _collector(self):
        import htcondor2
        return htcondor2.Collector(self.collector_host) if self.collector_host else htcondor2.Collector()

    def _schedd(self):
        import htcondor2
        if not self.schedd_name:
            return htcondor2.Schedd()
        return htcondor2.Schedd(self._collector().locate(htcondor2.DaemonType.Schedd, self.schedd_name))

    def _query_jobs(self, status: int, projection: list[str]):
        return bounded("schedd query", lambda: self._schedd().query(
            constraint=f"JobStatus == {status}", projection=projection), self.timeout_s)

    def idle_jobs(self) -> list[Job]:
        return parse_jobs(self._query_jobs(IDLE, JOB_ATTRS))

    def running_jobs(self) -> dict[str, int]:
        return parse_running(self._query_jobs(RUNNING, ["ClusterId", "ProcId", JOB_MACHINE_ATTR]))

    def _startd_ads(self, constraint: str | None = None):
        import htcondor2
        return bounded("collector query", lambda: self._collector().query(
            htcondor2.AdType.Startd, constraint=constraint, projection=SLOT_ATTRS),
            self.timeout_s)

    def slots(self) -> list[Slot]:
        return parse_slots(self._startd_ads())

    def drain(self, instance_id: str, retire: bool = False) -> None:
        """A graceful drain honours MaxJobRetirementTime: condor's default of 0 would evict
        running jobs at once. An idle worker is drained only while every slot is still
        unclaimed; a busy one (`retire`) only if its startd advertises that its jobs may
        retire (the rendered worker config sets MAXJOBRETIREMENTTIME and RETIRE_ATTR):
        the startd refuses the drain otherwise, and no job is cut off."""
        import htcondor2
        ads = self._startd_ads(drain_constraint(instance_id))
        if not ads:
            raise CondorError(f"drain: no startd with {INSTANCE_ATTR} == {instance_id!r}")
        check = f"{RETIRE_ATTR} =?= True" if retire else 'State == "Unclaimed"'
        why = ("relval autoscaler: emptiest worker, its jobs finish first" if retire
               else "relval autoscaler: idle past idleTimeout")
        bounded(f"drain {instance_id}", lambda: htcondor2.Startd(ads[0]).drainJobs(
            drain_type=htcondor2.DrainType.Graceful, check_expr=check, reason=why),
            self.timeout_s)


def drain_constraint(instance_id: str) -> str:
    """A collector constraint for this VM's startd, quoting the id as a ClassAd string."""
    import classad2
    return f"{INSTANCE_ATTR} == {classad2.quote(instance_id)}"
