"""The direct TH1/TH2 decoder agrees with uproot's reader, and falls back when it must."""

from __future__ import annotations

import numpy as np
import pytest
from uproot.writing.identify import to_TAxis, to_TH1x, to_TH2x

from relval.workflows.qa import fastread
from relval.workflows.qa.hist import from_uproot
from relval.workflows.qa.reader import list_objects, open_root

from .qa_support import weighted_th1, write_root


def _th1(dtype, values, edges, name="h"):
    data = np.concatenate([[1], values, [2]]).astype(dtype)
    axis = to_TAxis("xaxis", "x title", len(edges) - 1, float(edges[0]), float(edges[-1]),
                    fXbins=None if np.allclose(np.diff(edges), edges[1] - edges[0]) else np.asarray(edges, float))
    total = float(data.sum())
    return to_TH1x(name, "a title", data, total + 5, total, total, 0.0, 0.0, np.array([], float), axis)


def _th2(dtype, values, xedges, yedges):
    full = np.zeros((len(xedges) + 1, len(yedges) + 1))
    full[1:-1, 1:-1] = values
    full[0, 3] = 7  # a flow bin, to catch a transposition
    data = full.T.ravel().astype(dtype)  # ROOT order: x fastest
    xaxis = to_TAxis("xaxis", "", len(xedges) - 1, float(xedges[0]), float(xedges[-1]))
    yaxis = to_TAxis("yaxis", "y", len(yedges) - 1, float(yedges[0]), float(yedges[-1]))
    total = float(data.sum())
    return to_TH2x("h2", "", data, total, total, total, 0.0, 0.0, 0.0, 0.0, 0.0, np.array([], float), xaxis, yaxis)


def _both_readers(path):
    file = open_root(path)
    entries = list_objects(file)
    out = {}
    for name, entry in entries.items():
        assert entry.fast is not None, name
        out[name] = (entry.fast(), from_uproot(entry.load()))
    file.close()
    return out


def _same(fast, slow):
    assert fast.kind == slow.kind and fast.classname == slow.classname
    np.testing.assert_array_equal(fast.values, slow.values)
    np.testing.assert_array_equal(fast.variances, slow.variances)
    assert fast.weighted == slow.weighted
    assert fast.entries == slow.entries
    assert fast.title == slow.title
    assert len(fast.edges) == len(slow.edges)
    for a, b in zip(fast.edges, slow.edges):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)


def test_fast_decoder_matches_uproot_for_every_class(tmp_path):
    rng = np.random.default_rng(2)
    edges = np.linspace(0, 1, 11)
    variable = np.array([0.0, 0.1, 0.5, 0.55, 2.0])
    objects = {
        "d/th1d": _th1(np.float64, rng.uniform(0, 9, 10), edges),
        "th1f": _th1(np.float32, rng.uniform(0, 9, 10), edges),
        "th1i": _th1(np.int32, rng.integers(0, 9, 10), edges),
        "variable": _th1(np.float64, rng.uniform(0, 9, 4), variable),
        "weighted": weighted_th1("weighted", rng.uniform(1, 5, 10), rng.uniform(1, 9, 10), edges),
        "th2d": _th2(np.float64, rng.uniform(0, 9, (4, 3)), np.linspace(0, 4, 5), np.linspace(-1, 1, 4)),
        "th2f": _th2(np.float32, rng.uniform(0, 9, (4, 3)), np.linspace(0, 4, 5), np.linspace(-1, 1, 4)),
        "np": np.histogram(rng.normal(size=100), bins=7),
        "np2": np.histogram2d(rng.normal(size=100), rng.normal(size=100), bins=(3, 5)),
    }
    path = write_root(tmp_path / "all.root", objects)
    pairs = _both_readers(path)
    assert sorted(pairs) == sorted(objects)
    for name, (fast, slow) in pairs.items():
        _same(fast, slow)
    assert pairs["th2d"][0].values.shape == (4, 3)
    assert pairs["weighted"][0].weighted
    assert pairs["th1f"][0].classname == "TH1F"


def test_unknown_bytes_fall_back_to_uproot(tmp_path):
    path = write_root(tmp_path / "h.root", {"h": np.histogram([0.5], bins=3, range=(0, 1))})
    with pytest.raises(fastread.Unsupported):
        fastread.read_hist("TH1D", b"\x00\x00\x00\x10\x00\x03" + b"\x00" * 16)  # no byte count flag
    with pytest.raises(fastread.Unsupported):
        fastread.read_hist("TH3D", b"")
    file = open_root(path)
    entry = list_objects(file)["h"]
    entry.fast = lambda: fastread.read_hist("TH1D", b"\x00\x00\x00\x10\x00\x03" + b"\x00" * 16)
    hist = entry.hist()  # falls back to uproot
    assert hist.values.tolist() == [0.0, 1.0, 0.0]
    file.close()


@pytest.mark.root
def test_fast_decoder_matches_uproot_on_root_written_files(tmp_path):
    ROOT = pytest.importorskip("ROOT")
    path = tmp_path / "root.root"
    f = ROOT.TFile(str(path), "RECREATE")
    keep = []
    rng = np.random.default_rng(3)
    h1 = ROOT.TH1F("h1f", "float;x axis;y", 20, -2, 2)
    h2 = ROOT.TH2D("h2d", "2d", 6, 0, 6, 4, -1, 1)
    hv = ROOT.TH1D("hvar", "variable", 4, np.array([0.0, 0.5, 1.0, 3.0, 10.0]))
    hw = ROOT.TH1D("hw", "weighted", 10, 0, 1)
    hw.Sumw2()
    for x, y, w in zip(rng.normal(size=500), rng.uniform(-1.2, 1.2, 500), rng.uniform(0.5, 2, 500)):
        h1.Fill(x)
        h2.Fill(abs(x) * 2, y)
        hv.Fill(abs(x) * 3)
        hw.Fill(abs(x) / 2, w)
    for h in (h1, h2, hv, hw):
        h.Write()
        keep.append(h)
    f.Close()
    pairs = _both_readers(path)
    assert sorted(pairs) == ["h1f", "h2d", "hvar", "hw"]
    for name, (fast, slow) in pairs.items():
        _same(fast, slow)
    assert pairs["hw"][0].weighted


@pytest.mark.root
def test_labelled_axes_are_left_to_uproot(tmp_path):
    ROOT = pytest.importorskip("ROOT")
    path = tmp_path / "labels.root"
    f = ROOT.TFile(str(path), "RECREATE")
    h = ROOT.TH1D("status", "", 3, 0, 3)
    for number, text in enumerate(("ok", "warn", "fail"), start=1):
        h.GetXaxis().SetBinLabel(number, text)  # adds an fLabels list to the axis
    h.Fill("warn", 2.0)
    h.Write()
    f.Close()
    file = open_root(path)
    entry = list_objects(file)["status"]
    with pytest.raises(fastread.Unsupported, match="labels"):
        entry.fast()
    hist = entry.hist()
    assert hist.labels == (("ok", "warn", "fail"),) and hist.values.tolist() == [0.0, 2.0, 0.0]
    file.close()
