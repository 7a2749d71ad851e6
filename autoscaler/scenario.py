"""Simulator scenarios: the YAML file, validated, and the random distributions it names.

Keys (all but `jobs` optional; times in seconds):

    duration_s: 14400
    seed: 1
    cloud:
      boot_time_s: {distribution: lognormal, mean: 180, sd: 40}   # fixed | uniform | normal | lognormal
      join_time_s: {distribution: fixed, mean: 30}   # ACTIVE -> startd in the collector
      error_after_s: {distribution: uniform, min: 10, max: 60}    # when a failing boot shows ERROR
      delete_time_s: {distribution: fixed, mean: 10}  # delete call -> VM gone, quota freed
      p_error: 0.3           # a boot ends in ERROR
      p_stuck: 0.0           # a boot stays in BUILD forever
      p_never_join: 0.0      # ACTIVE, but never joins condor
      p_api_error: 0.0       # any cloud API call fails transiently
      p_quota_refused: 0.0   # a boot is refused with 403 (quota) although limits showed room
      p_stuck_delete: 0.0    # a delete that never completes: the VM stays listed, deleting
                             # (nova's task_state "deleting"), holding its quota
      api_outages: [{at_s: 3600, for_s: 300}]   # every cloud API call fails meanwhile
      advertised_ram_mb: 14600   # what a joined worker's startd advertises (less than the
                             # flavor's RAM: the OS and condor keep some); default: the flavor's
      quota: {instances: 25, cores: 200, ram_mb: 400000, server_group_members: 10}
      foreign_instances: 0   # other users' VMs in the project
      foreign_flavor: {cores: 8, ram_mb: 16000}   # their size (default: the worker flavor)
      flavor: {cores: 8, ram_mb: 16000}
      head: {cores: 4, ram_mb: 8000}   # the stack's head node, in the same project
      transient: [{at_s: 3600, fraction: 0.5, status: MIGRATING, for_s: 900}]
                             # that share of the ACTIVE workers shows a transient nova
                             # status that long; their jobs keep running
    pool: {min: 1, max: 20, initial: 1}   # initial: workers already up at t=0 (default min)
    jobs:
      - {at_s: 0, count: 160, cores: 1, memory_mb: 2000, runtime_s: 1800}   # runtime_s: number or distribution
    restart_daemon_at_s: []
    restart_downtime_s: 60
    teardown_at_s: 7200      # `relval down` starts then, while the scaler still runs, with the
                             # real protocol (stop the scaler, sweep, settle, then destroy)
    collector_outages: [{at_s: 3600, for_s: 60}]   # the collector answers with no startd ads;
                             # afterwards each startd comes back at its next UPDATE_INTERVAL
    condor: {negotiator_interval_s: 20, collector_update_s: 30,
             startd_update_interval_s: 60}   # the startds' UPDATE_INTERVAL (after an outage);
                             # 60 as the rendered worker config sets it
    autoscaler: {pollSeconds: 15, ...}   # relval:autoscaler keys for the relval policy;
                             # startdUpdateInterval defaults to condor.startd_update_interval_s
                             # (one deployment: the scaler is told what its workers do)
    elastiq: {max_vms: 26, idle_timeout_s: 3600}   # overrides for the baseline; by default
                             # max_vms is fair: the pool's max plus the VMs elastiq cannot
                             # tell apart from its own (the head, foreign_instances)
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


from relval.errors import RelvalError
from relval.fields import Field, Problems, load_yaml

from .config import AUTOSCALER_KEYS, Flavor, ScalerConfig, read_scaler_keys
from .model import TRANSIENT_STATUSES

DISTRIBUTIONS = ("fixed", "uniform", "normal", "lognormal")


@dataclass(frozen=True)
class Dist:
    kind: str = "fixed"
    mean: float = 0.0
    sd: float = 0.0
    low: float | None = None
    high: float | None = None

    def sample(self, rng: random.Random) -> float:
        if self.kind == "fixed":
            return self.mean
        if self.kind == "uniform":
            low = self.low if self.low is not None else self.mean - self.sd * math.sqrt(3)
            high = self.high if self.high is not None else self.mean + self.sd * math.sqrt(3)
            return max(0.0, rng.uniform(low, high))
        if self.kind == "normal":
            return max(0.0, rng.gauss(self.mean, self.sd))
        # lognormal with the given mean and sd of the result (not of its logarithm)
        sigma2 = math.log(1 + (self.sd / self.mean) ** 2) if self.mean > 0 else 0.0
        mu = math.log(self.mean) - sigma2 / 2 if self.mean > 0 else 0.0
        return rng.lognormvariate(mu, math.sqrt(sigma2))

    @property
    def typical(self) -> float:
        if self.kind == "uniform" and self.low is not None and self.high is not None:
            return (self.low + self.high) / 2
        return self.mean


@dataclass(frozen=True)
class JobBatch:
    at_s: float
    count: int
    cores: int
    memory_mb: int
    runtime: Dist


@dataclass(frozen=True)
class Window:
    """A fault from `at_s` for `for_s` seconds."""

    at_s: float
    for_s: float

    def covers(self, t: float) -> bool:
        return self.at_s <= t < self.at_s + self.for_s


@dataclass(frozen=True)
class Transient:
    """A share of the ACTIVE workers in a transient cloud status for a while."""

    at_s: float
    for_s: float
    fraction: float
    status: str = "MIGRATING"


@dataclass(frozen=True)
class Scenario:
    name: str = "scenario"
    duration_s: float = 14400
    seed: int = 1
    boot_time: Dist = Dist("lognormal", 180, 40)
    join_time: Dist = Dist("fixed", 30)
    error_after: Dist = Dist("uniform", 35, 0, 10, 60)
    delete_time: Dist = Dist("fixed", 10)
    p_error: float = 0.0
    p_stuck: float = 0.0
    p_never_join: float = 0.0
    p_api_error: float = 0.0
    quota_instances: int | None = None
    quota_cores: int | None = None
    quota_ram_mb: int | None = None
    quota_group_members: int | None = None
    p_quota_refused: float = 0.0
    p_stuck_delete: float = 0.0
    api_outages: tuple[Window, ...] = ()
    advertised_ram_mb: int | None = None      # None: the flavor's RAM
    foreign_instances: int = 0
    flavor: Flavor = Flavor(8, 16000)
    head: Flavor = Flavor(4, 8000)
    foreign_flavor: Flavor | None = None
    min: int = 1
    max: int = 20
    initial: int = 1
    jobs: tuple[JobBatch, ...] = ()
    restart_daemon_at_s: tuple[float, ...] = ()
    restart_downtime_s: float = 60
    negotiator_interval_s: float = 20
    collector_update_s: float = 30
    startd_update_interval_s: float = 60
    collector_outages: tuple[Window, ...] = ()
    transient: tuple[Transient, ...] = ()
    teardown_at_s: float | None = None
    autoscaler: dict[str, Any] = field(default_factory=dict, hash=False)
    elastiq_max_vms: int | None = None        # None: the fair default (see elastiq_max)
    elastiq_idle_timeout_s: float = 3600

    def elastiq_max(self) -> int:
        """elastiq's max_vms counts every VM of the project: its worker cap equals the
        pool's max only when the head and the foreign VMs are added."""
        if self.elastiq_max_vms is not None:
            return self.elastiq_max_vms
        return self.max + 1 + self.foreign_instances

    def scaler_config(self, stack: str) -> ScalerConfig:
        problems = Problems(render=lambda p, m: f"{p} {m}")
        keys = {"startdUpdateInterval": self.startd_update_interval_s, **self.autoscaler}
        kwargs = read_scaler_keys(Field(keys, "autoscaler", problems))
        return ScalerConfig(stack=stack, min=self.min, max=self.max, flavor=self.flavor, **kwargs)


TOP_KEYS = ("name", "description", "duration_s", "seed", "cloud", "pool", "jobs",
            "restart_daemon_at_s", "restart_downtime_s", "collector_outages", "teardown_at_s",
            "condor", "autoscaler", "elastiq")
CLOUD_KEYS = ("boot_time_s", "join_time_s", "error_after_s", "delete_time_s", "p_error",
              "p_stuck", "p_never_join", "p_api_error", "p_quota_refused", "p_stuck_delete",
              "quota", "foreign_instances", "flavor", "head", "foreign_flavor", "transient",
              "api_outages", "advertised_ram_mb")


def _dist(f: Field, default: Dist) -> Dist:
    if not f.present:
        return default
    if not isinstance(f.value, dict):
        value = f.number(minimum=0)
        return Dist("fixed", value) if value is not None else default
    f.mapping(allowed=("distribution", "mean", "sd", "min", "max"))
    kind = f["distribution"].string(default="fixed", choices=DISTRIBUTIONS)
    low, high = f["min"].number(minimum=0), f["max"].number(minimum=0)
    mean = f["mean"].number(required=not (kind == "uniform" and low is not None and high is not None),
                            minimum=0)
    sd = f["sd"].number(default=0.0, minimum=0)
    if mean is None:
        mean = ((low or 0) + (high or 0)) / 2
    if kind == "lognormal" and mean == 0:
        f["mean"].error("must be > 0 for a lognormal distribution")
    if low is not None and high is not None and low > high:
        f["min"].error(f"must be <= {f['max'].path}")
    return Dist(kind or "fixed", mean, sd or 0.0, low, high)


def _windows(f: Field, extra: tuple[str, ...] = ()) -> list[tuple[Field, float, float]]:
    """A list of {at_s, for_s, ...} mappings -> (item, at_s, for_s) for the valid ones."""
    out = []
    for item in f.items():
        if not item.mapping(required=True, allowed=("at_s", "for_s") + extra):
            continue
        at, length = item["at_s"].number(required=True, minimum=0), \
            item["for_s"].number(required=True, minimum=0)
        if at is not None and length is not None:
            out.append((item, at, length))
    return out


def parse_scenario(raw: Any, name: str = "scenario") -> Scenario:
    problems = Problems(render=lambda path, message: f"{name}: {path} {message}")
    root = Field(raw, "", problems)
    if not root.mapping(required=True, allowed=TOP_KEYS):
        raise RelvalError(problems.messages or [f"{name}: must be a mapping"])
    d = Scenario()
    values: dict[str, Any] = {"name": root["name"].string(default=name)}
    values["duration_s"] = root["duration_s"].number(default=d.duration_s, minimum=1)
    values["seed"] = root["seed"].integer(default=d.seed)
    cloud = root["cloud"]
    if cloud.mapping(allowed=CLOUD_KEYS):
        values["boot_time"] = _dist(cloud["boot_time_s"], d.boot_time)
        values["join_time"] = _dist(cloud["join_time_s"], d.join_time)
        values["error_after"] = _dist(cloud["error_after_s"], d.error_after)
        values["delete_time"] = _dist(cloud["delete_time_s"], d.delete_time)
        for key in ("p_error", "p_stuck", "p_never_join", "p_api_error", "p_quota_refused",
                    "p_stuck_delete"):
            values[key] = cloud[key].number(default=0.0, minimum=0, maximum=1)
        quota = cloud["quota"]
        if quota.mapping(allowed=("instances", "cores", "ram_mb", "server_group_members")):
            values["quota_group_members"] = quota["server_group_members"].integer(minimum=0)
            values["quota_instances"] = quota["instances"].integer(minimum=0)
            values["quota_cores"] = quota["cores"].integer(minimum=0)
            values["quota_ram_mb"] = quota["ram_mb"].integer(minimum=0)
        values["foreign_instances"] = cloud["foreign_instances"].integer(default=0, minimum=0)
        transient = []
        for item, at, length in _windows(cloud["transient"], extra=("fraction", "status")):
            share = item["fraction"].number(required=True, minimum=0, maximum=1)
            status = item["status"].string(default="MIGRATING", choices=TRANSIENT_STATUSES)
            if share is not None and status is not None:
                transient.append(Transient(at, length, share, status))
        values["transient"] = tuple(transient)
        values["api_outages"] = tuple(Window(at, length)
                                      for _, at, length in _windows(cloud["api_outages"]))
        for key in ("flavor", "head", "foreign_flavor"):
            fl = cloud[key]
            if fl.mapping(allowed=("cores", "ram_mb")):
                base = getattr(d, key) or values.get("flavor", d.flavor)
                attr = key
                values[attr] = Flavor(fl["cores"].integer(default=base.cores, minimum=1),
                                      fl["ram_mb"].integer(default=base.ram_mb, minimum=1))
        advertised = cloud["advertised_ram_mb"]
        values["advertised_ram_mb"] = advertised.integer(minimum=1)
        flavor_ram = (values.get("flavor") or d.flavor).ram_mb
        if values["advertised_ram_mb"] is not None and values["advertised_ram_mb"] > flavor_ram:
            advertised.error(f"must be <= cloud.flavor.ram_mb ({flavor_ram})")
    pool = root["pool"]
    if pool.mapping(allowed=("min", "max", "initial")):
        values["min"] = pool["min"].integer(default=d.min, minimum=0)
        values["max"] = pool["max"].integer(default=d.max, minimum=1)
        values["initial"] = pool["initial"].integer(default=values["min"], minimum=0)
        if None not in (values["min"], values["max"]) and values["min"] > values["max"]:
            pool["min"].error(f"must be <= pool.max (got {values['min']} > {values['max']})")
    jobs = []
    for item in root["jobs"].items(required=True):
        if not item.mapping(required=True,
                            allowed=("at_s", "count", "cores", "memory_mb", "runtime_s")):
            continue
        batch = (item["at_s"].number(default=0.0, minimum=0), item["count"].integer(required=True, minimum=1),
                 item["cores"].integer(default=1, minimum=1),
                 item["memory_mb"].integer(default=2000, minimum=0),
                 _dist(item["runtime_s"], Dist("fixed", 1800)))
        if None not in batch:
            jobs.append(JobBatch(*batch))
    values["jobs"] = tuple(sorted(jobs, key=lambda j: j.at_s))
    restarts = [v for v in (i.number(required=True, minimum=0)
                            for i in root["restart_daemon_at_s"].items()) if v is not None]
    values["restart_daemon_at_s"] = tuple(sorted(restarts))
    values["restart_downtime_s"] = root["restart_downtime_s"].number(default=d.restart_downtime_s,
                                                                     minimum=0)
    values["teardown_at_s"] = root["teardown_at_s"].number(minimum=0)
    values["collector_outages"] = tuple(
        Window(at, length) for _, at, length in _windows(root["collector_outages"]))
    condor = root["condor"]
    if condor.mapping(allowed=("negotiator_interval_s", "collector_update_s",
                               "startd_update_interval_s")):
        values["startd_update_interval_s"] = condor["startd_update_interval_s"].number(
            default=d.startd_update_interval_s, minimum=1)
        values["negotiator_interval_s"] = condor["negotiator_interval_s"].number(
            default=d.negotiator_interval_s, minimum=1)
        values["collector_update_s"] = condor["collector_update_s"].number(
            default=d.collector_update_s, minimum=1)
    auto = root["autoscaler"]
    if auto.mapping(allowed=AUTOSCALER_KEYS):
        read_scaler_keys(auto)   # validate now; the policy reads them again
        values["autoscaler"] = dict(auto.value)
    elastiq = root["elastiq"]
    if elastiq.mapping(allowed=("max_vms", "idle_timeout_s")):
        values["elastiq_max_vms"] = elastiq["max_vms"].integer(minimum=1)
        values["elastiq_idle_timeout_s"] = elastiq["idle_timeout_s"].number(minimum=0)
    if problems:
        raise RelvalError(problems.messages)
    return Scenario(**{k: v for k, v in values.items() if v is not None})


def load_scenario(path: str | Path) -> Scenario:
    return parse_scenario(load_yaml(path, "scenario file"), name=Path(path).stem)
