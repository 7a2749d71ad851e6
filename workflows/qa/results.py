"""Saved results: re-grade a Summary.json under new thresholds, and compare two result sets.

Re-grading reads no ROOT file: every test's graded value (chi2 and KS
p-values, the relative entries difference) is in Summary.json. Only objects
whose tests ran (status `compared`) are re-graded; the other statuses
(missing, binning, one side empty, ...) keep their grade, because thresholds
do not apply to them. A test that was off when the results were made cannot be
switched on afterwards: that is reported, and the comparison must be rerun.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from relval.errors import RelvalError
from relval.workflows.qa.compare import Summary
from relval.workflows.qa.grading import ObjectResult, _describe, worst
from relval.workflows.qa.thresholds import TESTS, Thresholds, grade_value, load_thresholds

GRADED_ON = {"chi2": "p", "ks": "p", "width": "p", "entries": "rel_diff"}


def _summary_file(path: Path) -> Path:
    path = Path(path)
    return path / "Summary.json" if path.is_dir() else path


def _number(value: Any) -> Any:
    """Summary.json writes inf and NaN as strings (strict JSON): read them back as floats."""
    return float(value) if value in ("inf", "-inf", "nan") else value


def load_summary(path: Path) -> Summary:
    """A Summary from a result directory or its Summary.json; RelvalError (exit 2) if unreadable."""
    source = _summary_file(path)
    try:
        document = json.loads(source.read_text())
        objects = document["objects"]
        results = [ObjectResult(name=o["name"], grade=o["grade"], status=o["status"], reason=o.get("reason", ""),
                                kind=o.get("kind"), classname_new=o.get("class_new"),
                                classname_ref=o.get("class_ref"), flags=list(o.get("flags") or []),
                                tests={t: dict(v) for t, v in (o.get("tests") or {}).items()},
                                plot=o.get("plot"), file=o.get("file"), path=o.get("path"))
                   for o in objects]
        labels = document.get("labels")
        return Summary(new=document["new"], ref=document["ref"], results=results,
                       thresholds=load_thresholds(document.get("thresholds")),
                       labels=tuple(labels) if labels else None)
    except FileNotFoundError:
        raise RelvalError(f"{source}: no such file (expected a QA result directory or its Summary.json)") from None
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise RelvalError(f"{source}: not a relval QA Summary.json ({type(error).__name__}: {error})") from None


def _regrade_one(result: ObjectResult, limits: Thresholds, problems: list[str]) -> ObjectResult:
    if result.status != "compared":
        return result
    settings = limits.for_name(result.name, result.path)
    tests = {}
    for test in TESTS:
        saved = result.tests.get(test)
        if not settings[test].get("enabled", True):
            continue
        if saved is None:
            skipped_by_design = ((test in ("ks", "width") and result.kind in ("TProfile", "TProfile2D"))
                                 or (test != "entries" and "nonpositive" in result.flags))
            if not skipped_by_design:
                problems.append(f"{result.name}: test {test} was not run; rerun the comparison to grade it")
            continue
        values = dict(saved)
        values = {k: _number(v) for k, v in values.items()}
        values["grade"] = grade_value(test, float(values[GRADED_ON[test]]), settings[test])
        tests[test] = values
    grades = [t["grade"] for t in tests.values()]
    if "nonfinite" in result.flags or "nonpositive" in result.flags:
        grades.append("WARNING")
    grade = worst(*grades)
    reason = "; ".join(_describe(t, values) for t, values in tests.items() if values["grade"] != "GOOD")
    if "nonfinite" in result.flags or "nonpositive" in result.flags:
        reason = result.reason  # the flag's own explanation
    return ObjectResult(name=result.name, grade=grade, status=result.status, reason=reason, kind=result.kind,
                        classname_new=result.classname_new, classname_ref=result.classname_ref,
                        flags=list(result.flags), tests=tests, plot=None, file=result.file, path=result.path)


def regrade(summary: Summary, thresholds: Path | dict | Thresholds | None) -> Summary:
    """The same results graded under `thresholds`; warnings list what could not be re-graded."""
    limits = load_thresholds(thresholds)
    problems: list[str] = []
    # Plots are not carried over: they live beside the original results, and new
    # overlays cannot be drawn without the ROOT files.
    results = [_regrade_one(r, limits, problems) for r in summary.results]
    for result in results:
        result.plot = None
    return Summary(new=summary.new, ref=summary.ref, results=results, thresholds=limits, labels=summary.labels,
                   warnings=problems, errors=limits.unmatched([(r.name, r.path) for r in results]))


def regrade_results(results: Path, thresholds: Path | dict | Thresholds | None,
                    output: Path | None = None) -> Summary:
    """Re-grade a result directory (or Summary.json); with `output`, write Summary.json,
    index.html and junit.xml there. Refuses to overwrite the results it reads."""
    from relval.workflows.qa.compare import write_outputs
    from relval.workflows.qa.output import prepare_output_dir

    results = Path(results)
    source_dir = results if results.is_dir() else results.parent
    if output is not None and Path(output).resolve() == source_dir.resolve():
        raise RelvalError(f"{output}: is the results directory; write the re-graded results elsewhere")
    summary = regrade(load_summary(results), thresholds)
    if output is not None:
        prepare_output_dir(Path(output))
        write_outputs(summary, Path(output))
    return summary


@dataclass(frozen=True)
class Change:
    name: str
    before: str  # grade in A, or "absent"
    after: str  # grade in B, or "absent"
    reason: str  # B's reason (A's when absent from B)

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "before": self.before, "after": self.after, "reason": self.reason}


def grade_changes(a: Summary, b: Summary) -> list[Change]:
    """Objects whose grade differs between two result sets (or that only one has), worst first."""
    before = {r.name: r for r in a.results}
    after = {r.name: r for r in b.results}
    changes = []
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name), after.get(name)
        if old is not None and new is not None and old.grade == new.grade:
            continue
        changes.append(Change(name, old.grade if old else "absent", new.grade if new else "absent",
                              (new or old).reason))
    rank = {"BAD": 0, "WARNING": 1, "absent": 2, "NOT_COMPARED": 3, "GOOD": 4}
    return sorted(changes, key=lambda c: (rank.get(c.after, 5), c.name))
