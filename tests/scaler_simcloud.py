"""The head's scaler daemon running against the simulated OpenStack, for over-HTTP tests.

`ScalerOnSimcloud` runs `autoscaler.daemon.run` (the loop the head's unit runs) in a
thread. Its cloud is the real openstacksdk adapter, logged in with the stack's own
application credential as on the head; its condor is `PoolOnCloud`, the in-memory
pool whose startds follow what the cloud lists: a VM joins once ACTIVE, keeps its
jobs through transient statuses (a live migration does not stop the guest), and loses
them when it is deleted (counted in `jobs_killed`).
"""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from pathlib import Path

import openstack.connection

from relval.autoscaler.adapters.openstack import OpenStackCloud
from relval.autoscaler.config import DaemonConfig, Flavor, ScalerConfig
from relval.autoscaler.daemon import run
from relval.autoscaler.fakes import FakeCondor
from relval.autoscaler.model import (ACTIVE, BY_SCALER, MANAGED_KEY, ROLE_KEY, STACK_KEY, TRANSIENT,
                                     WORKER_ROLE, Job, Slot, Worker)

STACK = "alice"
FLAVOR, IMAGE, NETWORK = "m1.small", "alma9", "relval-net"   # simcloud_support.STANDARD_SEED
CORES, RAM_MB = 1, 2048                                      # m1.small


def deploy_head(sim, operator) -> str:
    """What `pulumi up` leaves for the scaler: the head, with Pulumi's metadata."""
    server = operator.compute.create_server(
        name=f"{STACK}-head", image_id=sim.ids["images"][IMAGE], flavor_id=sim.ids["flavors"][FLAVOR],
        networks=[{"uuid": sim.ids["networks"][NETWORK]}],
        metadata={STACK_KEY: STACK, ROLE_KEY: "head", MANAGED_KEY: "pulumi"})
    return server.id


class CountingCloud:
    """The adapter, counting what the scaler asked of it and remembering the last listing."""

    def __init__(self, cloud: OpenStackCloud, hide_group_quota: bool = False):
        self.cloud = cloud
        # True: limits() as read just before another client filled the server group, so
        # nova's 403 is what stops the boot.
        self.hide_group_quota = hide_group_quota
        self.creates = self.listings = 0
        self.deleted: list[str] = []
        self.last: list[Worker] = []
        self.errors: list[str] = []

    def create_worker(self, name: str, metadata: dict[str, str]) -> str:
        self.creates += 1
        return self._record(self.cloud.create_worker, name, metadata)

    def list_workers(self) -> list[Worker]:
        self.listings += 1
        self.last = self._record(self.cloud.list_workers)
        return self.last

    def delete_worker(self, worker_id: str) -> None:
        self.deleted.append(worker_id)
        return self._record(self.cloud.delete_worker, worker_id)

    def limits(self):
        limits = self._record(self.cloud.limits)
        return replace(limits, max_group_members=None) if self.hide_group_quota else limits

    def set_metadata(self, vm_id: str, metadata: dict[str, str]) -> None:
        return self._record(self.cloud.set_metadata, vm_id, metadata)

    def _record(self, fn, *args):
        try:
            return fn(*args)
        except Exception as error:
            self.errors.append(str(error))
            raise


class PoolOnCloud:
    """A condor pool whose startds follow the cloud's listing (see the module docstring)."""

    def __init__(self, cloud: CountingCloud, idle_jobs: int = 0, job_cpus: int = 1,
                 job_memory_mb: int = 1000):
        self.cloud = cloud
        self.condor = FakeCondor()
        self.condor.submit(idle_jobs, job_cpus, job_memory_mb, 1e9, 0.0)
        self.jobs_killed = 0
        self.busy_deleted: set[str] = set()
        self._lock = threading.Lock()

    def _sync(self) -> None:
        listed = {w.id: w for w in self.cloud.last if w.owned_by(STACK)}
        for wid in list(self.condor.startds):
            if wid not in listed or wid in self.cloud.deleted:
                lost = self.condor.leave(wid)
                if lost:
                    self.busy_deleted.add(wid)
                self.jobs_killed += len(lost)
        for wid, w in listed.items():
            if w.status == ACTIVE and wid not in self.condor.startds and wid not in self.cloud.deleted:
                self.condor.join(wid, CORES, RAM_MB)
        for startd in self.condor.startds.values():
            status = listed[startd.instance_id].status
            while self.condor.idle and not startd.draining and status in (ACTIVE, TRANSIENT):
                job = self.condor.idle[0]
                if startd.free[0] < job.cpus or startd.free[1] < job.memory_mb:
                    break
                self.condor.idle.pop(0)
                startd.jobs.append(job)
                job.machine = startd.instance_id
                self.condor.running[job.id] = job

    def slots(self) -> list[Slot]:
        with self._lock:
            self._sync()
            return self.condor.slots()

    def idle_jobs(self) -> list[Job]:
        return self.condor.idle_jobs()

    def running_jobs(self) -> dict[str, int]:
        return self.condor.running_jobs()

    def drain(self, instance_id: str, retire: bool = False) -> None:
        self.condor.drain(instance_id, retire)

    def busy_workers(self) -> set[str]:
        with self._lock:
            return {s.instance_id for s in self.condor.startds.values() if s.jobs}


class _Stop(Exception):
    pass


def scaler_connection(sim, operator):
    """A connection as the head's clouds.yaml gives one: the stack's application credential."""
    credential = operator.identity.create_application_credential(
        user=operator.current_user_id, name=f"{STACK}-autoscaler")
    return openstack.connection.Connection(
        **sim.server.cloud_config(credential=(credential.id, credential.secret)))


class ScalerOnSimcloud:
    """The daemon in a thread; a context manager that stops it (and re-raises its crash)."""

    def __init__(self, sim, operator, tmp_path: Path, idle_jobs: int = 0, poll_s: float = 0.2,
                 server_group_id: str | None = None, hide_group_quota: bool = False, **policy):
        self.sim = sim
        adapter = OpenStackCloud(scaler_connection(sim, operator), STACK, sim.ids["images"][IMAGE],
                                 sim.ids["flavors"][FLAVOR], sim.ids["networks"][NETWORK],
                                 user_data="#cloud-config\n", flavor_size=(CORES, RAM_MB),
                                 server_group_id=server_group_id)
        self.cloud = CountingCloud(adapter, hide_group_quota)
        self.pool = PoolOnCloud(self.cloud, idle_jobs)
        scaler = ScalerConfig(**{"stack": STACK, "min": 0, "max": 4, "flavor": Flavor(CORES, RAM_MB),
                                 "poll_seconds": poll_s, **policy})
        self.state_file = tmp_path / "scaler-state.json"
        self.metrics_file = tmp_path / "metrics.prom"
        self.config = DaemonConfig(scaler, state_file=str(self.state_file),
                                   metrics_file=str(self.metrics_file), stop_file=None)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="scaler", daemon=True)
        self.results: list = []
        self.crash: BaseException | None = None

    def metadata(self) -> dict[str, str]:
        return {STACK_KEY: STACK, ROLE_KEY: WORKER_ROLE, MANAGED_KEY: BY_SCALER}

    def _sleep(self, seconds: float) -> None:
        if self._stop.wait(max(seconds, 0.01)):
            raise _Stop

    def _run(self) -> None:
        try:
            run(self.config, cloud=self.cloud, condor=self.pool, sleep=self._sleep)
        except _Stop:
            pass
        except BaseException as error:  # noqa: BLE001 - reported by __exit__
            self.crash = error

    def creates(self) -> int:
        return self.cloud.creates

    def cycles(self) -> int:
        return self.cloud.listings

    def state(self) -> dict:
        try:
            return json.loads(self.state_file.read_text())
        except (FileNotFoundError, ValueError):
            return {}

    def metric(self, name: str) -> float:
        """One value of the Prometheus file the daemon writes after every cycle."""
        for line in self.metrics_file.read_text().splitlines():
            if line.startswith(f"relval_autoscaler_{name} "):
                return float(line.split()[-1])
        raise KeyError(name)

    def outcomes(self) -> dict[str, str | None]:
        """Boot id -> outcome, from the state file."""
        return {b["id"]: b["outcome"] for b in self.state().get("boots", [])}

    def stopped_at(self) -> float | None:
        return self.state().get("stopped_at")

    def __enter__(self) -> "ScalerOnSimcloud":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        if self.crash is not None and exc[0] is None:
            raise self.crash
