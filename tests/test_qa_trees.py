"""TTree columns (AO2D-like tables) and TEfficiency, in files written by ROOT; column binning logic."""

from __future__ import annotations

import numpy as np
import pytest

from relval.workflows.qa import compare_paths, trees
from relval.workflows.qa.grading import grade_pair
from relval.workflows.qa.thresholds import load_thresholds

from .root_files import needs_root, root_build, root_write  # noqa: F401 - fixture

COLUMNS = {"fPt": {"type": "F", "mean": 1.0, "sigma": 0.5}, "fEta": {"type": "F"},
           "fSign": {"type": "I", "mean": 2.0}, "fCov": {"type": "F", "size": 3}, "fFlag": {"type": "O"},
           "fX": {"type": "D", "mean": 10.0, "sigma": 2.0}}


def _table(df: int, seed: int, rows: int = 3000, **changed) -> dict:
    columns = {name: {**spec, **changed.get(name, {})} for name, spec in COLUMNS.items()}
    return {"kind": "tree", "name": "O2track", "dir": f"DF_{df}", "rows": rows, "seed": seed,
            "columns": columns}


def _eff(name: str, eff: float, seed: int) -> dict:
    return {"kind": "eff", "name": name, "bins": [10, 0.0, 10.0], "n": 20000, "eff": eff, "seed": seed}


@pytest.fixture(scope="module")
def files(tmp_path_factory, root_build):
    pytest.importorskip("ROOT")
    base = tmp_path_factory.mktemp("trees")
    paths = {name: base / f"{name}.root" for name in ("ref", "same", "redrawn", "shifted", "fewer", "eff_new")}
    root_write(root_build, {
        # the reference's time frames are numbered differently from the new productions'
        paths["ref"]: [_table(1, 1), _table(2, 2)],
        paths["same"]: [_table(1, 1), _table(2, 2)],
        paths["redrawn"]: [_table(7, 11), _table(8, 12)],
        paths["shifted"]: [_table(7, 21, fEta={"mean": 0.2}), _table(8, 22, fEta={"mean": 0.2})],
        paths["fewer"]: [_table(7, 31), _table(8, 32, rows=1500)],
        base / "eff_ref.root": [_eff("drop", 0.8, 1), _eff("stable", 0.8, 2),
                                {"kind": "qc", "dir": "int/GLO", "task": "Eff", "detector": "GLO",
                                 "objects": [_eff("qc_drop", 0.8, 3)]}],
        paths["eff_new"]: [_eff("drop", 0.7, 11), _eff("stable", 0.8, 12),
                           {"kind": "qc", "dir": "int/GLO", "task": "Eff", "detector": "GLO",
                            "objects": [_eff("qc_drop", 0.7, 13)]}],
    })
    paths["eff_ref"] = base / "eff_ref.root"
    return paths


def _grades(files, new, ref="ref"):
    summary = compare_paths(files[new], files[ref])
    return summary, {r.name: r for r in summary.results}


@needs_root
def test_every_numeric_column_is_compared_over_all_time_frames(files):
    summary, results = _grades(files, "same")
    assert sorted(results) == ["DF_*/O2track/fCov[0]", "DF_*/O2track/fCov[1]", "DF_*/O2track/fCov[2]",
                               "DF_*/O2track/fEta", "DF_*/O2track/fFlag", "DF_*/O2track/fPt",
                               "DF_*/O2track/fSign", "DF_*/O2track/fX"]
    assert all(r.grade == "GOOD" and r.status == "compared" for r in results.values())
    assert results["DF_*/O2track/fPt"].tests["entries"]["new"] == 6000
    assert summary.verdict == "PASS"


@needs_root
def test_a_column_shifted_by_a_fifth_of_sigma_is_bad(files):
    summary, results = _grades(files, "shifted")
    assert results["DF_*/O2track/fEta"].grade == "BAD"
    assert [n for n, r in results.items() if r.grade == "BAD"] == ["DF_*/O2track/fEta"]
    assert summary.exit_code == 1


@needs_root
def test_same_distribution_tables_are_not_bad(files):
    _, results = _grades(files, "redrawn")
    assert all(r.grade != "BAD" for r in results.values()), {n: r.reason for n, r in results.items()}


@needs_root
def test_fewer_rows_fail_the_entries_test(files):
    _, results = _grades(files, "fewer")
    assert results["DF_*/O2track/fPt"].tests["entries"]["grade"] == "BAD"  # 4500 vs 6000 rows


@needs_root
def test_an_efficiency_drop_is_bad_and_a_stable_one_is_not(files):
    summary, results = _grades(files, "eff_new", "eff_ref")
    drop = results["drop"]
    assert drop.grade == "BAD" and drop.kind == "TEfficiency"
    assert drop.tests["efficiency"]["grade"] == "BAD"
    assert drop.tests["efficiency"]["mean_new"] == pytest.approx(0.7, abs=0.02)
    assert drop.tests["total_chi2"]["grade"] != "BAD"  # the totals agree: it is the efficiency
    assert results["stable"].grade != "BAD"
    assert results["int/GLO/Eff/qc_drop"].grade == "BAD"  # inside a MonitorObject too


# --- the column logic itself ------------------------------------------------------------

def test_binning_comes_from_the_reference_and_ignores_outliers():
    rng = np.random.default_rng(5)
    ref = np.append(rng.normal(0, 1, 100_000), [1e9, -1e9])
    edges = trees.binning(ref, rng.normal(5, 1, 1000))
    assert -4.5 < edges[0] < -2.5 and 2.5 < edges[-1] < 4.5
    assert len(edges) == 101


def test_small_integer_columns_get_one_bin_per_value():
    edges = trees.binning(np.array([0, 1, 1, 2, 5], dtype=np.int32), np.array([], dtype=np.int32))
    np.testing.assert_array_equal(edges, np.arange(-0.5, 6.0))


def test_flow_and_nan_values_are_counted():
    edges = np.linspace(0, 1, 11)
    counts = trees.fill(np.array([-1.0, 0.05, 0.5, 0.99, 1.0, 7.0, np.nan]), edges)
    assert counts[0] == 1 and counts[-2] == 2 and counts[-1] == 1  # under, over (1.0 and 7.0), NaN
    assert counts.sum() == 7


def test_a_column_that_turns_nan_is_bad():
    rng = np.random.default_rng(9)
    ref = rng.normal(0, 1, 20000)
    new = ref.copy()
    new[:2000] = np.nan
    h_new, h_ref = trees.column_hists(new, ref)
    assert grade_pair("c", h_new, h_ref, load_thresholds(None).for_name("c")).grade == "BAD"


def test_no_false_bad_in_1000_same_distribution_column_pairs():
    rng = np.random.default_rng(2026)
    settings = load_thresholds(None).for_name("c")
    bad = 0
    for i in range(1000):
        if i % 2:
            new, ref = rng.normal(0, 1, 20000), rng.normal(0, 1, 20000)
        else:
            new, ref = rng.poisson(3.0, 5000).astype(np.int32), rng.poisson(3.0, 5000).astype(np.int32)
        h_new, h_ref = trees.column_hists(new, ref)
        bad += grade_pair("c", h_new, h_ref, settings).grade == "BAD"
    assert bad == 0
