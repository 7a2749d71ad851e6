"""`relval down`'s scaler side: stop the scaler for good, then delete its VMs and wait.

The protocol, in this order:
1. `request_stop`: put a fresh token into the head's `relval-scaler-stop` metadata
   (through the cloud API, so an unreachable head does not matter) and wait until the
   scaler copies it into `relval-scaler-stopped`. The scaler checks for the request at
   the start of every cycle, before it can act, and never acts again once it has seen
   it: after the answer, it boots nothing. Without an answer (the head or the scaler
   is down, or an older scaler) the report says so; the caller can then take the
   scaler's credential away before the sweep.
2. `teardown`: delete every VM carrying the stack's metadata (and its unique id, when
   given), re-sending deletes, until none is listed twice in a row `settle_s` apart:
   a create the scaler sent just before it stopped can be missing from the first
   empty listing. It finds VMs by tag, not from the scaler's state file, so workers
   booted by the scaler, failed boots and VMs of a crashed daemon are all caught.
   Pulumi's own workers (`relval-managed-by: pulumi`) are left to `pulumi destroy`.
Running it again is safe: nothing left, nothing done.

`sweep` (used by `relval down`) does the same for every resource kind a stack owns
(servers, volumes, floating IPs, ports, security groups, keypairs, server groups, the
scaler's application credential). Either is clean only when a listing *succeeded* and
found nothing: a cloud that could not be listed is never reported clean.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Callable, Protocol

from .interfaces import AdapterError, Cloud
from .model import (BY_PULUMI, GONE, HEAD_ROLE, MANAGED_KEY, ROLE_KEY, STOP_KEY, STOPPED_KEY,
                    Worker)


@dataclass
class StopReport:
    stack: str
    token: str = ""
    heads: list[str] = field(default_factory=list)      # where the request was put
    acknowledged: bool = False                          # the scaler answered: it is stopped
    errors: list[str] = field(default_factory=list)
    waited_s: float = 0.0

    def to_json(self) -> dict:
        return {"stack": self.stack, "heads": self.heads, "acknowledged": self.acknowledged,
                "errors": self.errors, "waited_s": round(self.waited_s, 1)}


@dataclass
class TeardownReport:
    stack: str
    found: list[str] = field(default_factory=list)      # matching VMs seen at the start
    deleted: list[str] = field(default_factory=list)    # delete calls that were accepted
    remaining: list[str] = field(default_factory=list)  # still present at the end
    errors: list[str] = field(default_factory=list)
    waited_s: float = 0.0
    listed: bool = False                                # the last listing succeeded
    stop: StopReport | None = None

    @property
    def clean(self) -> bool:
        return self.listed and not self.remaining

    def to_json(self) -> dict:
        return {"stack": self.stack, "found": self.found, "deleted": self.deleted,
                "remaining": self.remaining, "errors": self.errors,
                "waited_s": round(self.waited_s, 1), "listed": self.listed, "clean": self.clean,
                "scaler_stop": self.stop.to_json() if self.stop else None}


def _heads(cloud: Cloud, stack: str, stack_id: str) -> list[Worker]:
    return [w for w in cloud.list_workers() if w.of_stack(stack, stack_id)
            and w.metadata.get(ROLE_KEY) == HEAD_ROLE and w.status != GONE]


def request_stop(cloud: Cloud, stack: str, stack_id: str = "", timeout_s: float = 120,
                 poll_s: float = 5, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic,
                 token: str | None = None) -> StopReport:
    """Ask the stack's scaler to stop for good and wait (up to timeout_s) for its answer.

    With no head listed there is no scaler to stop: `heads` is empty. The call is
    idempotent: asking again with a new token is answered the same way.
    """
    report = StopReport(stack, token or uuid.uuid4().hex)
    start = clock()
    try:
        heads = _heads(cloud, stack, stack_id)
    except AdapterError as error:
        report.errors.append(f"list: {error}")
        return report
    for head in heads:
        try:
            cloud.set_metadata(head.id, {STOP_KEY: report.token})
            report.heads.append(head.id)
        except AdapterError as error:
            report.errors.append(f"set stop request on {head.id}: {error}")
    while report.heads:
        try:
            answered = [h for h in _heads(cloud, stack, stack_id)
                        if h.metadata.get(STOPPED_KEY) == report.token]
        except AdapterError as error:
            report.errors.append(f"list: {error}")
            answered = []
        if answered:
            report.acknowledged = True
            break
        if clock() - start >= timeout_s:
            break
        sleep(poll_s)
    report.waited_s = clock() - start
    return report


def _sweepable(w: Worker, stack: str, stack_id: str, roles: tuple[str, ...]) -> bool:
    return (w.of_stack(stack, stack_id) and w.metadata.get(ROLE_KEY) in roles
            and w.metadata.get(MANAGED_KEY) != BY_PULUMI and w.status != GONE)


def teardown(cloud: Cloud, stack: str, roles: tuple[str, ...] = ("worker",),
             timeout_s: float = 900, poll_s: float = 5,
             sleep: Callable[[float], None] = time.sleep,
             clock: Callable[[], float] = time.monotonic,
             progress: Callable[[int], None] | None = None, stack_id: str = "",
             stop_scaler: bool = False, stop_timeout_s: float = 120,
             settle_s: float = 0) -> TeardownReport:
    """Delete this stack's VMs of these roles until none is listed.

    The full protocol (what `relval down` should call): `stop_scaler=True` first asks
    the scaler to stop (`request_stop`, its report in `.stop`), and `settle_s` of at
    least the scaler's poll period makes the sweep wait for creates that were in flight.
    """
    report = TeardownReport(stack)
    start = clock()
    if stop_scaler:
        report.stop = request_stop(cloud, stack, stack_id, timeout_s=stop_timeout_s,
                                   poll_s=poll_s, sleep=sleep, clock=clock)
    first = True
    empty_since: float | None = None
    while True:
        try:
            vms = [w for w in cloud.list_workers() if _sweepable(w, stack, stack_id, roles)]
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
            report.remaining = sorted(w.id for w in vms)
            if not vms:
                if empty_since is None:
                    empty_since = clock()
                if clock() - empty_since >= settle_s:
                    break
            else:
                empty_since = None
            for w in vms:
                try:
                    cloud.delete_worker(w.id)
                    if w.id not in report.deleted:
                        report.deleted.append(w.id)
                except AdapterError as error:
                    report.errors.append(f"delete {w.id}: {error}")
        if clock() - start >= timeout_s:
            break
        sleep(min(poll_s, settle_s) if empty_since is not None else poll_s)
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
