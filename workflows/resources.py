"""Resource use per job and per stage, and its comparison with the reference.

The job wrapper measures every job (`MONITOR` below, plus the shell's `times` and
/proc/<wrapper>/io) and appends one line to the job's log, which always comes back,
also from an HTCondor sandbox:

    relval-job: metrics cpu_s=12.31 wall_s=15.02 max_rss_kb=812344 bytes_written=52428800

- cpu_s: user + system CPU of the payload and every process it started (reaped ones);
- wall_s: from start to exit;
- max_rss_kb: the peak of the summed RSS of the payload's whole process tree, sampled
  every 0.2 s from the first second on (shorter jobs and spikes can be missed);
- bytes_written: bytes the payload's processes passed to write() (wchar), log included.

    parse_metrics(text) -> dict | None
    collect(jobs, directory) -> {"jobs": [...], "stages": {stage: {metric: {median, max, n}}},
                                 "tasks": {stage/task: {metric: {median, max, n}}}}
    compare(candidate, reference, rules=None) -> list[StageGrade]     per stage (and task) and metric
    read_rules(raw) -> list[Rule]     `compare.resources` of a campaign

An O2DPG job (relval.workflows.o2dpg) also logs, per task of the O2DPG workflow, the
figures its driver reduced from the O2DPG runner's own per-task samples:

    relval-o2dpg: task-metrics name=tpcreco_1 cpu_s=41.2 wall_s=25.0 max_pss_kb=903168 ...

Timeframe instances of a task (`tpcreco_1`, `tpcreco_2`) are one task, `tpcreco`, as in
O2DPG's own o2dpg_sim_metrics.py; each instance is one value of its median and maximum,
under the name `<stage>/<task>` (`mc/tpcreco`), so `compare.resources` globs match
tasks as they match stages (`mc/tpc*`). A task's memory is its peak PSS (the runner's
measure); `memory` thresholds apply to it. Its CPU and wall time come from samples ~5 s
apart: increases below 10 s and 50 MB are noise (TASK_LIMITS).

Grades: the relative increase of the candidate's median and of its maximum over the
reference's, the worse of the two; memory is strict (+20% WARNING, +50% BAD), time
loose (machines differ: CPU +50%/+200%, wall +100% WARNING only), bytes written
+50% WARNING only. Increases smaller than an absolute floor (1 s, 10 MB) are noise.
"""

from __future__ import annotations

import fnmatch
import re
import statistics
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable

METRICS = ("cpu_s", "wall_s", "max_rss_kb", "bytes_written")
TASK_METRICS = ("cpu_s", "wall_s", "max_pss_kb")
METRIC_NAMES = {"cpu_s": "cpu", "wall_s": "wall", "max_rss_kb": "memory", "bytes_written": "written",
                "max_pss_kb": "memory"}
# The names of compare.resources and the metrics each one sets thresholds for.
RULE_METRICS = {"cpu": ("cpu_s",), "wall": ("wall_s",), "memory": ("max_rss_kb", "max_pss_kb"),
                "written": ("bytes_written",)}
METRICS_RE = re.compile(r"^relval-job: metrics (.*)$", re.M)
TASK_METRICS_RE = re.compile(r"^relval-o2dpg: task-metrics (.*)$", re.M)
TIMEFRAME_SUFFIX_RE = re.compile(r"_\d+$")
GOOD, WARNING, BAD = "GOOD", "WARNING", "BAD"

# Peak RSS of a process tree, sampled until its root exits; prints PEAK_KB.
# Embedded in the wrapper (no file to ship), so it must hold no single quote.
MONITOR = r"""
import os, signal, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
root = int(sys.argv[1]); page = os.sysconf("SC_PAGE_SIZE") // 1024; start = time.monotonic()
def kids(pid):
    try:
        return [int(c) for t in os.listdir(f"/proc/{pid}/task") for c in open(f"/proc/{pid}/task/{t}/children").read().split()]
    except OSError:
        return []
def tree():
    seen, todo = [], [root]
    while todo:
        pid = todo.pop(); seen.append(pid); todo += kids(pid)
    return seen
def rss(pid):
    # VmHWM: the peak of each process so far, so a late sample still sees it.
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, IndexError, ValueError):
        pass
    return 0
def alive():
    try:
        return open(f"/proc/{root}/stat").read().rsplit(")", 1)[1].split()[0] not in "ZX"
    except OSError:
        return False
peak = 0
while alive():
    peak = max(peak, sum(rss(p) for p in tree())); time.sleep(0.2)
print(peak)
"""


def parse_metrics(text: str) -> dict[str, float] | None:
    found = METRICS_RE.findall(text)
    if not found:
        return None
    values = {}
    for item in found[-1].split():
        key, _, value = item.partition("=")
        try:
            values[key] = float(value)
        except ValueError:
            continue
    return {k: values[k] for k in METRICS if k in values} or None


def parse_task_metrics(text: str) -> list[dict[str, Any]]:
    """The O2DPG task figures of one job's log: one row per task instance, with `task`
    (the name without its timeframe suffix) and `instance` (the runner's name)."""
    rows = []
    for line in TASK_METRICS_RE.findall(text):
        values: dict[str, Any] = {}
        for item in line.split():
            key, _, value = item.partition("=")
            if key == "name":
                values["instance"] = value
            elif key in TASK_METRICS:
                try:
                    values[key] = float(value)
                except ValueError:
                    continue
        if values.get("instance") and any(k in values for k in TASK_METRICS):
            rows.append({"task": TIMEFRAME_SUFFIX_RE.sub("", values["instance"]), **values})
    return rows


def collect(jobs: Iterable[Any], directory: Path) -> dict[str, Any]:
    """Every job's metrics from its log (failed jobs' logs sit in makeflow.failed.N/),
    and the O2DPG task figures of O2DPG jobs, summarized per `<stage>/<task>`."""
    rows, task_rows = [], []
    for node, job in enumerate(jobs):
        for path in (directory / job.log, directory / f"makeflow.failed.{node}" / job.log):
            try:
                text = path.read_text(errors="replace")
            except OSError:
                continue
            metrics = parse_metrics(text)
            if metrics:
                rows.append({"stage": job.stage, "unit": job.unit, **metrics})
                task_rows += [{**t, "stage": f"{job.stage}/{t['task']}"} for t in parse_task_metrics(text)]
                break
    collected = {"jobs": rows, "stages": summarize(rows)}
    if task_rows:
        collected["tasks"] = summarize(task_rows, TASK_METRICS)
    return collected


def summarize(rows: list[dict], metrics: tuple[str, ...] = METRICS) -> dict[str, dict[str, dict[str, float]]]:
    stages: dict[str, dict[str, dict[str, float]]] = {}
    for stage in dict.fromkeys(r["stage"] for r in rows):
        mine = [r for r in rows if r["stage"] == stage]
        stages[stage] = {}
        for metric in metrics:
            values = [r[metric] for r in mine if r.get(metric) is not None]
            if values:
                stages[stage][metric] = {"median": statistics.median(values), "max": max(values),
                                         "n": len(values)}
    return stages


@dataclass(frozen=True)
class Limit:
    warning: float | None
    bad: float | None
    floor: float = 0.0          # an increase below this (in the metric's unit) is noise


DEFAULT_LIMITS = {
    "max_rss_kb": Limit(0.20, 0.50, 10 * 1024),
    "cpu_s": Limit(0.50, 2.00, 1.0),
    "wall_s": Limit(1.00, None, 1.0),
    "bytes_written": Limit(0.50, None, 1024 * 1024),
    "max_pss_kb": Limit(0.20, 0.50, 10 * 1024),
}


@dataclass(frozen=True)
class Rule:
    match: str                                   # stage-name glob
    limits: dict[str, Limit] = field(default_factory=dict)


@dataclass(frozen=True)
class StageGrade:
    stage: str
    metric: str
    grade: str
    candidate: dict[str, float]
    reference: dict[str, float]
    change: float                               # the worse of median and max, relative
    kind: str = "stage"                         # or "task": an O2DPG task, stage "<stage>/<task>"

    def to_json(self) -> dict:
        return {"stage": self.stage, "kind": self.kind, "metric": METRIC_NAMES[self.metric],
                "grade": self.grade, "candidate": self.candidate, "reference": self.reference,
                "change": round(self.change, 4)}

    def describe(self) -> str:
        unit = {"cpu_s": "s", "wall_s": "s", "max_rss_kb": "MB", "bytes_written": "MB", "max_pss_kb": "MB"}[self.metric]
        scale = (1024 if self.metric in ("max_rss_kb", "max_pss_kb")
                 else 1024 * 1024 if self.metric == "bytes_written" else 1)
        show = lambda v: f"{v / scale:.1f}"  # noqa: E731
        what = "O2DPG task" if self.kind == "task" else "stage"
        name = f"{METRIC_NAMES[self.metric]} (peak PSS)" if self.metric == "max_pss_kb" else METRIC_NAMES[self.metric]
        return (f"{what} {self.stage}: {name} {self.change:+.0%} "
                f"(median {show(self.reference['median'])} -> {show(self.candidate['median'])} {unit}, "
                f"max {show(self.reference['max'])} -> {show(self.candidate['max'])} {unit})")


# O2DPG tasks: the runner samples every ~5 s, so a task's CPU and wall time move by a
# sampling interval between two runs of the same work; below two intervals is noise. Its
# memory sample lands anywhere in a task's life, start-up included, so a short task's peak
# moves by a process's start-up footprint (tens of MB); O2 tasks hold hundreds of MB to GBs.
TASK_LIMITS = {**DEFAULT_LIMITS, "cpu_s": replace(DEFAULT_LIMITS["cpu_s"], floor=10.0),
               "wall_s": replace(DEFAULT_LIMITS["wall_s"], floor=10.0),
               "max_pss_kb": replace(DEFAULT_LIMITS["max_pss_kb"], floor=50 * 1024)}


def limits_for(stage: str, rules: list[Rule] | None, base: dict[str, Limit] = DEFAULT_LIMITS) -> dict[str, Limit]:
    """The limits of a stage (or task, with base=TASK_LIMITS): a matching rule sets the
    warning and bad cuts, the floor stays the base's."""
    limits = dict(base)
    for rule in rules or ():
        if fnmatch.fnmatchcase(stage, rule.match):
            limits.update({metric: replace(base[metric], warning=limit.warning, bad=limit.bad)
                           for metric, limit in rule.limits.items()})
    return limits


def grade(candidate: dict, reference: dict, limit: Limit) -> tuple[str, float]:
    changes = []
    for key in ("median", "max"):
        ref, new = reference[key], candidate[key]
        if new - ref <= limit.floor:
            changes.append(0.0)
        else:
            changes.append((new - ref) / ref if ref > 0 else 10.0)  # from nothing: +1000%
    change = max(changes)
    if limit.bad is not None and change > limit.bad:
        return BAD, change
    if limit.warning is not None and change > limit.warning:
        return WARNING, change
    return GOOD, change


def compare(candidate: dict, reference: dict, rules: list[Rule] | None = None) -> list[StageGrade]:
    """Per stage (and O2DPG task) present on both sides and per metric: the grade of the increase."""
    grades = []
    for kind, key in (("stage", "stages"), ("task", "tasks")):
        for stage, metrics in (candidate.get(key) or {}).items():
            ref_metrics = (reference.get(key) or {}).get(stage)
            if not ref_metrics:
                continue
            limits = limits_for(stage, rules, TASK_LIMITS if kind == "task" else DEFAULT_LIMITS)
            for metric, values in metrics.items():
                if metric not in ref_metrics or metric not in limits:
                    continue
                result, change = grade(values, ref_metrics[metric], limits[metric])
                grades.append(StageGrade(stage, metric, result, values, ref_metrics[metric], change, kind))
    return grades


def unmatched_rules(rules: list[Rule] | None, grades: list[StageGrade]) -> list[str]:
    """Notes for `compare.resources` globs that matched nothing compared: a mistyped name, or
    an O2DPG task written with its timeframe suffix (`mc/tpcreco_*` for `mc/tpcreco`)."""
    compared = {g.stage for g in grades}
    return [f"compare.resources: {rule.match!r} matches no stage or O2DPG task compared "
            f"({', '.join(sorted(compared)[:6]) or 'none'}{', ...' if len(compared) > 6 else ''}; "
            "a task is <stage>/<task>, without its timeframe suffix)"
            for rule in rules or () if not any(fnmatch.fnmatchcase(name, rule.match) for name in compared)]


def read_rules(f) -> list[Rule]:
    """`compare.resources`: a list of {match: STAGE-GLOB, memory|cpu|wall|written: {warning, bad}}
    (relative increases, e.g. 0.2 = +20%); checked with the campaign file. A glob matches
    stages (`rec`) and O2DPG tasks (`mc/tpcreco`) alike."""
    rules = []
    for item in f.items():
        if not item.mapping(required=True, allowed=("match", *RULE_METRICS)):
            continue
        match = item["match"].string(required=True)
        limits = {}
        for name, metrics in RULE_METRICS.items():
            entry = item[name]
            if not entry.mapping(allowed=("warning", "bad")):
                continue
            base = DEFAULT_LIMITS[metrics[0]]
            warning = entry["warning"].number(minimum=0) if entry["warning"].present else base.warning
            bad = entry["bad"].number(minimum=0) if entry["bad"].present else base.bad
            if warning is not None and bad is not None and bad < warning:
                entry.error(f"bad ({bad}) must be >= warning ({warning})")
            for metric in metrics:
                limits[metric] = replace(DEFAULT_LIMITS[metric], warning=warning, bad=bad)
        if match is not None:
            rules.append(Rule(match, limits))
    return rules


def judge_resources(verdict, grades: list[StageGrade]):
    """The verdict with the resource grades in it: a BAD one (a memory regression by
    default) turns PASS into FAIL and adds its reasons to a FAIL; NO_VERDICT stays."""
    from dataclasses import replace as replace_verdict

    from relval.workflows.verdict import FAIL, PASS

    bad = [g.describe() for g in grades if g.grade == BAD]
    if not bad or verdict.verdict not in (PASS, FAIL):
        return verdict
    reasons = tuple(verdict.reasons) + tuple(f"resource regression: {b}" for b in bad)
    return replace_verdict(verdict, verdict=FAIL, reasons=reasons)


def chain_metrics(chain) -> dict[str, Any]:
    return collect(chain.workflow.graph.jobs, chain.directory)
