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

A table is read when its first column is compared, all its numeric columns at
once (uproot then decompresses them in parallel), and only one table of each
side is held: memory stays at one table per side whatever the size of the file.
"""

from __future__ import annotations

import os
import re
from typing import Any, Callable

import numpy as np

from relval.workflows.qa.hist import Hist

COLUMN = "TTree column"
_DF = re.compile(r"^DF_\d+/")
_QUANTILES = (0.001, 0.999)
_MAX_BINS, _MIN_BINS, _PER_BIN = 100, 10, 50
_MAX_INTEGER_BINS = 100
_SAMPLE = 100_000  # values used to find the range: 100 of them beyond each 0.1% quantile


def table_name(path: str) -> str:
    """`DF_2345/O2track` -> `DF_*/O2track`; other tree paths are kept."""
    return _DF.sub("DF_*/", path)


def binning(ref: np.ndarray, new: np.ndarray) -> np.ndarray:
    """Bin edges for a column, from the reference values (the new ones when the reference has none)."""
    sample = _finite_sample(ref)
    if sample.size == 0:
        sample = _finite_sample(new)
    if sample.size == 0:
        return np.array([0.0, 1.0])
    low, high = np.quantile(sample, _QUANTILES)
    if sample.dtype.kind in "iub":
        low, high = np.floor(low), np.ceil(high)
        if high - low < _MAX_INTEGER_BINS:
            return np.arange(low - 0.5, high + 1.5)
    if not high > low:
        pad = max(abs(low) * 1e-6, 0.5)
        return np.linspace(low - pad, high + pad, _MIN_BINS + 1)
    margin = 0.05 * (high - low)
    size = ref.size if ref.size else new.size
    nbins = int(np.clip(size // _PER_BIN, _MIN_BINS, _MAX_BINS))
    return np.linspace(low - margin, high + margin, nbins + 1)


def _finite_sample(values: np.ndarray) -> np.ndarray:
    """An evenly strided sample of at most _SAMPLE values, without NaN/inf."""
    sample = values[::max(1, values.size // _SAMPLE)]
    return sample[np.isfinite(sample)] if sample.dtype.kind == "f" else sample


def fill(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts in [underflow, bins..., overflow, NaN] for uniform `edges`."""
    nbins = len(edges) - 1
    # Uniform bins: the bin index by arithmetic, in place, is several times faster than
    # np.histogram. Shifted by one and clipped to [0, nbins + 1], truncation towards zero
    # is the floor: 0 is the underflow, nbins + 1 the overflow. NaN survives the clip.
    dtype = values.dtype if values.dtype.kind == "f" else np.dtype(np.float64)
    scale = nbins / (edges[-1] - edges[0])
    index = values.astype(dtype, copy=True)
    index *= dtype.type(scale)
    index += dtype.type(1.0 - edges[0] * scale)
    np.clip(index, 0, nbins + 1, out=index)
    if np.isnan(index.min()):  # one cheap reduction instead of a mask in the common case
        index[np.isnan(index)] = nbins + 2
    return np.bincount(index.astype(np.intp), minlength=nbins + 3).astype(float)


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
    """Reads the numeric columns of a table (all its time frames) at once, and keeps that table.

    Reading a whole table in one call lets uproot decompress its baskets in parallel
    (`_executor`); one table of each side is held at a time.
    """

    def __init__(self, trees: list, branches: list[str]):
        self.trees = trees
        self.branches = branches
        self.table: dict[str, np.ndarray] | None = None

    def column(self, branch: str) -> np.ndarray:
        if self.table is None:
            parts: dict[str, list] = {name: [] for name in self.branches}
            for tree in self.trees:
                arrays = tree.arrays(self.branches, library="np", decompression_executor=_executor())
                for name in self.branches:
                    array = arrays[name]
                    if array.dtype == object:  # variable-size arrays: every value counts
                        array = np.concatenate([np.asarray(a).ravel() for a in array]) if len(array) \
                            else np.zeros(0)
                    parts[name].append(array.astype(np.uint8) if array.dtype == bool else array)
            self.table = {name: np.concatenate(p) if len(p) > 1 else p[0] for name, p in parts.items()}
            _forget_other_tables(self)
        return self.table[branch]


_LOADED: list[_Reader] = []  # the readers holding a table, newest last


def _forget_other_tables(reader: _Reader, keep: int = 2) -> None:
    """Keep the tables of the last `keep` readers (the new and the reference side) in memory."""
    _LOADED.append(reader)
    while len(_LOADED) > keep:
        _LOADED.pop(0).table = None


_POOL: list = []


def _executor():
    from concurrent.futures import ThreadPoolExecutor

    if not _POOL:
        _POOL.append(ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)))
    return _POOL[0]


def expand(trees: dict[str, Any], entry_type) -> dict[str, Any]:
    """Entries for the columns of the trees `{path: uproot TTree}`, AO2D time frames merged."""
    tables: dict[str, list] = {}
    for path, tree in sorted(trees.items()):
        tables.setdefault(table_name(path), []).append(tree)
    out: dict[str, Any] = {}
    for table, members in tables.items():
        first = members[0]
        numeric_branches = [b.name for b in first.branches if _numeric(b)[0]]
        reader = _Reader(members, numeric_branches)
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
