#!/usr/bin/env python3
"""Check that a smoke-campaign run shows what the README promises, and say what differed.

    python3 examples/check_smoke.py WORKDIR EXIT_CODE

`make demo` runs this after `relval run examples/smoke.yaml`: the demo passes only when
relval exited 1 (FAIL), every job of both chains is done, and the QA grades exactly
`QA/vz`, `QA/dedx` and `QA/dedx_vs_p` BAD and every other histogram GOOD. Anything else
(a payload that did not run, a missing reference, a regression not caught, a false
alarm) fails the demo with one line per difference. Needs the standard library only.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

EXPECTED_EXIT = 1
EXPECTED_BAD = {"QA/vz", "QA/dedx", "QA/dedx_vs_p"}
EXPECTED_GOOD = {"QA/ntracks", "QA/pt", "QA/eta", "QA/phi", "QA/pt_resolution", "QA/eta_phi"}


def differences(workdir: Path, exit_code: int) -> list[str]:
    """Every way the run in `workdir` differs from the documented demo outcome."""
    found = []
    if exit_code != EXPECTED_EXIT:
        found.append(f"relval run exited {exit_code}, expected {EXPECTED_EXIT} (FAIL)")
    try:
        report = json.loads((workdir / "report.json").read_text())
    except (OSError, ValueError) as error:
        return found + [f"no readable {workdir / 'report.json'}: {error}"]
    if report.get("verdict") != "FAIL":
        found.append(f"verdict is {report.get('verdict')}, expected FAIL")
    jobs = report.get("jobs") or {}
    if not jobs.get("total") or jobs.get("done") != jobs.get("total") or jobs.get("failed"):
        found.append(f"jobs: {jobs.get('done')} done, {jobs.get('failed')} failed of "
                     f"{jobs.get('total')}, expected all done")
    roles = sorted(c.get("role") for c in report.get("chains", []))
    # From the second run on, toy/v1's results come from the archive instead of a rerun.
    archived = (report.get("reference_source") or {}).get("source") == "archive"
    if roles != (["candidate"] if archived else ["candidate", "reference"]):
        expected = "candidate only (reference from the archive)" if archived else "candidate and reference"
        found.append(f"chains run: {roles}, expected {expected}")
    summary_path = ((report.get("qa") or {}).get("files") or {}).get("summary_json")
    if not summary_path:
        return found + ["no QA comparison was made"]
    try:
        objects = json.loads(Path(summary_path).read_text()).get("objects", [])
    except (OSError, ValueError) as error:
        return found + [f"cannot read the QA summary {summary_path}: {error}"]
    grades = {o["name"].split(":")[-1]: o["grade"] for o in objects}
    for name in sorted(EXPECTED_BAD | EXPECTED_GOOD):
        expected = "BAD" if name in EXPECTED_BAD else "GOOD"
        if grades.get(name) != expected:
            found.append(f"{name} graded {grades.get(name, 'nothing (absent)')}, expected {expected}")
    for name in sorted(set(grades) - EXPECTED_BAD - EXPECTED_GOOD):
        found.append(f"{name} graded {grades[name]}, not a histogram the demo documents")
    return found


def main(argv: list[str]) -> int:
    if len(argv) != 2 or not argv[1].lstrip("-").isdigit():
        print("usage: check_smoke.py WORKDIR EXIT_CODE", file=sys.stderr)
        return 2
    found = differences(Path(argv[0]), int(argv[1]))
    if found:
        print("demo: the run does NOT show what the README documents:", file=sys.stderr)
        for line in found:
            print(f"  - {line}", file=sys.stderr)
        return 1
    print("demo: as documented: every job done; QA/vz, QA/dedx and QA/dedx_vs_p BAD, the other "
          "6 histograms GOOD; verdict FAIL, the planted toy/v2 regression was caught")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
