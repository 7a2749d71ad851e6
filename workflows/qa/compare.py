"""`compare_paths`: match two sets of ROOT files object by object and grade them.

The verdict of a comparison:
- `FAIL` when any object is BAD (including missing and new objects);
- `NO_VERDICT` (exit 3) when nothing says FAIL but the comparison is incomplete:
  a file of the reference is missing from the new release, or a file (or the
  whole comparison) holds no object relval compares. Never PASS on nothing;
- `WARNING` when the worst grade is WARNING (a pass with warnings);
- `NO_VERDICT` when no object went through a statistical test (nothing
  comparable, everything empty or every test disabled): exit 3, never a PASS;
- `PASS` otherwise.
A thresholds override that matches no compared object makes the exit code 2
(bad input) whatever the verdict, after every output is written.
Objects that are not compared are listed as NOT_COMPARED and do not change it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from relval.errors import EXIT_BAD_INPUT, RelvalError
from relval.workflows.qa.grading import (GRADES, NOT_COMPARED, ObjectResult, grade_pair, not_compared,
                                         one_sided, worst)
from relval.workflows.qa.hist import for_plot, kind_of
from relval.workflows.qa.kinds import pair_grader
from relval.workflows.qa.output import prepare_output_dir
from relval.workflows.qa.reader import Entry, list_objects, one_line, open_root, pair_files
from relval.workflows.qa.select import Selection, identical_warning
from relval.workflows.qa.thresholds import Thresholds, load_thresholds

VERDICTS = ("PASS", "WARNING", "FAIL", "NO_VERDICT")
EXIT_CODES = {"PASS": 0, "WARNING": 0, "FAIL": 1, "NO_VERDICT": 3}
Progress = Callable[[int, int], None]


@dataclass
class Summary:
    """The result of one comparison; `to_dict()` is what Summary.json holds."""

    new: str
    ref: str
    results: list[ObjectResult]
    thresholds: Thresholds
    out_dir: Path | None = None
    summary_json: Path | None = None
    html: Path | None = None
    junit: Path | None = None
    plots: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # e.g. threshold overrides that match nothing
    labels: tuple[str, str] | None = None  # names of the releases compared, for the report
    overview: dict | None = None  # drawing data per object name for the report (overview.py)
    no_verdict: list[str] = field(default_factory=list)  # why the comparison is incomplete
    # Bad input found only once the objects are known (an override that matches none):
    # exit 2, with every result still written.
    errors: list[str] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        counts = {g: 0 for g in (*GRADES, NOT_COMPARED)}
        for r in self.results:
            counts[r.grade] += 1
        return counts

    @property
    def by_status(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for r in self.results:
            counts[r.status] = counts.get(r.status, 0) + 1
        return dict(sorted(counts.items()))

    @property
    def worst_grade(self) -> str:
        return worst(*(r.grade for r in self.results))

    @property
    def tested(self) -> int:
        """Objects that went through at least one statistical test."""
        return sum(1 for r in self.results if r.tests)

    @property
    def verdict(self) -> str:
        worst_grade = self.worst_grade
        if worst_grade != "BAD" and (not self.tested or self.no_verdict):
            return "NO_VERDICT"
        return {"GOOD": "PASS", "WARNING": "WARNING", "BAD": "FAIL"}[worst_grade]

    @property
    def exit_code(self) -> int:
        return EXIT_BAD_INPUT if self.errors else EXIT_CODES[self.verdict]

    def sorted_results(self) -> list[ObjectResult]:
        """BAD first, then WARNING, GOOD, NOT_COMPARED; by name within a grade."""
        order = {"BAD": 0, "WARNING": 1, "GOOD": 2, NOT_COMPARED: 3}
        return sorted(self.results, key=lambda r: (order[r.grade], r.name))

    def to_dict(self) -> dict[str, Any]:
        return {
            "new": self.new,
            "ref": self.ref,
            "labels": list(self.labels) if self.labels else None,
            "verdict": self.verdict,
            "no_verdict": list(self.no_verdict),
            "errors": list(self.errors),
            "counts": self.counts,
            "tested": self.tested,
            "warnings": self.warnings,
            "by_status": self.by_status,
            "thresholds": self.thresholds.to_dict(),
            "files": {k: str(v) for k, v in (("summary_json", self.summary_json), ("html", self.html),
                                              ("junit", self.junit)) if v is not None},
            "objects": [r.to_dict() for r in self.sorted_results()],
        }


def compare_entries(name: str, new: Entry | None, ref: Entry | None, thresholds: Thresholds,
                    sink=None) -> ObjectResult:
    """Grade one matched name; reads the objects only when both are histograms."""
    if new is None or ref is None:
        present = new if new is not None else ref
        return one_sided(name, "new" if new is not None else "ref", present.classname)
    grader = pair_grader(new.classname, ref.classname)  # tree columns, TEfficiency (kinds.py)
    if grader is not None:
        try:
            return grader(name, new, ref, thresholds.for_name(name), sink)
        except Exception as error:  # noqa: BLE001 - a corrupt object is a finding, not a crash
            return ObjectResult(name=name, grade="BAD", status="unreadable", classname_new=new.classname,
                                classname_ref=ref.classname, reason=f"cannot read: {error}")
    kind_new, kind_ref = kind_of(new.classname), kind_of(ref.classname)
    if kind_new is None and kind_ref is None:
        return not_compared(name, new.classname, ref.classname)
    if kind_new is None or kind_ref is None:
        return ObjectResult(name=name, grade="BAD", status="type_mismatch", classname_new=new.classname,
                            classname_ref=ref.classname,
                            reason=f"type differs: new is {new.classname}, reference is {ref.classname}")
    try:
        h_new, h_ref = new.hist(), ref.hist()
    except Exception as error:  # noqa: BLE001 - a corrupt object is a finding, not a crash
        return ObjectResult(name=name, grade="BAD", status="unreadable", classname_new=new.classname,
                            classname_ref=ref.classname, reason=f"cannot read: {one_line(error)}")
    result = grade_pair(name, h_new, h_ref, thresholds.for_name(name, new.path))
    if result.tests and bit_identical(h_new, h_ref):  # tested, not merely both empty
        result.flags.append("identical")
    if sink is not None:
        sink.add(result, for_plot(h_new), for_plot(h_ref))
    return result


def bit_identical(a, b) -> bool:
    """Same contents, errors, entries and binning, to the last bit (NaN equal to NaN)."""
    return (a.entries == b.entries and a.values.shape == b.values.shape
            and np.array_equal(a.values, b.values, equal_nan=True)
            and np.array_equal(a.variances, b.variances, equal_nan=True)
            and all(np.array_equal(x, y) for x, y in zip(a.edges, b.edges)))


def _open_all(pairs) -> dict[Path, Any]:
    files, problems = {}, []
    for _, new_file, ref_file in pairs:
        for path in (new_file, ref_file):
            if path is None or path in files:
                continue
            try:
                files[path] = open_root(path)
            except RelvalError as error:
                problems.extend(error.problems)
    if problems:
        raise RelvalError(problems)
    return files


def compare_paths(new: Path, ref: Path, out_dir: Path | None = None,
                  thresholds: Path | dict | Thresholds | None = None, plots: bool = True,
                  grid: bool = True, progress: Progress | None = None,
                  labels: tuple[str, str] | None = None, include: list[str] | tuple[str, ...] = (),
                  exclude: list[str] | tuple[str, ...] = ()) -> Summary:
    """Compare NEW against REF (two ROOT files, or two directories of them).

    With `out_dir`, writes Summary.json, index.html (+ report_data.js), a JUnit
    XML file and (with `plots`) overlay PNGs for every WARNING/BAD histogram;
    with `grid`, the report also draws every other histogram in the browser.
    `labels` names the two releases in the report (default: the input names);
    `include`/`exclude` select objects by glob (see select.py).
    Raises RelvalError (exit code 2) on input errors, 3 when outputs cannot be written.
    """
    new, ref = Path(new), Path(ref)
    limits = load_thresholds(thresholds)
    pairs = pair_files(new, ref)
    files = _open_all(pairs)
    sink = None
    try:
        if out_dir is not None:  # after the inputs are known good, before any work
            prepare_output_dir(Path(out_dir))
        if out_dir is not None and plots:
            from relval.workflows.qa.plots import PlotSink

            sink = PlotSink(Path(out_dir), overview=grid)
        selection = Selection(tuple(include), tuple(exclude))
        seen: list[tuple[str, str | None]] = []
        listed = []
        for label, new_file, ref_file in pairs:
            new_objs = list_objects(files[new_file]) if new_file else {}
            ref_objs = list_objects(files[ref_file]) if ref_file else {}
            if new_file is None:  # the new release did not produce it: incomplete, not a regression
                listed.append((label, label, None, None, "missing_file"))
                continue
            if not new_objs and not ref_objs and ref_file is None:
                listed.append((label, label, None, None, "new"))
            for path in sorted(set(new_objs) | set(ref_objs)):
                name = f"{label}:{path}" if label else path
                seen.append((name, path))
                if selection.keeps(name, path):
                    listed.append((label, name, new_objs.get(path), ref_objs.get(path), path))
        if sink is not None:
            sink.parallel_for(len(listed))
        results: list[ObjectResult] = []
        for index, (label, name, e_new, e_ref, path) in enumerate(listed):
            if path == "missing_file":
                result = ObjectResult(name=name, grade=NOT_COMPARED, status="missing_file", classname_ref="TFile",
                                      reason="file only in the reference: the new release did not produce it")
            elif e_new is None and e_ref is None:  # a file with no objects, on one side only
                result = one_sided(name, path, "TFile")
            else:
                result = compare_entries(name, e_new, e_ref, limits, sink)
                result.path = path
            result.file = label or None
            results.append(result)
            if progress:
                progress(index + 1, len(listed))
        summary = Summary(new=str(new), ref=str(ref), results=results, thresholds=limits,
                          out_dir=Path(out_dir) if out_dir is not None else None, labels=labels,
                          warnings=selection.unmatched(seen) + identical_warning(results),
                          errors=limits.unmatched([(r.name, r.path) for r in results]),
                          no_verdict=incomplete(pairs, results))
        if sink is not None:
            summary.plots = sink.finish()
            summary.overview = sink.overview.by_name if sink.overview is not None else None
    except OSError as error:
        raise _write_failed(error) from None
    finally:
        for handle in files.values():
            handle.close()
        if sink is not None:
            sink.close()  # the plot worker, when the comparison stopped early
    if out_dir is not None:
        write_outputs(summary, Path(out_dir))
    return summary


def _write_failed(error: OSError) -> RelvalError:
    """A write that fails after the checks (disk full, directory removed): no verdict, exit 3."""
    return RelvalError(f"{error.filename or 'output'}: cannot write ({error.strerror or error})", exit_code=3)


def incomplete(pairs, results: list[ObjectResult]) -> list[str]:
    """Why a comparison cannot give a verdict: missing files, files with nothing compared."""
    graded = {}
    for result in results:
        if result.grade in GRADES:
            graded[result.file or ""] = True
    reasons = []
    for label, new_file, ref_file in pairs:
        if new_file is None:
            reasons.append(f"{label}: only in REF, the new release did not produce it")
        elif ref_file is not None and not graded.get(label):
            reasons.append(f"{label}: no comparable object" if label else "no comparable object in NEW and REF")
    return reasons


def write_outputs(summary: Summary, out_dir: Path) -> None:
    """Write JUnit, HTML and Summary.json into `out_dir` (plots are drawn during the comparison)."""
    from relval.workflows.qa.junit import write_junit
    from relval.workflows.qa.report import write_html

    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        summary.junit = write_junit(summary, out_dir / "junit.xml")
        summary.html = write_html(summary, out_dir / "index.html", summary.overview)
        summary.summary_json = out_dir / "Summary.json"
        summary.summary_json.write_text(summary_json_text(summary.to_dict()))
    except OSError as error:
        raise _write_failed(error) from None


def summary_json_text(document: dict) -> str:
    """Summary.json: the header indented, one object per line.

    Readable and diffable, and fast: indenting every nested value makes the
    json module fall back to its pure-Python encoder (1.5 s for 5,000 objects).
    """
    objects = document["objects"]
    head = json.dumps({k: v for k, v in document.items() if k != "objects"}, indent=1, allow_nan=False)
    lines = ",\n".join("  " + json.dumps(o, allow_nan=False) for o in objects)
    body = f',\n "objects": [\n{lines}\n ]\n}}\n' if objects else ',\n "objects": []\n}\n'
    return head[:-2] + body
