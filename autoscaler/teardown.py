"""Delete everything carrying a stack's metadata and wait until it is gone.

`teardown` deletes a stack's VMs (the scaler's workers, failed boots, VMs of a crashed
daemon) found by metadata, not from the scaler's state file. `sweep` does the same for
every resource kind a stack owns (servers, volumes, floating IPs, ports, security groups,
keypairs, server groups, the scaler's application credential); `relval down` runs it
before `pulumi destroy`, so nothing leaks even when the state is lost.

Either is clean only when a listing *succeeded* and found nothing: a cloud that could
not be listed is never reported clean. Running them again is safe.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Protocol

from .interfaces import AdapterError, Cloud
from .model import GONE, ROLE_KEY, STACK_KEY


@dataclass
class TeardownReport:
    stack: str
    found: list[str] = field(default_factory=list)      # matching VMs seen at the start
    deleted: list[str] = field(default_factory=list)    # delete calls that were accepted
    remaining: list[str] = field(default_factory=list)  # still present at the end
    errors: list[str] = field(default_factory=list)
    waited_s: float = 0.0
    listed: bool = False                                # the last listing succeeded

    @property
    def clean(self) -> bool:
        return self.listed and not self.remaining

    def to_json(self) -> dict:
        return {"stack": self.stack, "found": self.found, "deleted": self.deleted,
                "remaining": self.remaining, "errors": self.errors,
                "waited_s": round(self.waited_s, 1), "listed": self.listed, "clean": self.clean}


def teardown(cloud: Cloud, stack: str, roles: tuple[str, ...] = ("worker",),
             timeout_s: float = 900, poll_s: float = 5,
             sleep: Callable[[float], None] = time.sleep,
             clock: Callable[[], float] = time.monotonic,
             progress: Callable[[int], None] | None = None) -> TeardownReport:
    """Delete this stack's VMs of these roles (re-sending deletes) until none is listed."""
    report = TeardownReport(stack)
    start = clock()
    first = True
    while True:
        try:
            vms = [w for w in cloud.list_workers()
                   if w.metadata.get(STACK_KEY) == stack and w.metadata.get(ROLE_KEY) in roles
                   and w.status != GONE]
        except AdapterError as error:
            report.errors.append(str(error))
            vms = None
        report.listed = vms is not None
        if vms is not None:
            if first:
                report.found = sorted(w.id for w in vms)
                first = False
            if progress:
                progress(len(vms))
            if not vms:
                report.remaining = []
                break
            for w in vms:
                try:
                    cloud.delete_worker(w.id)
                    if w.id not in report.deleted:
                        report.deleted.append(w.id)
                except AdapterError as error:
                    report.errors.append(f"delete {w.id}: {error}")
            report.remaining = sorted(w.id for w in vms)
        if clock() - start >= timeout_s:
            break
        sleep(poll_s)
    report.waited_s = clock() - start
    return report


# --- every resource kind a stack owns --------------------------------------------------------------

# The scaler's credential goes first, so nothing can boot behind the sweep's back; servers
# next, since their ports, volumes and floating IPs stay in use until they are gone.
SWEEP_ORDER = ("application_credential", "server", "floating_ip", "port", "volume",
               "security_group", "server_group", "keypair")


@dataclass(frozen=True)
class Resource:
    kind: str          # one of SWEEP_ORDER
    id: str
    name: str = ""


class StackResources(Protocol):
    """What `sweep` needs from a cloud: a stack's resources of one kind, and deleting one."""

    def list(self, kind: str) -> list[Resource]:
        """This stack's resources of `kind` (by metadata, tag or stack-derived name)."""

    def delete(self, kind: str, resource_id: str) -> None:
        """Delete one; one that is already gone is not an error."""


@dataclass
class SweepReport:
    stack: str
    found: dict[str, list[str]] = field(default_factory=dict)      # kind -> ids seen at first listing
    deleted: dict[str, list[str]] = field(default_factory=dict)    # kind -> accepted deletes
    remaining: dict[str, list[str]] = field(default_factory=dict)  # kind -> still listed at the end
    unlisted: dict[str, str] = field(default_factory=dict)         # kind -> why its last listing failed
    errors: list[str] = field(default_factory=list)
    waited_s: float = 0.0

    @property
    def clean(self) -> bool:
        return not self.unlisted and not any(self.remaining.values())

    def left(self) -> list[str]:
        """What keeps the sweep from being clean, one entry per kind."""
        return ([f"{len(ids)} {kind}(s): {', '.join(ids)}" for kind, ids in self.remaining.items() if ids]
                + [f"{kind}: could not list ({why})" for kind, why in self.unlisted.items()])

    def to_json(self) -> dict:
        return {"stack": self.stack, "found": self.found, "deleted": self.deleted,
                "remaining": {k: v for k, v in self.remaining.items() if v},
                "unlisted": self.unlisted, "errors": self.errors,
                "waited_s": round(self.waited_s, 1), "clean": self.clean}


def _note(errors: list[str], message: str, limit: int = 50) -> None:
    # A retried failure repeats every round: keep each message once, and a bounded list.
    if message not in errors and len(errors) < limit:
        errors.append(message)


def sweep(resources: StackResources, stack: str, kinds: tuple[str, ...] = SWEEP_ORDER,
          timeout_s: float = 900, poll_s: float = 5,
          sleep: Callable[[float], None] = time.sleep,
          clock: Callable[[], float] = time.monotonic,
          progress: Callable[[dict[str, int]], None] | None = None) -> SweepReport:
    """List every kind, delete what is listed, and repeat until one round lists nothing
    anywhere, or `timeout_s` has passed. Deletes refused while a resource is still in use
    (a port of a dying server, a group still holding ports) succeed in a later round."""
    report = SweepReport(stack)
    start = clock()
    while True:
        report.remaining, report.unlisted = {}, {}
        for kind in kinds:
            try:
                listed = resources.list(kind)
            except AdapterError as error:
                report.unlisted[kind] = str(error)
                _note(report.errors, f"list {kind}: {error}")
                continue
            ids = sorted(r.id for r in listed)
            report.found.setdefault(kind, ids)
            report.remaining[kind] = ids
            for resource_id in ids:
                try:
                    resources.delete(kind, resource_id)
                except AdapterError as error:
                    _note(report.errors, f"delete {kind} {resource_id}: {error}")
                    continue
                accepted = report.deleted.setdefault(kind, [])
                if resource_id not in accepted:
                    accepted.append(resource_id)
        if progress:
            progress({k: len(v) for k, v in report.remaining.items()})
        if report.clean or clock() - start >= timeout_s:
            break
        sleep(poll_s)
    report.waited_s = clock() - start
    return report
