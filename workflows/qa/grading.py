"""Grade one object pair: the special cases first, then the tests.

Every case ends in a defined grade and a status, never an exception:

| case                                   | status          | grade                   |
|----------------------------------------|-----------------|-------------------------|
| only in the reference                  | missing         | BAD                     |
| only in the new release                | new             | BAD                     |
| class relval does not compare          | not_compared    | NOT_COMPARED (listed)   |
| histogram kinds differ (TH1 vs TH2...) | type_mismatch   | BAD                     |
| binning (or bin labels) differs        | binning         | BAD, reason names both  |
| both empty                             | empty           | GOOD, flag `empty`      |
| one side empty                         | one_side_empty  | BAD                     |
| NaN/inf bins, different bins per side  | nonfinite       | BAD                     |
| NaN/inf bins, same bins on both sides  | compared        | tests on the finite     |
|                                        |                 | bins, at least WARNING, |
|                                        |                 | flag `nonfinite`        |
| sum of weights <= 0 on a side          | compared        | WARNING, shape tests    |
|                                        |                 | skipped                 |
| otherwise                              | compared        | worst of the tests      |
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from relval.workflows.qa.checks import chi2_test, entries_test, ks_test, width_test
from relval.workflows.qa.hist import Hist
from relval.workflows.qa.thresholds import grade_value

GRADES = ("GOOD", "WARNING", "BAD")
NOT_COMPARED = "NOT_COMPARED"
_RANK = {"GOOD": 0, "WARNING": 1, "BAD": 2}


def worst(*grades: str) -> str:
    graded = [g for g in grades if g in _RANK]
    return max(graded, key=_RANK.__getitem__) if graded else "GOOD"


@dataclass
class ObjectResult:
    """One row of the summary: an object matched by name across the two sides."""

    name: str
    grade: str
    status: str
    reason: str = ""
    kind: str | None = None
    classname_new: str | None = None
    classname_ref: str | None = None
    flags: list[str] = field(default_factory=list)
    tests: dict[str, dict[str, Any]] = field(default_factory=dict)
    plot: str | None = None
    file: str | None = None
    path: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "file": self.file,
            "path": self.path,
            "grade": self.grade,
            "status": self.status,
            "reason": self.reason,
            "kind": self.kind,
            "class_new": self.classname_new,
            "class_ref": self.classname_ref,
            "flags": self.flags,
            "tests": {k: _json_safe(v) for k, v in self.tests.items()},
            "plot": self.plot,
        }


def _json_safe(values: dict[str, Any]) -> dict[str, Any]:
    """JSON has no inf/NaN; write them as strings so Summary.json stays strict JSON."""
    out = {}
    for key, value in values.items():
        if isinstance(value, float) and not np.isfinite(value):
            value = str(value)
        out[key] = value
    return out


def _same_binning(a: Hist, b: Hist) -> bool:
    if a.ndim != b.ndim:
        return False
    for ea, eb in zip(a.edges, b.edges):
        if ea.shape != eb.shape:
            return False
        if not np.array_equal(ea, eb) and not np.allclose(ea, eb, rtol=1e-9, atol=1e-12):
            return False
    return True


def grade_pair(name: str, new: Hist, ref: Hist, settings: dict[str, dict[str, Any]]) -> ObjectResult:
    """Run the tests on two histograms of a supported kind and grade the pair."""
    result = ObjectResult(name=name, grade="GOOD", status="compared", kind=new.kind,
                          classname_new=new.classname or None, classname_ref=ref.classname or None)
    if new.kind != ref.kind:
        result.grade, result.status = "BAD", "type_mismatch"
        result.reason = f"type differs: new is {new.classname or new.kind}, reference is {ref.classname or ref.kind}"
        return result
    if not _same_binning(new, ref):
        result.grade, result.status = "BAD", "binning"
        result.reason = f"binning differs: new {new.describe_binning()}; reference {ref.describe_binning()}"
        return result
    if new.labels != ref.labels:
        result.grade, result.status = "BAD", "binning"
        result.reason = "bin labels differ: the same bin holds different things"
        return result

    if new.flow_values is not None and ref.flow_values is not None:
        new, ref = new.with_flow(), ref.with_flow()  # entries out of range count (see hist.py)
    bad_new, bad_ref = new.nonfinite, ref.nonfinite
    keep = ~(bad_new | bad_ref)
    if bad_new.any() or bad_ref.any():
        if not np.array_equal(bad_new, bad_ref):
            result.grade, result.status = "BAD", "nonfinite"
            result.reason = (f"NaN/inf bins differ: new has {int(bad_new.sum())}, "
                             f"reference has {int(bad_ref.sum())}")
            return result
        result.flags.append("nonfinite")
        result.reason = f"{int(bad_new.sum())} NaN/inf bins on both sides were left out"
        new, ref = _masked(new, keep), _masked(ref, keep)

    if new.is_empty and ref.is_empty:
        result.status = "empty"
        result.flags.append("empty")
        result.reason = result.reason or "both sides are empty"
        return result
    if new.is_empty or ref.is_empty:
        side, other = ("new", ref) if new.is_empty else ("reference", new)
        result.grade, result.status = "BAD", "one_side_empty"
        result.reason = f"{side} is empty, the other side has {other.entries:g} entries"
        return result

    grades = ["WARNING"] if "nonfinite" in result.flags else []
    shape_ok = new.is_profile or (np.sum(new.values) > 0 and np.sum(ref.values) > 0)
    if not shape_ok:
        grades.append("WARNING")
        result.flags.append("nonpositive")
        result.reason = "sum of weights <= 0 on a side: shape tests skipped"
    for test, run in (("chi2", chi2_test), ("ks", ks_test), ("width", width_test), ("entries", entries_test)):
        setting = settings[test]
        if not setting.get("enabled", True):
            continue
        if test != "entries" and not shape_ok:
            continue
        if test in ("ks", "width") and new.is_profile:
            continue  # a cumulative (or ranks) of bin means is meaningless
        values = run(new, ref) if test == "entries" else run(new, ref, None)
        graded_on = values["rel_diff"] if test == "entries" else values["p"]
        values["grade"] = grade_value(test, graded_on, setting)
        result.tests[test] = values
        grades.append(values["grade"])
    result.grade = worst(*grades)
    if result.grade != "GOOD" and not result.reason:
        result.reason = "; ".join(_describe(t, v) for t, v in result.tests.items() if v["grade"] != "GOOD")
    return result


def _p(value: float) -> str:
    return "p < 1e-300" if value < 1e-300 else f"p {value:.2g}"  # below double precision


def _describe(test: str, values: dict[str, Any]) -> str:
    if test == "chi2":
        return f"chi2/ndf {values['chi2_ndf']:.3g} (ndf {values['ndf']}, {_p(values['p'])})"
    if test == "ks":
        return f"KS distance {values['distance']:.3g} ({_p(values['p'])})"
    if test == "width":
        wider = "wider" if values["z"] > 0 else "narrower"
        return f"width differs: new is {wider} in {values['axis']} (Mood z {values['z']:+.1f}, {_p(values['p'])})"
    return f"entries differ by {values['rel_diff']:.1%} ({values['new']:g} vs {values['ref']:g})"


def _masked(h: Hist, keep: np.ndarray) -> Hist:
    """A copy with the dropped bins zeroed (so they count as empty in every test)."""
    from dataclasses import replace

    return replace(
        h,
        values=np.where(keep, h.values, 0.0),
        variances=np.where(keep, h.variances, 0.0),
        bin_entries=None if h.bin_entries is None else np.where(keep, h.bin_entries, 0.0),
    )


def one_sided(name: str, present: str, classname: str) -> ObjectResult:
    """An object found on one side only: BAD, status `missing` or `new`."""
    if present == "ref":
        return ObjectResult(name=name, grade="BAD", status="missing", classname_ref=classname,
                            reason=f"{classname} only in the reference: missing in the new release")
    return ObjectResult(name=name, grade="BAD", status="new", classname_new=classname,
                        reason=f"{classname} only in the new release: not in the reference")


def not_compared(name: str, classname_new: str, classname_ref: str) -> ObjectResult:
    if classname_new != classname_ref:
        reason = f"not compared: {classname_new} (new) vs {classname_ref} (reference)"
    else:
        reason = f"not compared: relval compares TH1, TH2 and TProfile, not {classname_new}"
    return ObjectResult(name=name, grade=NOT_COMPARED, status="not_compared", reason=reason,
                        classname_new=classname_new, classname_ref=classname_ref)
