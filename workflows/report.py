"""The run report: `report.json` (the `--json` document) and `report.md` for people."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Iterator

EXIT_MEANING = {0: "pass", 1: "fail: a regression", 2: "bad input",
                3: "no verdict: something missing, unreachable or broken"}

if TYPE_CHECKING:
    from relval.workflows.run import RunOutcome


def report_lines(outcome: "RunOutcome") -> Iterator[str]:
    doc = outcome.to_json()
    yield f"# relval campaign {doc['campaign']}: {doc['verdict']}"
    yield ""
    yield f"- release under validation: `{doc['release']}`"
    yield f"- reference: `{doc['reference']}`" if doc["reference"] else "- reference: none"
    source = doc.get("reference_source")
    if source and source.get("source") == "archive":
        yield (f"- reference results taken from the archive, not rerun: run `{source['run']}` "
               f"of `{source['url']}` (archived {source.get('created')})")
    elif source:
        yield f"- reference outputs fetched from `{source['url']}`"
    yield f"- jobs: {doc['jobs']['done']} done, {doc['jobs']['failed']} failed, {doc['jobs']['total']} in all"
    yield f"- QA comparison: {'made' if doc['qa_used'] else 'none was made'}"
    yield f"- exit code: {doc['exit_code']} ({EXIT_MEANING[doc['exit_code']]})"
    yield ""
    yield "| chain | release | state | done | failed | total | directory |"
    yield "|---|---|---|---|---|---|---|"
    for c in doc["chains"]:
        yield (f"| {c['role']} | `{c['release']}` | {c['state']} | {c['done']} | {c['failed']} "
               f"| {c['total']} | `{c['directory']}` |")
    if doc["reasons"]:
        yield ""
        yield "## Why" if doc["verdict"] != "FAIL" else "## Why it failed"
        yield ""
        yield from (f"- {reason}" for reason in doc["reasons"])
    qa = doc["qa"]
    if qa is not None:
        yield ""
        yield f"## QA comparison: {qa['verdict']}"
        yield ""
        counts = qa.get("counts") or {}
        yield "- " + ", ".join(f"{n} {grade}" for grade, n in counts.items())
        for label, path in (qa.get("files") or {}).items():
            yield f"- {label}: `{path}`"
        if qa["flagged"]:
            yield ""
            yield "| object | grade | reason |"
            yield "|---|---|---|"
            for o in qa["flagged"]:
                yield f"| `{o['name']}` | {o['grade']} | {o['reason'] or ''} |"
    stage_grades = [g for g in doc.get("resources") or [] if g.get("kind", "stage") == "stage"]
    task_grades = [g for g in doc.get("resources") or [] if g.get("kind") == "task"]
    if stage_grades:
        yield ""
        yield "## Resources per stage (candidate against reference)"
        yield ""
        yield from _resource_table("stage", stage_grades)
    if task_grades:
        # An O2DPG workflow has tens of tasks: the table lists those that grew, worst first.
        flagged = sorted((g for g in task_grades if g["grade"] != "GOOD"), key=lambda g: -g["change"])
        good = {g["stage"] for g in task_grades} - {g["stage"] for g in flagged}
        yield ""
        yield "## Resources per O2DPG task (candidate against reference)"
        yield ""
        yield (f"{len(good)} of {len({g['stage'] for g in task_grades})} tasks GOOD in every metric. "
               "A task's memory is its peak PSS, from the O2DPG runner's samples; its timeframes "
               "are values of one median and maximum.")
        if flagged:
            yield ""
            yield from _resource_table("task", flagged)
    if doc["failed_jobs"]:
        yield ""
        yield "## Failed jobs"
        for job in doc["failed_jobs"]:
            yield ""
            yield f"### {job['release']} {job['stage']} {job['unit']}"
            yield ""
            yield f"log: `{job['log']}`"
            yield ""
            yield "```"
            yield job["log_tail"]
            yield "```"
    if doc.get("left_out"):
        yield ""
        yield "## Left out (within min_success_fraction)"
        yield ""
        for job in doc["left_out"]:
            last = job["log_tail"].strip().splitlines()
            why = next((line for line in reversed(last) if "left out" in line or "tolerated" in line), "")
            yield f"- {job['release']} {job['stage']} {job['unit']}: {why} (log: `{job['log']}`)"
    if doc["notes"]:
        yield ""
        yield "## Notes"
        yield ""
        yield from (f"- {note}" for note in doc["notes"])


def _resource_table(what: str, grades: list[dict]):
    yield f"| {what} | metric | grade | change | reference median / max | candidate median / max |"
    yield "|---|---|---|---|---|---|"
    for g in grades:
        ref, new = g["reference"], g["candidate"]
        yield (f"| {g['stage']} | {g['metric']} | {g['grade']} | {g['change']:+.0%} "
               f"| {_figure(g['metric'], ref['median'])} / {_figure(g['metric'], ref['max'])} "
               f"| {_figure(g['metric'], new['median'])} / {_figure(g['metric'], new['max'])} |")


def _figure(metric: str, value: float) -> str:
    if metric == "memory":
        return f"{value / 1024:.0f} MB"
    if metric == "written":
        return f"{value / 1024 / 1024:.1f} MB"
    return f"{value:.1f} s"


def write_report(outcome: "RunOutcome") -> None:
    outcome.workdir.mkdir(parents=True, exist_ok=True)
    outcome.report.write_text("\n".join(report_lines(outcome)) + "\n")
    (outcome.workdir / "report.json").write_text(json.dumps(outcome.to_json(), indent=2) + "\n")
