"""The simulated cloud's state: collections of records, the clock, quotas in force.

Records are plain dicts. Neutron's are kept in their API shape, with internal fields
prefixed by `_`; the other services render theirs per request (microversions).
Every request runs under `lock`, so handlers never see a half-done change.
"""

from __future__ import annotations

import threading
import time
import uuid
from datetime import datetime, timezone

from .errors import not_found
from .faults import Faults
from .settings import Settings

COLLECTIONS = ("flavors", "images", "keypairs", "server_groups", "servers", "networks",
               "subnets", "ports", "security_groups", "security_group_rules", "floating_ips",
               "volumes", "volume_types", "application_credentials")


def new_id() -> str:
    return str(uuid.uuid4())


def iso_z(t: float | None) -> str | None:
    """2024-05-01T10:00:00Z: nova servers, neutron, glance."""
    if t is None:
        return None
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_micro(t: float | None) -> str | None:
    """2024-05-01T10:00:00.123456 (no zone): cinder, nova's launched_at and keypairs."""
    if t is None:
        return None
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")


def iso_micro_z(t: float) -> str:
    """2024-05-01T10:00:00.123456Z: keystone tokens."""
    return iso_micro(t) + "Z"


class Store:
    def __init__(self, settings: Settings | None = None, clock=time.time):
        self.settings = settings or Settings()
        self.clock = clock
        self.faults = Faults()
        self.lock = threading.RLock()
        self.data: dict[str, dict[str, dict]] = {name: {} for name in COLLECTIONS}
        self.tokens: dict[str, dict] = {}
        self.seeded: set[str] = set()   # ids of what existed before the run (seed)
        self.requests = 0

    def now(self) -> float:
        return self.clock()

    def add(self, collection: str, record: dict, seeded: bool = False) -> dict:
        self.data[collection][record["id"]] = record
        if seeded:
            self.seeded.add(record["id"])
        return record

    def get(self, collection: str, record_id: str, message: str, kind: str = "") -> dict:
        try:
            return self.data[collection][record_id]
        except KeyError:
            raise not_found(message, kind) from None

    def find(self, collection: str, **equal) -> list[dict]:
        return [r for r in self.data[collection].values()
                if all(r.get(k) == v for k, v in equal.items())]

    def remove(self, collection: str, record_id: str) -> None:
        self.data[collection].pop(record_id, None)
        self.seeded.discard(record_id)

    def quota(self, name: str) -> int:
        return self.settings.quotas[name]
