"""Release trends from the archive: how each histogram's grade and test p-values, and
each stage's resource use, evolved over the last validated releases of a campaign.

    gather(backend, campaign, last=10) -> list[ArchivedRun]     reads the archive (any backend)
    build(campaign, url, runs) -> Trends                        pure: the model the page draws

A release counts as validated when an archived candidate run of it reached a verdict
(PASS or FAIL); its latest such run stands for it. Releases are ordered by the time
their run was archived, oldest first. Every file read is checked against the run's
index (size and adler32), as `relval archive fetch` does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from relval.errors import NoVerdictError
from relval.workflows.archive.backend import ArchiveError, Backend, adler32_bytes, join_key
from relval.workflows.archive.runs import list_runs

VALIDATED = ("PASS", "FAIL")
SUMMARY, RESOURCES, REPORT = "qa/Summary.json", "resources.json", "report.json"
GRADE_RANK = {"BAD": 0, "WARNING": 1, "NOT_COMPARED": 2, "GOOD": 3}


@dataclass
class ArchivedRun:
    index: dict[str, Any]
    summary: dict[str, Any] | None      # qa/Summary.json
    resources: dict[str, Any] | None    # resources.json (per-job metrics, per-stage summary)
    report: dict[str, Any] | None       # report.json (the resource grades against the reference)


@dataclass(frozen=True)
class Point:
    """One histogram in one release."""
    grade: str
    chi2_p: float | None
    ks_p: float | None
    entries_diff: float | None
    reason: str


@dataclass
class ObjectTrend:
    name: str
    points: list[Point | None]          # one per release, None where the object is absent
    changed_at: int | None = None       # index of the latest release whose grade differs from the one before
    changed_from: int | None = None     # ... that one (releases without QA results are stepped over)

    @property
    def latest(self) -> Point | None:
        return next((p for p in reversed(self.points) if p is not None), None)

    @property
    def change(self) -> tuple[str, str] | None:
        if self.changed_at is None:
            return None
        before = self.points[self.changed_from]
        after = self.points[self.changed_at]
        return (before.grade if before else "absent", after.grade if after else "absent")


@dataclass
class StageTrend:
    stage: str
    # metric -> one {"median", "max"} (or None) per release; grades against each run's reference
    values: dict[str, list[dict[str, float] | None]] = field(default_factory=dict)
    grades: dict[str, list[str | None]] = field(default_factory=dict)


@dataclass
class Trends:
    campaign: str
    url: str
    releases: list[dict[str, Any]]      # release, run, created, verdict, reference, counts
    objects: list[ObjectTrend]          # the most recent grade change first
    stages: list[StageTrend]
    thresholds: dict[str, Any]          # the latest run's QA thresholds (for the plots' lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "campaign": self.campaign, "archive": self.url, "releases": self.releases,
            "objects": [{"name": o.name, "grades": [p.grade if p else None for p in o.points],
                         "changed_in": (self.releases[o.changed_at]["release"]
                                        if o.changed_at is not None else None),
                         "change": list(o.change) if o.change else None} for o in self.objects],
            "stages": [{"stage": s.stage, "values": s.values, "grades": s.grades} for s in self.stages],
        }


def gather(backend: Backend, campaign: str, last: int = 10) -> list[ArchivedRun]:
    """The latest validated run of each of the last `last` releases, with its files."""
    latest: dict[str, dict] = {}
    for index in list_runs(backend, campaign):  # oldest first: later runs replace earlier ones
        if index.get("role") == "candidate" and index.get("verdict") in VALIDATED:
            latest.pop(index["release"], None)
            latest[index["release"]] = index
    indexes = list(latest.values())[-last:]
    if not indexes:
        raise NoVerdictError(f"{backend.url}: no validated release of campaign {campaign} in the archive")
    return [ArchivedRun(index, _read_json(backend, index, SUMMARY), _read_json(backend, index, RESOURCES),
                        _read_json(backend, index, REPORT)) for index in indexes]


def _read_json(backend: Backend, index: dict, key: str) -> dict | None:
    entry = next((f for f in index.get("files", []) if f["key"] == key), None)
    if entry is None:
        return None  # a run without QA (nothing compared) or without metrics
    data = backend.read(join_key(index["path"], key))
    if len(data) != entry["size"] or adler32_bytes(data) != entry["adler32"]:
        raise ArchiveError(f"{backend.url}/{join_key(index['path'], key)}: corrupt (size or adler32 "
                           "differs from the run's index)")
    try:
        return json.loads(data)
    except ValueError:
        raise ArchiveError(f"{backend.url}/{join_key(index['path'], key)}: not JSON") from None


def build(campaign: str, url: str, runs: list[ArchivedRun]) -> Trends:
    releases = [_release_row(r) for r in runs]
    objects = _object_trends(runs)
    return Trends(campaign, url, releases, objects, _stage_trends(runs),
                  thresholds=next((r.summary.get("thresholds") for r in reversed(runs)
                                   if r.summary and r.summary.get("thresholds")), {}) or {})


def _release_row(run: ArchivedRun) -> dict[str, Any]:
    index = run.index
    reference = index.get("reference") or {}
    return {"release": index["release"], "run": index["path"], "created": index.get("created"),
            "verdict": index.get("verdict"), "reference": reference.get("release"),
            "counts": (run.summary or {}).get("counts") or (index.get("qa") or {}).get("counts")}


def _p(tests: dict, name: str, key: str = "p") -> float | None:
    value = (tests.get(name) or {}).get(key)
    if value in ("inf", "-inf", "nan"):
        return float(value)
    return float(value) if isinstance(value, (int, float)) else None


def _point(obj: dict) -> Point:
    tests = obj.get("tests") or {}
    return Point(obj["grade"], _p(tests, "chi2"), _p(tests, "ks"), _p(tests, "entries", "rel_diff"),
                 obj.get("reason") or "")


def _object_trends(runs: list[ArchivedRun]) -> list[ObjectTrend]:
    per_run = [{o["name"]: _point(o) for o in (r.summary or {}).get("objects", [])} for r in runs]
    names = list(dict.fromkeys(n for points in per_run for n in points))
    trends = []
    for name in names:
        points = [points.get(name) for points in per_run]
        trend = ObjectTrend(name, points)
        # Releases without QA results (None for every object) are stepped over: they are
        # no change; the grade is compared with the last release before that had results.
        with_qa = [i for i, found in enumerate(per_run) if found]
        for before, after in reversed(list(zip(with_qa, with_qa[1:]))):
            grade = lambda i: points[i].grade if points[i] else None  # noqa: E731
            if grade(after) != grade(before):
                trend.changed_at, trend.changed_from = after, before
                break
        trends.append(trend)
    return sorted(trends, key=_order)


def _order(trend: ObjectTrend) -> tuple:
    """The latest change first; then the worst current grade; then by name."""
    latest = trend.latest
    return (-(trend.changed_at if trend.changed_at is not None else -1),
            GRADE_RANK.get(latest.grade, 4) if latest else 5, trend.name)


def _stage_trends(runs: list[ArchivedRun]) -> list[StageTrend]:
    from relval.workflows.resources import METRIC_NAMES, METRICS

    stage_names = list(dict.fromkeys(s for r in runs for s in ((r.resources or {}).get("stages") or {})))
    stages = []
    for stage in stage_names:
        trend = StageTrend(stage)
        for metric in METRICS:
            values = [(((r.resources or {}).get("stages") or {}).get(stage) or {}).get(metric) for r in runs]
            if not any(values):
                continue
            trend.values[metric] = [{"median": v["median"], "max": v["max"]} if v else None for v in values]
            trend.grades[metric] = [_resource_grade(r, stage, METRIC_NAMES[metric]) for r in runs]
        stages.append(trend)
    return stages


def _resource_grade(run: ArchivedRun, stage: str, metric_name: str) -> str | None:
    for grade in (run.report or {}).get("resources") or []:
        if grade.get("stage") == stage and grade.get("metric") == metric_name:
            return grade.get("grade")
    return None


def trends_for(campaign: str, url: str, last: int = 10) -> Trends:
    """Read the archive at `url` (file://, s3://, root://) and build the campaign's trends."""
    from relval.workflows.archive import open_archive

    backend = open_archive(url)
    return build(campaign, backend.url, gather(backend, campaign, last))
