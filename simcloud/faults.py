"""Faults injected at run time: what the scaler and the teardown must survive.

A rule is consumed by the events it matches, `count` times (None: until cleared):
- `boot_error`: a matching server being created ends in ERROR instead of ACTIVE;
- `build_stuck`: a matching server stays in BUILD for ever;
- `delete_stuck`: a matching server being deleted stays (task_state deleting) for ever;
- `api_error`: a matching API call is answered with `status` (500 by default);
- `volume_kept`: a matching server's delete leaves the volumes it should have deleted
  with it (`delete_on_termination`) behind, available: Nova's Cinder call failed.
`transient` is not a rule: it moves the matching servers to a status such as MIGRATING
now, for `seconds` (see Store.make_transient).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import asdict, dataclass

RULE_KINDS = ("boot_error", "build_stuck", "delete_stuck", "api_error", "volume_kept")
TRANSIENT_STATUSES = ("MIGRATING", "REBOOT", "HARD_REBOOT", "RESIZE", "VERIFY_RESIZE",
                      "REVERT_RESIZE", "REBUILD", "PASSWORD", "RESCUE")


@dataclass
class Rule:
    id: int
    kind: str
    count: int | None = 1
    name: str | None = None        # regex on the server name (server rules)
    method: str | None = None      # HTTP method (api_error)
    path: str | None = None        # regex searched in the request path (api_error)
    status: int = 500              # api_error
    message: str | None = None

    def matches_server(self, server_name: str) -> bool:
        return self.name is None or re.search(self.name, server_name) is not None

    def matches_call(self, method: str, path: str) -> bool:
        return ((self.method is None or self.method.upper() == method.upper())
                and (self.path is None or re.search(self.path, path) is not None))


def parse_rule(spec: dict, rule_id: int) -> Rule:
    """A rule from its JSON spec; ValueError names the field that is wrong."""
    kind = spec.get("kind")
    if kind not in RULE_KINDS:
        raise ValueError(f"kind must be one of {', '.join(RULE_KINDS + ('transient',))}")
    known = {"kind", "count", "name", "method", "path", "status", "message"}
    unknown = set(spec) - known
    if unknown:
        raise ValueError(f"unknown field for {kind}: {min(unknown)}")
    count = spec.get("count", 1)
    if count is not None and (not isinstance(count, int) or count < 1):
        raise ValueError("count must be a positive integer or null")
    status = spec.get("status", 500)
    if not isinstance(status, int) or not 400 <= status <= 599:
        raise ValueError("status must be an HTTP error status (400-599)")
    for field in ("name", "path"):
        if spec.get(field) is not None:
            re.compile(spec[field])
    return Rule(rule_id, kind, count, spec.get("name"), spec.get("method"), spec.get("path"),
                status, spec.get("message"))


class Faults:
    def __init__(self):
        self.rules: list[Rule] = []
        self._ids = itertools.count(1)

    def add(self, spec: dict) -> Rule:
        rule = parse_rule(spec, next(self._ids))
        self.rules.append(rule)
        return rule

    def clear(self) -> None:
        self.rules.clear()

    def listing(self) -> list[dict]:
        return [asdict(r) for r in self.rules]

    def _consume(self, rule: Rule) -> Rule:
        if rule.count is not None:
            rule.count -= 1
            if rule.count == 0:
                self.rules.remove(rule)
        return rule

    def take_server(self, kind: str, server_name: str) -> Rule | None:
        for rule in self.rules:
            if rule.kind == kind and rule.matches_server(server_name):
                return self._consume(rule)
        return None

    def take_call(self, method: str, path: str) -> Rule | None:
        for rule in self.rules:
            if rule.kind == "api_error" and rule.matches_call(method, path):
                return self._consume(rule)
        return None
