"""Underflow/overflow take part in the tests, and TH3 is compared; files written by ROOT."""

from __future__ import annotations

import pytest

from relval.workflows.qa import compare_paths

from .root_files import needs_root, root_build, root_write  # noqa: F401 - fixture

pytestmark = [pytest.mark.root, needs_root]


def _h(name, n=20000, **extra):
    return {"kind": "th1", "name": name, "bins": [50, -3, 3], "n": n, **extra}


@pytest.fixture(scope="module")
def files(tmp_path_factory, root_build):
    base = tmp_path_factory.mktemp("flow")
    new, ref = base / "new.root", base / "ref.root"
    root_write(root_build, {
        new: [_h("only_overflow", overflow=1.0, seed=1), _h("moved_10pc", overflow=0.10, seed=2),
              _h("same", seed=3), _h("both_overflow", overflow=1.0, seed=4),
              {"kind": "th3", "name": "h3_shifted", "bins": [6, -3, 3], "n": 20000, "mean": 0.2, "seed": 5},
              {"kind": "th3", "name": "h3_same", "bins": [6, -3, 3], "n": 20000, "seed": 6}],
        ref: [_h("only_overflow", n=0, seed=11), _h("moved_10pc", seed=12), _h("same", seed=13),
              _h("both_overflow", overflow=1.0, seed=4),
              {"kind": "th3", "name": "h3_shifted", "bins": [6, -3, 3], "n": 20000, "seed": 15},
              {"kind": "th3", "name": "h3_same", "bins": [6, -3, 3], "n": 20000, "seed": 16}],
    })
    return new, ref


@pytest.fixture(scope="module")
def results(files):
    return {r.name: r for r in compare_paths(*files).results}


def test_entries_only_in_overflow_are_not_empty(results):
    result = results["only_overflow"]
    assert result.grade == "BAD" and result.status == "one_side_empty"
    assert "20000" in result.reason


def test_identical_overflow_only_histograms_are_compared(results):
    result = results["both_overflow"]
    assert result.grade == "GOOD" and result.status == "compared"


def test_ten_percent_moved_into_overflow_is_caught(results):
    result = results["moved_10pc"]
    assert result.grade in ("WARNING", "BAD")
    assert result.tests["chi2"]["p"] < 1e-6  # 2,000 entries in a bin that the reference has empty


def test_same_distribution_stays_good(results):
    assert results["same"].grade != "BAD"


def test_th3_is_compared(results):
    assert results["h3_shifted"].kind == "TH3" and results["h3_shifted"].grade == "BAD"
    assert results["h3_same"].status == "compared" and results["h3_same"].grade != "BAD"


def test_statistics_with_flow_agree_with_root(files, results):
    """relval's chi2/KS with flow bins are ROOT's Chi2Test "UF OF" and KolmogorovTest "UO"."""
    ROOT = pytest.importorskip("ROOT")
    ROOT.gErrorIgnoreLevel = ROOT.kWarning
    f_new, f_ref = ROOT.TFile.Open(str(files[0])), ROOT.TFile.Open(str(files[1]))
    for name in ("moved_10pc", "same"):
        h1, h2 = f_new.Get(name), f_ref.Get(name)
        chi2, ks = results[name].tests["chi2"], results[name].tests["ks"]
        assert chi2["chi2_ndf"] == pytest.approx(h1.Chi2Test(h2, "UU UF OF CHI2/NDF"), rel=1e-9)
        assert chi2["p"] == pytest.approx(h1.Chi2Test(h2, "UU UF OF"), rel=1e-6, abs=1e-300)
        assert ks["distance"] == pytest.approx(h1.KolmogorovTest(h2, "UO M"), rel=1e-9)
    f_new.Close()
    f_ref.Close()


def test_th3_regressions_get_a_plot(files, tmp_path):
    summary = compare_paths(*files, out_dir=tmp_path / "out", grid=False)
    plotted = {r.name: r.plot for r in summary.results}
    assert plotted["h3_shifted"] and (tmp_path / "out" / plotted["h3_shifted"]).is_file()
