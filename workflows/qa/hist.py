"""A plain histogram model, and its conversion from what uproot reads.

The tests and the report work on `Hist`, never on uproot objects, so they can
be driven directly from numpy arrays. Flow bins are kept apart: the shape tests
use the in-range bins only (as ROOT's Chi2Test and KolmogorovTest do by default).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# Kinds we compare; anything else is reported as "not compared".
KINDS = ("TH1", "TH2", "TProfile", "TProfile2D")


def kind_of(classname: str) -> str | None:
    """`TH1F` -> `TH1`, `TProfile` -> `TProfile`; None for classes we do not compare."""
    if classname.startswith("TProfile2"):
        return "TProfile2D"
    if classname.startswith("TProfile3"):
        return None
    if classname.startswith("TProfile"):
        return "TProfile"
    for prefix in ("TH1", "TH2"):
        if classname.startswith(prefix) and len(classname) == 4:
            return prefix
    return None


@dataclass
class Hist:
    """In-range bins of one histogram or profile.

    `values` are bin contents (for profiles, bin means); `variances` are the
    squared bin errors (sumw2, or the contents when sumw2 was not stored);
    `weighted` says sumw2 was stored and differs from the contents.
    For profiles `bin_entries` holds the number of entries per bin.
    """

    kind: str
    values: np.ndarray
    variances: np.ndarray
    edges: tuple[np.ndarray, ...]
    entries: float
    weighted: bool = False
    bin_entries: np.ndarray | None = None
    title: str = ""
    axis_titles: tuple[str, ...] = ()
    classname: str = ""
    labels: tuple[tuple[str, ...] | None, ...] = field(default=())  # per axis, () when none

    @property
    def is_profile(self) -> bool:
        return self.kind.startswith("TProfile")

    @property
    def ndim(self) -> int:
        return len(self.edges)

    @property
    def is_empty(self) -> bool:
        """No in-range content at all (overflow-only histograms count as empty)."""
        counts = self.values
        if self.is_profile and self.bin_entries is not None:
            counts = self.bin_entries
        # NaN != 0 is True, so only finite non-zero bins count as content.
        return not np.any((counts != 0) & np.isfinite(counts))

    @property
    def nonfinite(self) -> np.ndarray:
        """Mask of in-range bins whose content or error is NaN or inf."""
        return ~(np.isfinite(self.values) & np.isfinite(self.variances))

    def describe_binning(self) -> str:
        parts = []
        for name, edges in zip("xyz", self.edges):
            parts.append(f"{name}: {len(edges) - 1} bins [{edges[0]:g}, {edges[-1]:g}]")
        return ", ".join(parts)


def from_arrays(values, edges, variances=None, entries=None, kind: str | None = None,
                bin_entries=None) -> Hist:
    """Build a Hist from numpy arrays (tests and the benchmark use this)."""
    values = np.asarray(values, dtype=float)
    if isinstance(edges, np.ndarray) and edges.ndim == 1:
        edges = (edges,)
    edges = tuple(np.asarray(e, dtype=float) for e in edges)
    weighted = variances is not None
    variances = values.copy() if variances is None else np.asarray(variances, dtype=float)
    if entries is None:
        entries = float(np.nansum(values)) if bin_entries is None else float(np.sum(bin_entries))
    kind = kind or ("TH1" if len(edges) == 1 else "TH2")
    return Hist(kind=kind, values=values, variances=variances, edges=edges, entries=float(entries),
                weighted=weighted, bin_entries=None if bin_entries is None else np.asarray(bin_entries, float))


def _axis_labels(obj, ndim: int) -> tuple[tuple[str, ...] | None, ...]:
    out = []
    for i in range(ndim):
        try:
            labels = obj.axis(i).labels()
        except Exception:  # noqa: BLE001 - no labels is the common case
            labels = None
        out.append(tuple(str(x) for x in labels) if labels else None)
    return tuple(out) if any(out) else ()


def _axis_titles(obj, ndim: int) -> tuple[str, ...]:
    titles = []
    for name in ("fXaxis", "fYaxis")[:ndim]:
        try:
            titles.append(str(obj.member(name).member("fTitle")))
        except Exception:  # noqa: BLE001 - a missing title is harmless
            titles.append("")
    return tuple(titles)


def from_uproot(obj) -> Hist:
    """Convert an uproot histogram or profile model; the caller checked `kind_of`."""
    classname = obj.classname
    kind = kind_of(classname)
    if kind is None:
        raise ValueError(f"{classname} is not a supported histogram class")
    ndim = 2 if kind in ("TH2", "TProfile2D") else 1
    edges = tuple(np.asarray(obj.axis(i).edges(flow=False), dtype=float) for i in range(ndim))
    entries = float(obj.member("fEntries"))
    title = str(obj.member("fTitle"))
    if kind.startswith("TProfile"):
        values = np.asarray(obj.values(flow=False), dtype=float)
        errors = np.asarray(obj.errors(flow=False), dtype=float)
        bin_entries = np.asarray(obj.counts(flow=False), dtype=float)
        return Hist(kind=kind, values=values, variances=errors ** 2, edges=edges, entries=entries,
                    weighted=False, bin_entries=bin_entries, title=title,
                    axis_titles=_axis_titles(obj, ndim), classname=classname, labels=_axis_labels(obj, ndim))
    values = np.asarray(obj.values(flow=False), dtype=float)
    sumw2 = obj.member("fSumw2")
    if sumw2 is not None and len(sumw2) > 0:
        variances = np.asarray(obj.variances(flow=False), dtype=float)
        weighted = not np.array_equal(variances, values)
    else:
        variances, weighted = values.copy(), False
    return Hist(kind=kind, values=values, variances=variances, edges=edges, entries=entries,
                weighted=weighted, title=title, axis_titles=_axis_titles(obj, ndim),
                classname=classname, labels=_axis_labels(obj, ndim))
