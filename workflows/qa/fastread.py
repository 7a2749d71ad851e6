"""A direct reader for TH1x/TH2x keys: the speed path of `compare`.

uproot builds a full Python model of every member of a histogram (line and
marker attributes, every axis attribute, ...), about 1 ms per histogram; a
comparison of two releases reads tens of thousands. This module decodes only
what the tests need from the key's uncompressed bytes: title, axes (bins, range,
variable edges), fEntries, fSumw2 and the bin array. Every versioned block
carries its byte count, so the parts we do not need are skipped, not parsed.

Only the streamer versions written by ROOT 6 and by uproot are accepted (TH1 v8,
TH2 v5, TAxis v10, TArray* contents) and axes without alphanumeric labels;
anything else raises `Unsupported` and the caller falls back to uproot's own
reader. Tests check both readers agree.
"""

from __future__ import annotations

import functools
import struct

import numpy as np

from relval.workflows.qa.hist import Hist

_BYTECOUNT = 0x40000000
_VERSION_HAS_BYTECOUNT = 0x4000
_IS_REFERENCED = 1 << 4

# class -> (dimension, numpy dtype of the TArray base)
CLASSES = {
    "TH1D": (1, ">f8"), "TH1F": (1, ">f4"), "TH1I": (1, ">i4"), "TH1S": (1, ">i2"), "TH1C": (1, ">i1"),
    "TH1L": (1, ">i8"),
    "TH2D": (2, ">f8"), "TH2F": (2, ">f4"), "TH2I": (2, ">i4"), "TH2S": (2, ">i2"), "TH2C": (2, ">i1"),
    "TH2L": (2, ">i8"),
}
_EXPECTED = {"TH1": 8, "TH2": 5, "TAxis": 10}


class Unsupported(Exception):
    """Bytes this reader does not handle; use uproot instead."""


class _Cursor:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def unpack(self, fmt: struct.Struct):
        values = fmt.unpack_from(self.data, self.pos)
        self.pos += fmt.size
        return values

    def block(self) -> tuple[int, int]:
        """A versioned header: returns (version, end offset of the block)."""
        (word,) = _U32.unpack_from(self.data, self.pos)
        if not word & _BYTECOUNT:
            raise Unsupported("block without byte count")
        end = self.pos + 4 + (word & ~_BYTECOUNT)
        (version,) = _I16.unpack_from(self.data, self.pos + 4)
        self.pos += 6
        return version, end

    def string(self) -> str:
        size = self.data[self.pos]
        self.pos += 1
        if size == 255:
            (size,) = _U32.unpack_from(self.data, self.pos)
            self.pos += 4
        text = self.data[self.pos:self.pos + size].decode("utf-8", "replace")
        self.pos += size
        return text

    def array(self, dtype: str) -> np.ndarray:
        (size,) = _I32.unpack_from(self.data, self.pos)
        self.pos += 4
        out = np.frombuffer(self.data, dtype=dtype, count=size, offset=self.pos)
        self.pos += size * out.itemsize
        return out


_U32, _I32, _I16 = struct.Struct(">I"), struct.Struct(">i"), struct.Struct(">h")
_TOBJECT = struct.Struct(">hII")
_AXIS = struct.Struct(">idd")
_STATS = struct.Struct(">hhdddddddd")


def _tnamed_title(cur: _Cursor) -> str:
    _, end = cur.block()
    version, unique_id, bits = cur.unpack(_TOBJECT)
    if version & _VERSION_HAS_BYTECOUNT:
        raise Unsupported("TObject with byte count")
    if bits & _IS_REFERENCED:
        cur.pos += 2
    cur.string()  # fName
    title = cur.string()
    cur.pos = end
    return title


def _skip_block(cur: _Cursor) -> None:
    _, end = cur.block()
    cur.pos = end


def _axis(cur: _Cursor) -> tuple[np.ndarray, str]:
    version, end = cur.block()
    if version != _EXPECTED["TAxis"]:
        raise Unsupported(f"TAxis v{version}")
    title = _tnamed_title(cur)
    _skip_block(cur)  # TAttAxis
    nbins, low, high = cur.unpack(_AXIS)
    xbins = cur.array(">f8")
    cur.pos += 10  # fFirst, fLast, fBits2, fTimeDisplay
    cur.string()  # fTimeFormat
    (labels,) = cur.unpack(_U32)
    if labels != 0:  # an fLabels list: bin labels are compared too, uproot reads them
        raise Unsupported("axis with bin labels")
    cur.pos = end
    if xbins.size and xbins.size != nbins + 1:
        raise Unsupported("fXbins size does not match fNbins")
    return (nbins, low, high, xbins), title


def _edges(axis) -> np.ndarray:
    nbins, low, high, xbins = axis
    if xbins.size:
        return xbins.astype(float)
    return _uniform_edges(nbins, low, high).copy()


@functools.lru_cache(maxsize=1024)
def _uniform_edges(nbins: int, low: float, high: float) -> np.ndarray:
    # Thousands of histograms share a few binnings; linspace is the costly part.
    return np.linspace(low, high, nbins + 1)


def read_hist(classname: str, data: bytes) -> Hist:
    """Decode one TH1x/TH2x object from its uncompressed key payload."""
    if classname not in CLASSES:
        raise Unsupported(classname)
    ndim, dtype = CLASSES[classname]
    cur = _Cursor(data)
    cur.block()  # TH1D, TH2F, ... (the leaf class)
    if ndim == 2:
        version, th2_end = cur.block()
        if version != _EXPECTED["TH2"]:
            raise Unsupported(f"TH2 v{version}")
    version, th1_end = cur.block()
    if version != _EXPECTED["TH1"]:
        raise Unsupported(f"TH1 v{version}")
    title = _tnamed_title(cur)
    for _ in range(3):  # TAttLine, TAttFill, TAttMarker
        _skip_block(cur)
    (ncells,) = cur.unpack(_I32)
    axes = [_axis(cur) for _ in range(3)]
    stats = cur.unpack(_STATS)
    entries = stats[2]
    cur.array(">f8")  # fContour
    sumw2 = cur.array(">f8")
    cur.pos = th1_end if ndim == 1 else th2_end
    contents = cur.array(dtype)
    if contents.size != ncells:
        raise Unsupported("bin array size does not match fNcells")
    edges = tuple(_edges(a[0]) for a in axes[:ndim])
    shape = tuple(len(e) + 1 for e in edges)  # bins + 2 flow bins per axis
    if int(np.prod(shape)) != ncells or (sumw2.size and sumw2.size != ncells):
        raise Unsupported("cell count does not match the axes")
    # ROOT stores x fastest: reshape as (y, x) and transpose to [x, y].
    flow_values = np.ascontiguousarray(contents.astype(float).reshape(shape[::-1]).T)
    inner = tuple(slice(1, -1) for _ in range(ndim))
    values = np.ascontiguousarray(flow_values[inner])
    if sumw2.size:
        flow_variances = np.ascontiguousarray(sumw2.astype(float).reshape(shape[::-1]).T)
        variances = np.ascontiguousarray(flow_variances[inner])
        weighted = not np.array_equal(flow_variances, flow_values)
    else:
        variances, flow_variances, weighted = values.copy(), flow_values.copy(), False
    return Hist(kind=f"TH{ndim}", values=values, variances=variances, edges=edges, entries=float(entries),
                weighted=weighted, title=title, axis_titles=tuple(a[1] for a in axes[:ndim]),
                classname=classname, flow_values=flow_values, flow_variances=flow_variances)
