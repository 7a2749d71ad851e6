"""The condor adapter's parsing, on real ClassAds built with the htcondor bindings."""

from __future__ import annotations

import classad2
import htcondor2
import pytest

from relval.autoscaler.adapters.condor import HTCondor, drain_constraint, parse_jobs, parse_slots
from relval.autoscaler.interfaces import CondorError
from relval.autoscaler.model import BUSY, DRAINING, IDLE, Job
from relval.autoscaler.state import machines


def job_ad(text: str) -> classad2.ClassAd:
    return classad2.parseOne(text)


def test_idle_jobs_are_grouped_by_their_requests():
    ads = [job_ad("ClusterId = 1\nProcId = 0\nJobStatus = 1\nRequestCpus = 1\nRequestMemory = 2000"),
           job_ad("ClusterId = 1\nProcId = 1\nJobStatus = 1\nRequestCpus = 1\nRequestMemory = 2000"),
           job_ad("ClusterId = 2\nProcId = 0\nJobStatus = 1\nRequestCpus = 8\nRequestMemory = 14000")]
    assert parse_jobs(ads) == [Job(1, 2000, 2), Job(8, 14000, 1)]


def test_request_expressions_are_evaluated_like_condor_does():
    # condor_submit's default memory request is an expression over MemoryUsage.
    ad = job_ad("RequestCpus = 2 * 2\n"
                "RequestMemory = ifThenElse(MemoryUsage =!= undefined, MemoryUsage, 1500)")
    assert parse_jobs([ad]) == [Job(4, 1500, 1)]
    ad["MemoryUsage"] = 3000
    assert parse_jobs([ad]) == [Job(4, 3000, 1)]


def test_missing_or_undefined_requests_fall_back_to_defaults():
    odd = classad2.ClassAd()
    odd["RequestCpus"] = classad2.ExprTree("undefined")
    odd["RequestMemory"] = classad2.ExprTree("Nope * 2")
    ads = [job_ad("ClusterId = 3"), odd]
    assert parse_jobs(ads) == [Job(1, 1024, 2)]


def startd_ads(instance: str, jobs: int = 0, draining: bool = False) -> list[classad2.ClassAd]:
    host = f"worker-{instance}.example"
    p = classad2.ClassAd({"Name": f"slot1@{host}", "Machine": host, "MyType": "Machine",
                          "State": "Drained" if draining else "Unclaimed",
                          "Activity": "Retiring" if draining and jobs else "Idle",
                          "Cpus": 8 - jobs, "Memory": 16000 - 2000 * jobs,
                          "PartitionableSlot": True, "SlotType": "Partitionable",
                          "RelvalInstanceId": instance, "EnteredCurrentState": 1700000000})
    if draining:
        p["DrainingRequestId"] = "42"
    out = [p]
    for i in range(1, jobs + 1):
        out.append(classad2.ClassAd({"Name": f"slot1_{i}@{host}", "Machine": host,
                                     "State": "Claimed", "Activity": "Retiring" if draining else "Busy",
                                     "Cpus": 1, "Memory": 2000, "DynamicSlot": True,
                                     "SlotType": "Dynamic", "RelvalInstanceId": instance}))
    return out


def test_startd_ads_map_to_vms_through_relval_instance_id():
    ads = startd_ads("id-a") + startd_ads("id-b", jobs=3) + startd_ads("id-c", jobs=1, draining=True)
    ads.append(classad2.ClassAd({"Name": "slot1@laptop", "Machine": "laptop", "State": "Unclaimed",
                                 "Activity": "Idle", "Cpus": 4, "Memory": 8000}))
    slots = parse_slots(ads)
    assert slots[0].instance_id == "id-a" and slots[0].slot_type == "Partitionable"
    assert slots[0].entered_state == 1700000000.0
    assert slots[-1].instance_id is None   # a startd relval did not make
    m = machines(slots)
    assert set(m) == {"id-a", "id-b", "id-c"}
    assert (m["id-a"].state, m["id-a"].free_cpus, m["id-a"].free_memory_mb) == (IDLE, 8, 16000)
    assert (m["id-b"].state, m["id-b"].running_jobs, m["id-b"].free_cpus) == (BUSY, 3, 5)
    assert (m["id-c"].state, m["id-c"].running_jobs) == (DRAINING, 1)


def test_drain_constraint_quotes_the_id_as_a_classad_string():
    expr = drain_constraint('odd"id')
    ad = classad2.ClassAd({"RelvalInstanceId": 'odd"id'})
    assert classad2.ExprTree(expr).eval(ad) is True
    assert classad2.ExprTree(expr).eval(classad2.ClassAd({"RelvalInstanceId": "other"})) is False


class _Schedd:
    def __init__(self, ads):
        self.ads, self.queries = ads, []

    def query(self, constraint="True", projection=()):
        self.queries.append((constraint, list(projection)))
        status = int(constraint.split("==")[1])
        return [ad for ad in self.ads if ad.eval("JobStatus") == status]


class _Collector:
    def __init__(self, ads):
        self.ads, self.queries = ads, []

    def query(self, ad_type=None, constraint=None, projection=None):
        self.queries.append((ad_type, constraint))
        if constraint is None:
            return list(self.ads)
        expr = classad2.ExprTree(constraint)
        return [ad for ad in self.ads if expr.eval(ad) is True]


class _Startd:
    calls = []

    def __init__(self, location):
        self.location = location

    def drainJobs(self, **kwargs):  # noqa: N802 (the bindings' name)
        _Startd.calls.append((self.location["Name"], kwargs))
        return "req-1"


def test_adapter_queries_the_schedd_and_collector_and_drains_gracefully(monkeypatch):
    jobs = [job_ad(f"ClusterId = 1\nProcId = {i}\nJobStatus = {1 if i < 3 else 2}\n"
                   "RequestCpus = 1\nRequestMemory = 2000"
                   + ('\nMachineAttrRelvalInstanceId0 = "id-b"' if i == 3 else ""))
            for i in range(5)]
    schedd = _Schedd(jobs)
    collector = _Collector(startd_ads("id-a") + startd_ads("id-b", jobs=2))
    monkeypatch.setattr(htcondor2, "Schedd", lambda *a: schedd)
    monkeypatch.setattr(htcondor2, "Collector", lambda *a: collector)
    monkeypatch.setattr(htcondor2, "Startd", _Startd)
    condor = HTCondor()
    assert condor.idle_jobs() == [Job(1, 2000, 3)]
    # Where each job runs, by the schedd (SYSTEM_JOB_MACHINE_ATTRS); "" when not recorded.
    assert condor.running_jobs() == {"id-b": 1, "": 1}
    assert "MachineAttrRelvalInstanceId0" in schedd.queries[-1][1]
    assert "RequestMemory" in schedd.queries[0][1]
    assert {s.instance_id for s in condor.slots()} == {"id-a", "id-b"}
    condor.drain("id-a")
    name, kwargs = _Startd.calls[-1]
    assert name == "slot1@worker-id-a.example"
    assert kwargs["drain_type"] == htcondor2.DrainType.Graceful
    assert kwargs["check_expr"] == 'State == "Unclaimed"'
    with pytest.raises(CondorError, match="no startd"):
        condor.drain("id-zzz")


def test_a_hung_schedd_is_a_condor_error_not_a_frozen_loop(monkeypatch):
    import threading
    import time

    release = threading.Event()

    class Hung:
        def query(self, **kwargs):
            release.wait(10)
            return []

    monkeypatch.setattr(htcondor2, "Schedd", lambda *a: Hung())
    started = time.monotonic()
    try:
        with pytest.raises(CondorError, match="no answer within"):
            HTCondor(timeout_s=0.2).idle_jobs()
    finally:
        release.set()
    assert time.monotonic() - started < 5


def test_a_busy_worker_is_drained_only_if_its_startd_lets_jobs_retire(monkeypatch):
    """The emptiest-drain of a busy worker: graceful (MaxJobRetirementTime honoured), and
    guarded by a check the startd evaluates on every slot: a worker without the
    retirement promise refuses, so no running job is ever evicted."""
    ads = startd_ads("id-b", jobs=2)
    monkeypatch.setattr(htcondor2, "Collector", lambda *a: _Collector(ads))
    monkeypatch.setattr(htcondor2, "Startd", _Startd)
    HTCondor().drain("id-b", retire=True)
    _, kwargs = _Startd.calls[-1]
    assert kwargs["drain_type"] == htcondor2.DrainType.Graceful
    check = classad2.ExprTree(kwargs["check_expr"])
    assert not any(check.eval(ad) is True for ad in ads)     # an old worker: refused
    for ad in ads:
        ad["RelvalRetiresJobs"] = True                       # the rendered worker config
    assert all(check.eval(ad) is True for ad in ads)
    HTCondor().drain("id-b")
    assert _Startd.calls[-1][1]["check_expr"] == 'State == "Unclaimed"'


def test_a_partitionable_slots_totals_are_what_the_worker_holds():
    """Cpus/Memory of a p-slot are what is left of it; TotalSlotCpus/TotalSlotMemory
    are the worker's size as its startd advertises it (less than the flavor's RAM)."""
    from relval.autoscaler.adapters.condor import SLOT_ATTRS
    from relval.autoscaler.state import machines
    ads = startd_ads("id-a", jobs=3)
    ads[0]["TotalSlotCpus"], ads[0]["TotalSlotMemory"] = 8, 14600
    [m] = machines(parse_slots(ads)).values()
    assert (m.total_cpus, m.total_memory_mb, m.free_cpus, m.running_jobs) == (8, 14600, 5, 3)
    assert {"TotalSlotCpus", "TotalSlotMemory"} <= set(SLOT_ATTRS)
