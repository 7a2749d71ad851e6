"""One scaler cycle: observe -> reconcile -> decide -> apply -> save.

The daemon runs it on a timer against the real adapters; the simulator runs it on a
virtual clock against the fakes. Both go through exactly this code, including the
state file, so the simulator's restart scenario tests the real restart path.
"""

from __future__ import annotations

import logging
import os
import uuid
from pathlib import Path
from dataclasses import dataclass, field, replace

from .config import ScalerConfig
from .core import decide, stuck_deletes
from .interfaces import AdapterError, Cloud, Condor, QuotaError
from . import live_config
from .model import (BY_SCALER, DELETING, GONE, HEAD_ROLE, MANAGED_KEY, RELEASE_KEY, ROLE_KEY, STACK_ID_KEY,
                    STACK_KEY, STOP_KEY, STOPPED_KEY, WORKER_ROLE, Action, Alert, Boot, Delete,
                    Drain, Observed, Unfittable, Worker, describe)
from .state import JsonStore, ScalerState, reconcile, record_boot, record_delete, record_drain

log = logging.getLogger("relval.autoscaler")


@dataclass
class CycleResult:
    now: float
    actions: list[Action] = field(default_factory=list)
    observed: Observed | None = None
    error: str | None = None
    created: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    failed_calls: int = 0
    stuck_deletes: list[str] = field(default_factory=list)   # VMs past deleteTimeout


@dataclass
class Counters:
    """Monotonic totals since the daemon started (exported as Prometheus counters)."""

    cycles: int = 0
    skipped_cycles: int = 0
    boots: int = 0
    boot_api_errors: int = 0
    deletes: int = 0
    drains: int = 0
    failed_boots: int = 0
    quota_refusals: int = 0


class Controller:
    def __init__(self, cloud: Cloud, condor: Condor, config: ScalerConfig, store: JsonStore,
                 release: str = "", dry_run: bool = False, logger: logging.Logger = log,
                 stop_file: str | os.PathLike | None = None):
        self.cloud, self.condor, self.config = cloud, condor, config
        self.store, self.release, self.dry_run, self.log = store, release, dry_run, logger
        self.stop_file = Path(stop_file) if stop_file else None
        self.state: ScalerState = store.load()
        if store.broken is not None:
            self.log.warning("state file %s was unreadable (%s): moved to %s; rebuilding from "
                             "the cloud (workers are adopted by tag)", store.path,
                             store.broken_why, store.broken)
        self.counters = Counters()
        self._notices: set[str] = set()
        self._config_problems: set[str] = set()

    def metadata(self) -> dict[str, str]:
        md = {STACK_KEY: self.config.stack, ROLE_KEY: WORKER_ROLE, MANAGED_KEY: BY_SCALER}
        if self.config.stack_id:
            md[STACK_ID_KEY] = self.config.stack_id
        if self.release:
            md[RELEASE_KEY] = self.release
        return md

    def cycle(self, now: float, persist: bool = True) -> CycleResult:
        result = CycleResult(now)
        self.counters.cycles += 1
        try:
            workers = self.cloud.list_workers()
            limits = self.cloud.limits()
            slots = self.condor.slots()
            idle = self.condor.idle_jobs()
            running = self.condor.running_jobs()
        except AdapterError as error:
            # Never decide on a partial picture: skip, keep every timer as it is.
            self.counters.skipped_cycles += 1
            result.error = str(error)
            self.log.warning("cycle skipped, observation failed: %s", error)
            return result
        if self._stopped(workers, now, result):
            return result
        self._follow_head_metadata(workers)
        if not self.config.enabled:
            # relval:autoscaler disabled on a running stack: act on nothing until re-enabled.
            result.actions = [Alert("disabled through the head's metadata (relval:autoscaler)",
                                    case="disabled")]
            return result
        observed = reconcile(self.state, workers, slots, idle, running, limits,
                             self.config.stack, now, stack_id=self.config.stack_id,
                             flavor=self.config.flavor)
        result.observed = observed
        result.actions = decide(observed, self._with_initial_boots(workers), now)
        result.stuck_deletes = [w.id for w in stuck_deletes(observed, self.config, now)]
        decided = len(result.actions)
        self._log(result.actions)
        if not self.dry_run:
            self._apply(result, now)
            self._log(result.actions[decided:])   # alerts raised while applying (quota)
        self._notices = {describe(a) for a in result.actions if isinstance(a, (Alert, Unfittable))}
        self.state.alert = next((a.reason for a in result.actions if isinstance(a, Alert)), None)
        if not self.dry_run and persist:
            self.store.save(self.state)
        return result

    def _log(self, actions: list[Action]) -> None:
        # Alerts and unfittable jobs repeat every cycle while they last: log them on change.
        for action in actions:
            line = describe(action)
            if isinstance(action, (Alert, Unfittable)):
                if line not in self._notices:
                    self.log.warning("%s", line)
            else:
                self.log.info("%s%s", "(dry run) " if self.dry_run else "", line)

    def _with_initial_boots(self, workers: list[Worker]) -> ScalerConfig:
        """The config `decide` gets: until the scaler's first boots (`workers.initial`) are
        made, the pool's floor is `initial`, so they are booted like a top-up to min.
        Once this stack has that many workers the floor is `min` again, for good."""
        if self.state.initial_done or self.config.initial <= self.config.min:
            return self.config
        owned = [w for w in workers if w.owned_by(self.config.stack, self.config.stack_id)
                 and w.status not in (GONE, DELETING)]
        if len(owned) >= self.config.initial:
            self.state.initial_done = True
            return self.config
        return replace(self.config, min=min(self.config.initial, self.config.max))

    def _follow_head_metadata(self, workers: list[Worker]) -> None:
        """Take the knobs Pulumi keeps on the head's metadata (`live_config`): a changed
        `relval:autoscaler.*` or `relval:workers.min/max` reaches this loop within a cycle,
        without replacing the head."""
        head = next((w for w in workers if w.of_stack(self.config.stack, self.config.stack_id)
                     and w.metadata.get(ROLE_KEY) == HEAD_ROLE), None)
        if head is None:
            return
        config, problems = live_config.from_metadata(self.config, head.metadata)
        for problem in problems:
            if problem not in self._config_problems:   # logged once while it lasts
                self.log.warning("%s; keeping the running value", problem)
        self._config_problems = set(problems)
        changed = live_config.changes(self.config, config)
        if changed:
            self.log.info("[config] from the head's metadata: %s", ", ".join(changed))
            self.config = config

    def _stopped(self, workers: list[Worker], now: float, result: CycleResult) -> bool:
        """The teardown protocol: once asked to stop, never act again, and say so.

        The request is the head's `relval-scaler-stop` metadata (set by `relval down`
        through the cloud API, so it works with the head unreachable) or the stop file.
        The answer copies the request's token into the head's `relval-scaler-stopped`,
        written before this cycle could act: after it, this scaler boots nothing.
        """
        heads = [w for w in workers if w.of_stack(self.config.stack, self.config.stack_id)
                 and w.metadata.get(ROLE_KEY) == HEAD_ROLE]
        token = next((h.metadata[STOP_KEY] for h in heads if h.metadata.get(STOP_KEY)), None)
        by_file = self.stop_file is not None and self.stop_file.exists()
        if token is None and not by_file and self.state.stopped_at is None:
            return False
        if self.state.stopped_at is None:
            self.state.stopped_at = now
            self.log.warning("[stopped] %s: stopping for good (teardown); no boot, drain or "
                             "delete from now on", "head metadata " + STOP_KEY if token
                             else f"stop file {self.stop_file}")
        for head in heads:
            if token is not None and head.metadata.get(STOPPED_KEY) != token:
                try:
                    self.cloud.set_metadata(head.id, {STOPPED_KEY: token})
                except AdapterError as error:
                    result.failed_calls += 1
                    self.log.warning("answering the stop request failed, retried: %s", error)
        result.actions = [Alert(f"stopped for teardown since t={self.state.stopped_at:.0f}",
                                case="stopped")]
        self.state.alert = result.actions[0].reason
        if not self.dry_run:
            self.store.save(self.state)
        return True

    def _apply(self, result: CycleResult, now: float) -> None:
        for action in result.actions:
            if isinstance(action, Delete):
                if action.failure:
                    self.counters.failed_boots += 1
                try:
                    self.cloud.delete_worker(action.worker)
                except AdapterError as error:
                    result.failed_calls += 1
                    self.log.warning("delete %s failed, retried next cycle: %s", action.worker, error)
                    continue
                self.counters.deletes += 1
                record_delete(self.state, action, now)
                result.deleted.append(action.worker)
            elif isinstance(action, Drain):
                try:
                    self.condor.drain(action.worker, retire=action.retire)
                except AdapterError as error:
                    result.failed_calls += 1
                    self.log.warning("drain %s failed, retried next cycle: %s", action.worker, error)
                    continue
                self.counters.drains += 1
                record_drain(self.state, action, now)
            elif isinstance(action, Boot):
                ids: list[str | None] = []
                for _ in range(action.n):
                    name = f"{self.config.stack}-worker-{uuid.uuid4().hex[:8]}"
                    try:
                        ids.append(self.cloud.create_worker(name, self.metadata()))
                    except QuotaError as error:
                        # Nothing was created: not a failed boot, the breaker stays shut.
                        result.failed_calls += 1
                        self.counters.quota_refusals += 1
                        result.actions.append(Alert(f"a boot was refused for quota: {error}",
                                                    case="quota-refused"))
                        self.log.warning("create %s refused for quota: %s", name, error)
                        break
                    except AdapterError as error:
                        result.failed_calls += 1
                        self.counters.boot_api_errors += 1
                        self.log.warning("create %s failed: %s", name, error)
                        ids.append(None)
                        break  # the next cycle decides again, with backoff
                record_boot(self.state, action, ids, now)
                created = [i for i in ids if i]
                self.counters.boots += len(created)
                result.created.extend(created)
