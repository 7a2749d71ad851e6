"""`merge_files`: sum histograms with the same path across files, as hadd does.

For each histogram path, the raw ROOT arrays are summed over the inputs that
have it: bin contents (flow bins included), sumw2, the profile bin entries and
their sumw2, and the fill statistics (fEntries, fTsumw, fTsumwx, ...). A
histogram with no stored sumw2 contributes its contents as sumw2 when any other
input stores sumw2 (that is what TH1::Add does). The class and binning must be
the same in every input (alphanumeric bin labels too: they are kept, and must
agree), or the merge stops with a problem per path.

Order independence: per bin, the contributions are sorted before they are
added, and the scalars are summed with math.fsum, so the output does not depend
on the order of the inputs down to the last bit. Titles and axis titles come
from the first input (in the order given) that has the path.

TH1, TH2, TH3, TProfile and TProfile2D are merged, and so are TTrees of
numbers (row after row, treemerge.py). QualityControl files are merged object
by object: each MonitorObject's histogram is summed and written, as a plain
histogram, under its QC path (`int/TPC/Clusters/hPt`), so `relval qa compare`
names it as in the QC file; the output is not a QC file (`o2-qc-file-merger`
makes those), which `MergeResult.notes` says. Other objects (TGraph, trees of
strings or variable-size arrays, ...) are listed in `MergeResult.skipped`, one
line each with the reason, and not written: uproot cannot write back arbitrary
classes it has read.
Histograms inside TList/TObjArray collections are written into directories of
the same name, so their full paths (`list/hist`) are unchanged for
`relval qa compare`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from relval.errors import RelvalError
from relval.workflows.qa.hist import kind_of
from relval.workflows.qa.output import os_reason
from relval.workflows.qa.reader import list_objects, one_line, open_root
from relval.workflows.qa.treemerge import TreePlan, plan_trees, write_tree

_STATS = {
    "TH1": ("fTsumw", "fTsumw2", "fTsumwx", "fTsumwx2"),
    "TH2": ("fTsumw", "fTsumw2", "fTsumwx", "fTsumwx2", "fTsumwy", "fTsumwy2", "fTsumwxy"),
    "TProfile": ("fTsumw", "fTsumw2", "fTsumwx", "fTsumwx2", "fTsumwy", "fTsumwy2"),
    "TH3": ("fTsumw", "fTsumw2", "fTsumwx", "fTsumwx2", "fTsumwy", "fTsumwy2", "fTsumwxy",
            "fTsumwz", "fTsumwz2", "fTsumwxz", "fTsumwyz"),
    "TProfile2D": ("fTsumw", "fTsumw2", "fTsumwx", "fTsumwx2", "fTsumwy", "fTsumwy2", "fTsumwxy",
                   "fTsumwz", "fTsumwz2"),
}


@dataclass
class MergeResult:
    output: Path
    inputs: list[Path]
    merged: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, classname)
    reasons: dict[str, str] = field(default_factory=dict)  # path -> why it was skipped
    notes: list[str] = field(default_factory=list)  # what the output is, where it differs from the inputs

    def reason(self, path: str, classname: str) -> str:
        return self.reasons.get(path, f"{classname} not merged: only histograms, profiles and trees of "
                                      "numbers are")

    def to_dict(self) -> dict[str, Any]:
        return {"output": str(self.output), "inputs": [str(p) for p in self.inputs],
                "merged": self.merged, "notes": self.notes,
                "skipped": [{"path": p, "class": c, "reason": self.reason(p, c)} for p, c in self.skipped]}


def _raw_array(obj) -> np.ndarray:
    """The TArray base of a histogram model: contents in ROOT's order, flow included."""
    stack = [obj]
    while stack:
        node = stack.pop()
        if type(node).__name__.startswith("Model_TArray"):
            return np.asarray(node)
        stack.extend(getattr(node, "bases", []))
    raise ValueError(f"{obj.classname}: no bin array found")


def _labels(axis) -> tuple[tuple[int, str], ...]:
    """Alphanumeric bin labels as (bin, text); ROOT keeps the bin in the label's fUniqueID."""
    labels = axis.member("fLabels")
    if labels is None:
        return ()
    out = []
    for position, label in enumerate(labels, start=1):
        try:
            number = int(label.member("@fUniqueID")) or position
        except Exception:  # noqa: BLE001 - an unnumbered label sits at its position
            number = position
        out.append((number, str(label)))
    return tuple(out)


def _axis(obj, member: str) -> dict[str, Any]:
    axis = obj.member(member)
    xbins = np.asarray(axis.member("fXbins"), dtype=float)
    return {"fNbins": int(axis.member("fNbins")), "fXmin": float(axis.member("fXmin")),
            "fXmax": float(axis.member("fXmax")), "fXbins": xbins if xbins.size else None,
            "fTitle": str(axis.member("fTitle")), "fName": str(axis.member("fName")),
            "labels": _labels(axis)}


def _same_axis(a: dict, b: dict) -> bool:
    if a["fNbins"] != b["fNbins"] or a["fXmin"] != b["fXmin"] or a["fXmax"] != b["fXmax"]:
        return False
    if a["labels"] != b["labels"]:  # the same bin would mean different things
        return False
    if (a["fXbins"] is None) != (b["fXbins"] is None):
        return False
    return a["fXbins"] is None or np.array_equal(a["fXbins"], b["fXbins"])


@dataclass
class _Part:
    """What one input contributes for one path."""

    kind: str
    classname: str
    title: str
    axes: list[dict]
    data: np.ndarray
    sumw2: np.ndarray | None
    entries: float
    stats: dict[str, float]
    bin_entries: np.ndarray | None = None
    bin_sumw2: np.ndarray | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def mergeable_kind(classname: str) -> str | None:
    """The kinds `compare` grades, plus TH3 (merged, though not compared)."""
    if len(classname) == 4 and classname.startswith("TH3"):
        return "TH3"
    return kind_of(classname)


def _read_part(obj) -> _Part:
    kind = mergeable_kind(obj.classname)
    ndim = {"TH2": 2, "TProfile2D": 2, "TH3": 3}.get(kind, 1)
    axes = [_axis(obj, m) for m in ("fXaxis", "fYaxis", "fZaxis")]
    sumw2 = np.asarray(obj.member("fSumw2"), dtype=float)
    part = _Part(kind=kind, classname=obj.classname, title=str(obj.member("fTitle")), axes=axes[:3],
                 data=_raw_array(obj), sumw2=sumw2 if sumw2.size else None,
                 entries=float(obj.member("fEntries")),
                 stats={k: float(obj.member(k)) for k in _STATS[kind]})
    part.extra["ndim"] = ndim
    if kind.startswith("TProfile"):
        part.bin_entries = np.asarray(obj.member("fBinEntries"), dtype=float)
        bin_sumw2 = np.asarray(obj.member("fBinSumw2"), dtype=float)
        part.bin_sumw2 = bin_sumw2 if bin_sumw2.size else None
        part.extra["fErrorMode"] = int(obj.member("fErrorMode"))
        limits = ("fYmin", "fYmax") if kind == "TProfile" else ("fZmin", "fZmax")
        part.extra["limits"] = tuple(float(obj.member(k)) for k in limits)
    return part


def _ordered_sum(arrays: list[np.ndarray]) -> np.ndarray:
    """Element-wise sum that does not depend on the order of `arrays`."""
    if len(arrays) == 1:
        return np.asarray(arrays[0], dtype=float).copy()
    stacked = np.sort(np.stack([np.asarray(a, dtype=float) for a in arrays]), axis=0)
    return stacked.sum(axis=0)


def _sum_optional(parts: list[_Part], get: Callable[[_Part], np.ndarray | None],
                  fallback: Callable[[_Part], np.ndarray]) -> np.ndarray | None:
    """Sum an optional array; where one input lacks it, use its fallback."""
    if all(get(p) is None for p in parts):
        return None
    return _ordered_sum([get(p) if get(p) is not None else fallback(p) for p in parts])


def _check_compatible(path: str, parts: list[_Part], names: list[str]) -> list[str]:
    first, problems = parts[0], []
    for part, name in zip(parts[1:], names[1:]):
        if part.kind != first.kind:
            problems.append(f"{path}: cannot merge {part.classname} from {name} with "
                            f"{first.classname} from {names[0]}")
        elif part.extra["ndim"] != first.extra["ndim"] or not all(
                _same_axis(a, b) for a, b in zip(part.axes, first.axes)):
            problems.append(f"{path}: binning or bin labels in {name} differ from {names[0]}")
    return problems


def _to_axis(axis: dict, default_name: str):
    from uproot.writing.identify import to_TAxis, to_THashList, to_TObjString

    labels = None
    if axis["labels"]:
        labels = to_THashList([to_TObjString(text) for _, text in axis["labels"]])
        for label, (number, _) in zip(labels, axis["labels"]):
            label._bases[0]._members["@fUniqueID"] = number  # as TAxis::SetBinLabel does
    return to_TAxis(fName=axis["fName"] or default_name, fTitle=axis["fTitle"], fNbins=axis["fNbins"],
                    fXmin=axis["fXmin"], fXmax=axis["fXmax"], fXbins=axis["fXbins"], fLabels=labels)


def _build(path: str, parts: list[_Part]):
    """The merged uproot model for one path."""
    from uproot.writing import identify

    first = parts[0]
    name = path.rsplit("/", 1)[-1]
    dtype = first.data.dtype
    data = _ordered_sum([p.data for p in parts])
    sumw2 = _sum_optional(parts, lambda p: p.sumw2,
                          lambda p: np.asarray(p.data, float) if not p.kind.startswith("TProfile")
                          else np.zeros_like(p.data, dtype=float))
    entries = math.fsum(p.entries for p in parts)
    stats = {k: math.fsum(p.stats[k] for p in parts) for k in first.stats}
    axes = [_to_axis(a, n) for a, n in zip(first.axes, ("xaxis", "yaxis", "zaxis"))]
    if first.kind.startswith("TProfile"):
        bin_entries = _ordered_sum([p.bin_entries for p in parts])
        bin_sumw2 = _sum_optional(parts, lambda p: p.bin_sumw2, lambda p: p.bin_entries)
        empty = np.array([], dtype=float)
        sumw2 = sumw2 if sumw2 is not None else empty
        bin_sumw2 = bin_sumw2 if bin_sumw2 is not None else empty
        low, high = first.extra["limits"]
        if first.kind == "TProfile":
            return identify.to_TProfile(name, first.title, data, entries, fSumw2=sumw2, fBinEntries=bin_entries,
                                        fBinSumw2=bin_sumw2, fXaxis=axes[0], fYaxis=axes[1], fZaxis=axes[2],
                                        fYmin=low, fYmax=high, fErrorMode=first.extra["fErrorMode"], **stats)
        return identify.to_TProfile2D(name, first.title, data, entries, fSumw2=sumw2, fBinEntries=bin_entries,
                                      fBinSumw2=bin_sumw2, fXaxis=axes[0], fYaxis=axes[1], fZaxis=axes[2],
                                      fZmin=low, fZmax=high, fErrorMode=first.extra["fErrorMode"], **stats)
    data = data.astype(dtype, copy=False) if dtype.kind == "f" else data
    sumw2 = sumw2 if sumw2 is not None else np.array([], dtype=float)
    if first.kind == "TH1":
        return identify.to_TH1x(name, first.title, data, entries, fSumw2=sumw2, fXaxis=axes[0],
                                fYaxis=axes[1], fZaxis=axes[2], **stats)
    if first.kind == "TH3":
        return identify.to_TH3x(name, first.title, data, entries, fSumw2=sumw2, fXaxis=axes[0],
                                fYaxis=axes[1], fZaxis=axes[2], **stats)
    return identify.to_TH2x(name, first.title, data, entries, fSumw2=sumw2, fXaxis=axes[0],
                            fYaxis=axes[1], fZaxis=axes[2], **stats)


def merge_files(inputs: list[Path], output: Path) -> MergeResult:
    """Merge the histograms of `inputs` into `output` (overwritten).

    Raises RelvalError (exit 2) for missing or unreadable inputs and for
    histograms whose class, binning or bin labels differ between inputs.
    """
    import uproot

    inputs = [Path(p) for p in inputs]
    output = Path(output)
    if not inputs:
        raise RelvalError("nothing to merge: give at least one input file")
    problems = [f"{p}: no such file" for p in inputs if not p.is_file()]
    if output.resolve() in {p.resolve() for p in inputs}:
        problems.append(f"{output}: the output is also an input")
    if problems:
        raise RelvalError(problems)
    handles = []
    try:
        for path in inputs:
            try:
                handles.append(open_root(path))
            except RelvalError as error:
                problems.extend(error.problems)
        if problems:
            raise RelvalError(problems)
        # Trees are merged whole (treemerge.py); list_objects' per-column entries are left out.
        listings = [{path: entry for path, entry in list_objects(h).items() if not _tree_column(entry.classname)}
                    for h in handles]
        result = MergeResult(output=output, inputs=inputs)
        trees, tree_skips, tree_problems = plan_trees(handles, inputs)
        problems.extend(tree_problems)
        for path, why in tree_skips.items():
            result.skipped.append((path, "TTree"))
            result.reasons[path] = why
        qc_keys = sorted({key for h in handles for key in _qc_keys(h)})
        merged: dict[str, Any] = {}
        seen_skipped = set()
        all_paths = sorted(set().union(*listings))
        for path in all_paths:
            present = [(inputs[i], listing[path]) for i, listing in enumerate(listings) if path in listing]
            classname = present[0][1].classname
            if any(mergeable_kind(e.classname) is None for _, e in present):
                if path not in seen_skipped:
                    seen_skipped.add(path)
                    result.skipped.append((path, classname))
                continue
            parts = []
            for source, entry in present:
                try:
                    parts.append(_read_part(entry.load()))
                except Exception as error:  # noqa: BLE001 - uproot raises many kinds for a damaged object
                    problems.append(f"{source}: cannot read {path} ({one_line(error)})")
            if len(parts) != len(present):
                continue
            names = [str(p) for p, _ in present]
            trouble = _check_compatible(path, parts, names)
            if trouble:
                problems.extend(trouble)
                continue
            merged[path] = _build(path, parts)
        if problems:
            raise RelvalError(problems)
    finally:
        for handle in handles:
            handle.close()
    _write(output, merged, trees)
    result.merged = list(merged) + [plan.path for plan in trees]
    result.notes = _notes(merged, trees, qc_keys)
    return result


def _tree_column(classname: str) -> bool:
    from relval.workflows.qa.trees import COLUMN

    return classname == COLUMN or classname.startswith("TBranch (")


def _qc_keys(handle) -> list[str]:
    from relval.workflows.qa.qcfile import is_qc_class

    return [key.rpartition(";")[0] for key, classname in handle.classnames(recursive=True).items()
            if is_qc_class(classname)]


def _notes(merged: dict[str, Any], trees: list[TreePlan], qc_keys: list[str]) -> list[str]:
    """One line per way the output differs in form from its inputs."""
    notes = []
    from_qc = [path for path in merged if any(path.startswith(key + "/") or path == key for key in qc_keys)]
    if from_qc:
        notes.append(f"{len(from_qc)} QC MonitorObject(s) merged and written as plain objects under their QC "
                     f"paths (e.g. {from_qc[0]}): the output compares with QC files, but is not one "
                     "(o2-qc-file-merger writes those)")
    stacked = [plan.path for plan in trees if len(plan.sources) > 1 and plan.path.startswith("DF_")]
    if stacked:
        notes.append(f"{len(stacked)} AO2D table(s) in DF_ folders of several inputs were concatenated "
                     f"(e.g. {stacked[0]}); their index columns are not offset, so the output is for "
                     "comparison, not analysis (o2-aod-merger writes those)")
    return notes


def _write(output: Path, merged: dict[str, Any], trees: list[TreePlan] = ()) -> None:
    """Write the merged models and trees; an unwritable output is one line, and no partial file stays."""
    import uproot

    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        with uproot.recreate(output) as sink:
            directories: dict[tuple[str, ...], Any] = {(): sink}

            def directory_of(path: str):
                *parts, name = path.split("/")
                # mkdir one name at a time: uproot's path syntax would read ':' as a TTree branch.
                for depth in range(1, len(parts) + 1):
                    if tuple(parts[:depth]) not in directories:
                        directories[tuple(parts[:depth])] = directories[tuple(parts[:depth - 1])].mkdir(
                            parts[depth - 1])
                return directories[tuple(parts)], name

            for path, model in merged.items():
                target, name = directory_of(path)
                target[name] = model
            for plan in trees:
                write_tree(*directory_of(plan.path), plan)
    except OSError as error:
        if output.is_file():
            output.unlink()
        raise RelvalError(f"{output}: cannot write ({os_reason(error)})") from None
