"""Made-up archived runs for the trends page at scale (tests and benchmarks/trends_page_scale.py).

    synthetic_runs(objects=5000, releases=10) -> list[ArchivedRun]

Objects `pp.QAmerged.root:QA/<detector>/h<NNNN>`: GOOD everywhere, except every 50th
BAD in the newest release and every 97th WARNING in the middle one (GOOD again after);
chi2 and KS p-values per grade, as Summary.json carries them.
"""

from __future__ import annotations

from relval.workflows.trends import ArchivedRun

DETECTORS = ("tpc", "its", "tof", "mch", "emc")


def object_name(i: int) -> str:
    return f"pp.QAmerged.root:QA/{DETECTORS[i % len(DETECTORS)]}/h{i:04d}"


def grade_of(i: int, release: int, releases: int) -> str:
    if release == releases - 1 and i % 50 == 0:
        return "BAD"
    if release == releases // 2 and i % 97 == 0:
        return "WARNING"
    return "GOOD"


def synthetic_runs(objects: int = 5000, releases: int = 10) -> list[ArchivedRun]:
    p_value = {"GOOD": 0.6, "WARNING": 0.02, "BAD": 1e-9}
    runs = []
    for r in range(releases):
        index = {"release": f"v{r}", "path": f"c/v{r}/{r:04d}", "created": f"2026-11-{r + 1:02d}",
                 "verdict": "FAIL" if r == releases - 1 else "PASS", "role": "candidate",
                 "reference": {"release": "v0"}}
        summary = {"objects": [
            {"name": object_name(i), "grade": (g := grade_of(i, r, releases)), "reason": "",
             "tests": {"chi2": {"p": p_value[g]}, "ks": {"p": min(1.0, p_value[g] * 1.5)}}}
            for i in range(objects)]}
        runs.append(ArchivedRun(index, summary, None, None))
    return runs
