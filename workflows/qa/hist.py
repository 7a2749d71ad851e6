"""A plain histogram model, and its conversion from what uproot reads.

The tests and the report work on `Hist`, never on uproot objects, so they can
be driven directly from numpy arrays. Flow bins are kept apart (`flow_values`,
the whole array with underflow and overflow) and the tests run on them when both
sides have them (`with_flow`): entries moving out of range change the shape, and
a histogram filled only in overflow is not empty. This is ROOT's Chi2Test with
"UF OF" and KolmogorovTest with "UO", not their defaults.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# Kinds we compare; anything else is reported as "not compared".
KINDS = ("TH1", "TH2", "TH3", "TProfile", "TProfile2D")


def kind_of(classname: str) -> str | None:
    """`TH1F` -> `TH1`, `TProfile` -> `TProfile`; None for classes we do not compare."""
    if classname.startswith("TProfile2"):
        return "TProfile2D"
    if classname.startswith("TProfile3"):
        return None
    if classname.startswith("TProfile"):
        return "TProfile"
    for prefix in ("TH1", "TH2", "TH3"):
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
    # The same arrays with the flow bins (shape: bins + 2 per axis), when read from a file.
    flow_values: np.ndarray | None = None
    flow_variances: np.ndarray | None = None
    flow_bin_entries: np.ndarray | None = None

    @property
    def is_profile(self) -> bool:
        return self.kind.startswith("TProfile")

    @property
    def ndim(self) -> int:
        return len(self.edges)

    @property
    def is_empty(self) -> bool:
        """No content in any bin of these arrays (grading uses `with_flow()`: overflow counts)."""
        counts = self.values
        if self.is_profile and self.bin_entries is not None:
            counts = self.bin_entries
        # NaN != 0 is True, so only finite non-zero bins count as content.
        return not np.any((counts != 0) & np.isfinite(counts))

    @property
    def nonfinite(self) -> np.ndarray:
        """Mask of in-range bins whose content or error is NaN or inf."""
        return ~(np.isfinite(self.values) & np.isfinite(self.variances))

    def with_flow(self) -> "Hist":
        """The histogram the tests see: every bin, underflow and overflow included."""
        from dataclasses import replace

        if self.flow_values is None:
            return self
        return replace(self, values=self.flow_values, variances=self.flow_variances,
                       bin_entries=self.flow_bin_entries if self.is_profile else self.bin_entries,
                       flow_values=None, flow_variances=None, flow_bin_entries=None)

    def describe_binning(self) -> str:
        parts = []
        for name, edges in zip("xyz", self.edges):
            parts.append(f"{name}: {len(edges) - 1} bins [{edges[0]:g}, {edges[-1]:g}]")
        return ", ".join(parts)


def for_plot(h: Hist) -> Hist:
    """What the overlay plots draw: TH3s as their x projection (the plots draw 1D and 2D)."""
    from dataclasses import replace

    if h.ndim <= 2:
        return h
    return replace(h, kind="TH1", values=h.values.sum(axis=(1, 2)), variances=h.variances.sum(axis=(1, 2)),
                   edges=h.edges[:1], labels=(), axis_titles=h.axis_titles[:1], flow_values=None,
                   flow_variances=None, title=f"{h.title} (x projection)")


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
    for name in ("fXaxis", "fYaxis", "fZaxis")[:ndim]:
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
    ndim = {"TH2": 2, "TProfile2D": 2, "TH3": 3}.get(kind, 1)
    edges = tuple(np.asarray(obj.axis(i).edges(flow=False), dtype=float) for i in range(ndim))
    entries = float(obj.member("fEntries"))
    title = str(obj.member("fTitle"))
    if kind.startswith("TProfile"):
        values = np.asarray(obj.values(flow=False), dtype=float)
        errors = np.asarray(obj.errors(flow=False), dtype=float)
        bin_entries = np.asarray(obj.counts(flow=False), dtype=float)
        return Hist(kind=kind, values=values, variances=errors ** 2, edges=edges, entries=entries,
                    weighted=False, bin_entries=bin_entries, title=title,
                    axis_titles=_axis_titles(obj, ndim), classname=classname, labels=_axis_labels(obj, ndim),
                    flow_values=np.asarray(obj.values(flow=True), dtype=float),
                    flow_variances=np.asarray(obj.errors(flow=True), dtype=float) ** 2,
                    flow_bin_entries=np.asarray(obj.counts(flow=True), dtype=float))
    values = np.asarray(obj.values(flow=False), dtype=float)
    flow_values = np.asarray(obj.values(flow=True), dtype=float)
    sumw2 = obj.member("fSumw2")
    if sumw2 is not None and len(sumw2) > 0:
        variances = np.asarray(obj.variances(flow=False), dtype=float)
        flow_variances = np.asarray(obj.variances(flow=True), dtype=float)
        weighted = not np.array_equal(flow_variances, flow_values)
    else:
        variances, flow_variances, weighted = values.copy(), flow_values.copy(), False
    return Hist(kind=kind, values=values, variances=variances, edges=edges, entries=entries,
                weighted=weighted, title=title, axis_titles=_axis_titles(obj, ndim),
                classname=classname, labels=_axis_labels(obj, ndim), flow_values=flow_values,
                flow_variances=flow_variances)
