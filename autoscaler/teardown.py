"""Delete every VM carrying a stack's metadata and wait until they are gone.

`relval down` calls this before `pulumi destroy`: it finds VMs by tag, not from the
scaler's state file, so workers booted by the scaler, failed boots and VMs of a
crashed daemon are all caught. Running it again is safe: nothing left, nothing done.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

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

    @property
    def clean(self) -> bool:
        return not self.remaining

    def to_json(self) -> dict:
        return {"stack": self.stack, "found": self.found, "deleted": self.deleted,
                "remaining": self.remaining, "errors": self.errors,
                "waited_s": round(self.waited_s, 1), "clean": self.clean}


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
