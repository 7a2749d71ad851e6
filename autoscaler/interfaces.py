"""The two narrow interfaces the daemon and the simulator drive, and their errors.

Real adapters (`adapters/openstack.py`, `adapters/ec2.py`, `adapters/condor.py`) and the
in-memory fakes (`fakes.py`) implement exactly these methods, nothing more.
"""

from __future__ import annotations

from typing import Protocol

from .model import Job, Limits, Slot, Worker


class AdapterError(Exception):
    """A failed call to the cloud or to condor; the cycle is skipped or the action retried."""


class CloudError(AdapterError):
    pass


class QuotaError(CloudError):
    """The cloud refused a boot for quota (nova: 403 "Quota exceeded ..."). Not a
    failed boot: nothing was created, and the breaker must not count it."""


class CondorError(AdapterError):
    pass


class Cloud(Protocol):
    def create_worker(self, name: str, metadata: dict[str, str]) -> str:
        """Boot one worker VM with this metadata; return its id."""

    def list_workers(self) -> list[Worker]:
        """Every VM carrying this stack's metadata (any role, any status)."""

    def delete_worker(self, worker_id: str) -> None:
        """Delete a VM; deleting one that is already gone is not an error."""

    def limits(self) -> Limits:
        """The project's quota and its current use (every VM in the project)."""

    def set_metadata(self, vm_id: str, metadata: dict[str, str]) -> None:
        """Add or change metadata (tags) on a VM: the teardown protocol's stop and answer."""


class Condor(Protocol):
    def idle_jobs(self) -> list[Job]:
        """Idle jobs (JobStatus 1) with their requests."""

    def running_jobs(self) -> dict[str, int]:
        """Running jobs per RelvalInstanceId of the machine they run on, by the schedd
        ("" for jobs whose machine is unknown). The total is the sum."""

    def slots(self) -> list[Slot]:
        """The startd ads in the collector."""

    def drain(self, instance_id: str, retire: bool = False) -> None:
        """Drain the startd of this VM gracefully: no new job starts there. Without
        `retire` only while every slot is unclaimed; with it, running jobs finish first
        (their retirement time), and only on workers that promise it."""
