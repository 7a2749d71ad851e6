"""Object kinds graded as a pair rather than one histogram per side: tree columns, TEfficiency.

`compare.compare_entries` asks `pair_grader` first; histograms (TH1/TH2/TH3,
profiles) keep their own path there.
"""

from __future__ import annotations

from typing import Callable

from relval.workflows.qa import efficiency, qcfile, trees
from relval.workflows.qa.grading import ObjectResult, grade_pair
from relval.workflows.qa.hist import for_plot


def _grade_column(name, new, ref, settings, sink) -> ObjectResult:
    h_new, h_ref = trees.column_hists(new.load(), ref.load(), name)
    result = grade_pair(name, h_new, h_ref, settings)
    result.kind = "column"
    if sink is not None:
        sink.add(result, h_new, h_ref)
    return result


def _grade_efficiency(name, new, ref, settings, sink) -> ObjectResult:
    result, total_new, total_ref = efficiency.grade(name, new.load(), ref.load(), settings)
    if sink is not None:
        sink.add(result, for_plot(total_new), for_plot(total_ref))
    return result


def _grade_unreadable_qc(name, new, ref, settings, sink) -> ObjectResult:
    new.load(), ref.load()  # a QC key left as itself could not be unwrapped: this raises why
    raise ValueError("QC object could not be unwrapped")


def pair_grader(classname_new: str, classname_ref: str) -> Callable | None:
    """The grader for a pair of entries of these classes, or None for the histogram path."""
    if qcfile.is_qc_class(classname_new) or qcfile.is_qc_class(classname_ref):
        return _grade_unreadable_qc  # readable ones were unwrapped by the reader (qcfile.expand)
    if classname_new == classname_ref == trees.COLUMN:
        return _grade_column
    if efficiency.is_efficiency(classname_new) and efficiency.is_efficiency(classname_ref):
        return _grade_efficiency
    return None
