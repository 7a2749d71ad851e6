"""Whether archived results can stand in for running a reference chain.

    fingerprint(campaign) -> dict     what must match: stages, compared files, parameters
    differences(archived, wanted) -> list[str]    empty when compatible

The release is left out on purpose (the reference is another release by definition);
commands are kept as written, `{release}` unrendered, so the same chain of another
release has the same fingerprint.
"""

from __future__ import annotations

from typing import Any

from relval.workflows.campaign import Campaign


def fingerprint(campaign: Campaign) -> dict[str, Any]:
    from relval.workflows.run import reference_files

    return {
        "stages": [{"name": s.name, "per": s.per, "after": list(s.after), "command": s.command,
                    "outputs": list(s.outputs)} for s in campaign.stages],
        "datasets": [{"name": d.name, "jobs": d.jobs, "runs": [[r, list(c)] for r, c in d.runs],
                      "parameters": {k: v for k, v in d.parameters}} for d in campaign.datasets],
        "compared_files": sorted(reference_files(campaign)),
    }


def differences(archived: dict[str, Any] | None, wanted: dict[str, Any]) -> list[str]:
    if not archived:
        return ["the archived run has no fingerprint"]
    problems = []
    names = lambda fp: [s["name"] for s in fp.get("stages", [])]  # noqa: E731
    if names(archived) != names(wanted):
        problems.append(f"stages differ ({', '.join(names(archived))} archived)")
    else:
        changed = [a["name"] for a, b in zip(archived["stages"], wanted["stages"]) if a != b]
        if changed:
            problems.append(f"stage(s) {', '.join(changed)} changed (command, level or outputs)")
    if archived.get("compared_files") != wanted["compared_files"]:
        problems.append("the compared files differ")
    if archived.get("datasets") != wanted["datasets"]:
        problems.append("datasets or their parameters differ")
    return problems
