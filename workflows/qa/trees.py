"""TTrees (AO2D tables included): every numeric column becomes a histogram and is compared like a TH1.

- **Columns.** Each numeric branch is one column; a fixed-size array branch
  (`float[3]`) gives one column per element (`fCov[0]`, ...); a variable-size
  array is flattened into one column. Other branches are listed, not compared.
- **Binning.** Both sides are filled with the same binning, taken from the
  reference so that it does not move with the release under test, and robust to
  outliers: the 0.1%-99.9% quantile range of the reference, widened by 5% on each
  side, in up to 100 bins (fewer for small tables, about 50 values per bin);
  integer columns spanning at most 100 values get one bin per integer. Values
  outside go to the underflow/overflow bins and NaN to a bin of its own; the tests
  see all of them, so a tail that grows or values that turn NaN are changes.
- **Entries.** A column's entries are its number of values, so the entries test
  compares the tables' row counts.
- **AO2D.** The O2 analysis files store each table once per time frame, in
  `DF_<n>/` folders whose numbers differ between two productions; a table is
  compared over all of them together, as `DF_*/<table>/<column>`.

A column is read only when it is compared, one at a time (both sides), so
memory stays at one column of each side whatever the size of the file.
"""

from __future__ import annotations

import re
from typing import Any, Callable

import numpy as np

from relval.workflows.qa.hist import Hist

COLUMN = "TTree column"
_DF = re.compile(r"^DF_\d+/")
_QUANTILES = (0.001, 0.999)
_MAX_BINS, _MIN_BINS, _PER_BIN = 100, 10, 50
_MAX_INTEGER_BINS = 100
_SAMPLE = 200_000  # values used to find the range; enough for the 0.1% quantiles


def table_name(path: str) -> str:
    """`DF_2345/O2track` -> `DF_*/O2track`; other tree paths are kept."""
    return _DF.sub("DF_*/", path)


def binning(ref: np.ndarray, new: np.ndarray) -> np.ndarray:
    """Bin edges for a column, from the reference values (the new ones when the reference has none)."""
    source = ref if np.isfinite(ref).any() else new
    finite = source[np.isfinite(source)] if source.dtype.kind == "f" else source
    if finite.size == 0:
        return np.array([0.0, 1.0])
    step = max(1, finite.size // _SAMPLE)
    low, high = np.quantile(finite[::step], _QUANTILES)
    if source.dtype.kind in "iub":
        low, high = np.floor(low), np.ceil(high)
        if high - low < _MAX_INTEGER_BINS:
            return np.arange(low - 0.5, high + 1.5)
    if not high > low:
        pad = max(abs(low) * 1e-6, 0.5)
        return np.linspace(low - pad, high + pad, _MIN_BINS + 1)
    margin = 0.05 * (high - low)
    nbins = int(np.clip(finite.size // _PER_BIN, _MIN_BINS, _MAX_BINS))
    return np.linspace(low - margin, high + margin, nbins + 1)


def fill(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts in [underflow, bins..., overflow, NaN] for uniform `edges`."""
    nbins = len(edges) - 1
    x = values.astype(np.float64, copy=False)
    nan = np.isnan(x)
    n_nan = int(nan.sum())
    if n_nan:
        x = x[~nan]
    # Uniform bins: an index by arithmetic is several times faster than np.histogram.
    index = np.floor((x - edges[0]) * (nbins / (edges[-1] - edges[0])))
    index = np.clip(index, -1, nbins).astype(np.int64) + 1
    counts = np.bincount(index, minlength=nbins + 2).astype(float)
    return np.append(counts, float(n_nan))


def column_hists(new: np.ndarray, ref: np.ndarray, name: str = "") -> tuple[Hist, Hist]:
    """Two histograms of one column with the reference's binning (flow and NaN bins in `flow_values`)."""
    edges = binning(ref, new)
    out = []
    for values in (new, ref):
        full = fill(values, edges)
        out.append(Hist(kind="TH1", values=full[1:-2], variances=full[1:-2].copy(), edges=(edges,),
                        entries=float(values.size), title=name, classname=COLUMN,
                        flow_values=full, flow_variances=full.copy()))
    return out[0], out[1]


def _numeric(branch) -> tuple[bool, bool]:
    """(numeric, jagged) for a branch, from its uproot interpretation."""
    from uproot.interpretation.jagged import AsJagged
    from uproot.interpretation.numerical import AsDtype

    interpretation = branch.interpretation
    if isinstance(interpretation, AsJagged):
        content = interpretation.content
        return isinstance(content, AsDtype) and np.dtype(content.to_dtype).base.kind in "iufb", True
    return isinstance(interpretation, AsDtype) and np.dtype(interpretation.to_dtype).base.kind in "iufb", False


class _Reader:
    """Reads a column once for all its elements (the last branch read is kept)."""

    def __init__(self, trees: list):
        self.trees = trees
        self.cached: tuple[str, np.ndarray] | None = None

    def column(self, branch: str) -> np.ndarray:
        if self.cached is None or self.cached[0] != branch:
            parts = []
            for tree in self.trees:
                array = tree[branch].array(library="np")
                if array.dtype == object:  # variable-size arrays: every value counts
                    array = np.concatenate([np.asarray(a).ravel() for a in array]) if len(array) else \
                        np.zeros(0)
                parts.append(array)
            values = np.concatenate(parts) if len(parts) > 1 else parts[0]
            self.cached = (branch, values.astype(np.uint8) if values.dtype == bool else values)
        return self.cached[1]


def expand(trees: dict[str, Any], entry_type) -> dict[str, Any]:
    """Entries for the columns of the trees `{path: uproot TTree}`, AO2D time frames merged."""
    tables: dict[str, list] = {}
    for path, tree in sorted(trees.items()):
        tables.setdefault(table_name(path), []).append(tree)
    out: dict[str, Any] = {}
    for table, members in tables.items():
        reader = _Reader(members)
        first = members[0]
        for branch in first.branches:
            name = branch.name
            numeric, jagged = _numeric(branch)
            path = f"{table}/{name}"
            if not numeric:
                out[path] = entry_type(path, f"TBranch ({branch.typename})", lambda: None)
                continue
            shape = branch.interpretation.inner_shape if not jagged else ()
            size = int(np.prod(shape)) if shape else 1
            for element in range(size):
                label = f"{path}[{element}]" if shape else path
                out[label] = entry_type(label, COLUMN, _column_loader(reader, name, element if shape else None))
    return out


def _column_loader(reader: _Reader, branch: str, element: int | None) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        values = reader.column(branch)
        if element is None:
            return values.ravel()
        return values.reshape(len(values), -1)[:, element]
    return load
