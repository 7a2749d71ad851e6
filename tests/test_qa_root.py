"""Cross-checks against CERN ROOT itself (pip package `root`); skipped where ROOT is absent.

Mapping of relval's statistics to ROOT (both read the same uproot-written files):

| relval                              | ROOT                                            |
|-------------------------------------|-------------------------------------------------|
| chi2 `chi2_ndf`, unweighted pair    | `h1.Chi2Test(h2, "UU CHI2/NDF")`                |
| chi2 `p`, unweighted pair           | `h1.Chi2Test(h2, "UU")`                         |
| chi2 with sumw2 on either side      | the same with "WW"                              |
| KS `distance`                       | `h1.KolmogorovTest(h2, "M")` (2D: mean of the   |
|                                     | two unrolling orders, as TH2 does)              |
| KS `p`                              | `h1.KolmogorovTest(h2)`                         |

Tolerance: statistics agree to 1e-9 relative; p-values to 1e-6 relative (ROOT's
KolmogorovProb sums its series with its own cut-offs). Measured agreement is
about 1e-12.
"""

from __future__ import annotations

import numpy as np
import pytest

from relval.workflows.qa import compare_paths, merge_files

from .qa_support import gaus_counts, labelled_th1, profile, weighted_th1, write_root

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def ROOT():
    root = pytest.importorskip("ROOT")
    root.gErrorIgnoreLevel = root.kWarning  # Chi2Test prints an Info line per sparse bin
    return root


def _weighted(rng, edges, n, mean=0.0):
    x = rng.normal(mean, 1.0, n)
    w = rng.uniform(0.5, 2.0, n)
    return np.histogram(x, edges, weights=w)[0], np.histogram(x, edges, weights=w * w)[0]


def test_chi2_and_ks_agree_with_root(ROOT, tmp_path):
    rng = np.random.default_rng(31)
    edges = np.linspace(-4, 4, 41)
    new, ref = {}, {}
    for i, (n_new, n_ref, shift) in enumerate([(5000, 4000, 0.0), (20000, 20000, 0.03), (300, 900, 0.2),
                                               (20000, 5000, 0.1)]):
        new[f"u{i}"] = gaus_counts(rng, n_new, shift, edges=edges)
        ref[f"u{i}"] = gaus_counts(rng, n_ref, edges=edges)
        v1, s1 = _weighted(rng, edges, n_new, shift)
        v2, s2 = _weighted(rng, edges, n_ref)
        new[f"w{i}"] = weighted_th1(f"w{i}", v1, s1, edges)
        ref[f"w{i}"] = weighted_th1(f"w{i}", v2, s2, edges)
        new[f"h2_{i}"] = np.histogram2d(rng.normal(shift, 1, n_new), rng.normal(size=n_new), bins=(8, 6),
                                        range=((-3, 3), (-3, 3)))
        ref[f"h2_{i}"] = np.histogram2d(rng.normal(size=n_ref), rng.normal(size=n_ref), bins=(8, 6),
                                        range=((-3, 3), (-3, 3)))
    new_file, ref_file = write_root(tmp_path / "new.root", new), write_root(tmp_path / "ref.root", ref)
    summary = compare_paths(new_file, ref_file)
    f_new, f_ref = ROOT.TFile.Open(str(new_file)), ROOT.TFile.Open(str(ref_file))
    checked = 0
    for result in summary.results:
        h1, h2 = f_new.Get(result.name), f_ref.Get(result.name)
        chi2, ks = result.tests["chi2"], result.tests["ks"]
        option = chi2["method"]
        assert option == ("WW" if result.name.startswith("w") else "UU")
        assert chi2["chi2_ndf"] == pytest.approx(h1.Chi2Test(h2, f"{option} CHI2/NDF"), rel=1e-9)
        assert chi2["p"] == pytest.approx(h1.Chi2Test(h2, option), rel=1e-6, abs=1e-300)
        assert ks["distance"] == pytest.approx(h1.KolmogorovTest(h2, "M"), rel=1e-9)
        assert ks["p"] == pytest.approx(h1.KolmogorovTest(h2), rel=1e-6, abs=1e-300)
        checked += 1
    assert checked == 12
    f_new.Close()
    f_ref.Close()


def _dump(ROOT, path, name):
    """Every bin (flow included) of a histogram as ROOT sees it."""
    f = ROOT.TFile.Open(str(path))
    h = f.Get(name)
    assert h, f"{name} missing in {path}"
    cells = h.GetNcells()
    out = {
        "class": h.ClassName(),
        "content": np.array([h.GetBinContent(i) for i in range(cells)]),
        "error": np.array([h.GetBinError(i) for i in range(cells)]),
        "entries": h.GetEntries(),
        "sumw2": h.GetSumw2N(),
    }
    if h.InheritsFrom("TProfile"):
        out["bin_entries"] = np.array([h.GetBinEntries(i) for i in range(cells)])
    axis = h.GetXaxis()
    out["labels"] = [axis.GetBinLabel(i) for i in range(1, axis.GetNbins() + 1)]
    stats = np.zeros(13)
    h.GetStats(stats)
    out["stats"] = stats
    f.Close()
    return out


def test_merge_matches_root_tfilemerger(ROOT, tmp_path):
    rng = np.random.default_rng(8)
    edges = np.linspace(-4, 4, 21)
    inputs = []
    for i in range(3):
        v, s = _weighted(rng, edges, 1000 + 500 * i)
        inputs.append(write_root(tmp_path / f"in{i}.root", {
            "qa/plain": gaus_counts(rng, 2000 + 100 * i, edges=edges),
            "qa/weighted": weighted_th1("weighted", v, s, edges),
            "qa/h2": np.histogram2d(rng.normal(size=800), rng.normal(size=800), bins=(5, 4),
                                    range=((-2, 2), (-2, 2))),
            "prof": profile("prof", rng, 700, np.linspace(0, 10, 11)),
            "h3": (rng.integers(0, 5, (3, 2, 2)).astype(float), np.linspace(0, 3, 4), np.linspace(0, 1, 3),
                   np.linspace(0, 1, 3)),
            "labels": labelled_th1("labels", rng.integers(0, 9, 3), ["ok", "warn", "fail"]),
        }))
    ours = tmp_path / "relval.root"
    merge_files(inputs, ours)
    theirs = tmp_path / "root.root"
    merger = ROOT.TFileMerger(False)
    merger.OutputFile(str(theirs))
    for path in inputs:
        merger.AddFile(str(path))
    assert merger.Merge()
    for name in ("qa/plain", "qa/weighted", "qa/h2", "prof", "h3", "labels"):
        a, b = _dump(ROOT, ours, name), _dump(ROOT, theirs, name)
        assert a["class"] == b["class"]
        np.testing.assert_allclose(a["content"], b["content"], rtol=1e-12, atol=1e-12, err_msg=name)
        np.testing.assert_allclose(a["error"], b["error"], rtol=1e-12, atol=1e-12, err_msg=name)
        assert a["entries"] == pytest.approx(b["entries"], rel=1e-12)  # fsum vs a running sum: 1 ulp
        assert (a["sumw2"] > 0) == (b["sumw2"] > 0), name
        np.testing.assert_allclose(a["stats"], b["stats"], rtol=1e-12, atol=1e-9, err_msg=name)
        if "bin_entries" in b:
            np.testing.assert_array_equal(a["bin_entries"], b["bin_entries"])
        assert a["labels"] == b["labels"], name


def test_tlist_contents_are_compared(ROOT, tmp_path):
    """TList/TObjArray contents get full paths (uproot cannot write lists, so ROOT writes them)."""
    def make(path, shift):
        rng = np.random.default_rng(1)
        f = ROOT.TFile(str(path), "RECREATE")
        top = ROOT.TList()
        inner = ROOT.TList()
        inner.SetName("inner")
        h = ROOT.TH1D("hx", "", 50, -5, 5)
        g = ROOT.TH1D("same", "", 10, 0, 1)
        label = ROOT.TNamed("label", "not a histogram")
        for hist in (h, g):
            hist.SetDirectory(ROOT.nullptr)  # owned by Python, not by the file
        for x in rng.normal(shift, 1.0, 20000):
            h.Fill(x)
        g.Fill(0.5)
        inner.Add(h)
        top.Add(g)
        top.Add(inner)
        top.Add(label)  # every object stays referenced until written: lists do not own them
        top.Write("qa", ROOT.TObject.kSingleKey)
        f.Close()
    make(tmp_path / "new.root", 0.2)
    make(tmp_path / "ref.root", 0.0)
    results = {r.name: r for r in compare_paths(tmp_path / "new.root", tmp_path / "ref.root").results}
    assert set(results) == {"qa/same", "qa/inner/hx", "qa/label"}
    assert results["qa/inner/hx"].grade == "BAD"
    assert results["qa/same"].grade == "GOOD"
    assert results["qa/label"].grade == "NOT_COMPARED"
    # and a merge of the list contents keeps the same paths
    merge_files([tmp_path / "new.root"], tmp_path / "merged.root")
    again = {r.name: r.grade for r in compare_paths(tmp_path / "merged.root", tmp_path / "new.root").results}
    assert again == {"qa/same": "GOOD", "qa/inner/hx": "GOOD", "qa/label": "BAD"}
