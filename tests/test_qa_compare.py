"""`compare_paths` on ROOT files written by uproot: grades, special cases, inputs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from relval.errors import RelvalError
from relval.workflows.qa import compare_paths
from relval.workflows.qa.reader import _expand

from .qa_support import EDGES, gaus_counts, labelled_th1, profile, weighted_th1, write_root


def by_name(summary):
    return {r.name: r for r in summary.results}


@pytest.fixture
def rng():
    return np.random.default_rng(20261125)


def test_identical_inputs_are_all_good(tmp_path, rng):
    objects = {"a/gaus": gaus_counts(rng), "a/b/narrow": gaus_counts(rng, sigma=0.3),
               "h2": np.histogram2d(rng.normal(size=3000), rng.normal(size=3000), bins=(12, 8))}
    path = write_root(tmp_path / "same.root", objects)
    summary = compare_paths(path, path)
    assert summary.counts == {"GOOD": 3, "WARNING": 0, "BAD": 0, "NOT_COMPARED": 0}
    assert summary.verdict == "PASS" and summary.exit_code == 0
    for result in summary.results:
        assert result.tests["chi2"]["chi2"] == 0.0
        assert result.tests["ks"]["distance"] == 0.0
        assert result.tests["chi2"]["p"] == 1.0


def test_regressions_are_bad_and_same_distribution_is_not(tmp_path, rng):
    new = write_root(tmp_path / "new.root", {
        "shifted": gaus_counts(rng, mean=0.1), "broadened": gaus_counts(rng, sigma=1.1),
        "same": gaus_counts(rng), "fewer": gaus_counts(rng, n=14000)})
    ref = write_root(tmp_path / "ref.root", {
        "shifted": gaus_counts(rng), "broadened": gaus_counts(rng), "same": gaus_counts(rng),
        "fewer": gaus_counts(rng)})
    results = by_name(compare_paths(new, ref))
    assert results["shifted"].grade == "BAD"
    assert results["broadened"].grade == "BAD"
    assert results["broadened"].tests["chi2"]["grade"] == "BAD"
    assert results["same"].grade != "BAD"
    assert results["fewer"].grade == "BAD"
    assert results["fewer"].tests["entries"]["rel_diff"] == pytest.approx(0.3)
    assert "entries differ by 30.0%" in results["fewer"].reason


def test_missing_new_and_not_compared_objects_are_all_listed(tmp_path, rng):
    shared = gaus_counts(rng)
    new = write_root(tmp_path / "new.root", {"shared": shared, "extra/h": gaus_counts(rng),
                                             "note": "a TObjString"})
    ref = write_root(tmp_path / "ref.root", {"shared": shared, "gone": gaus_counts(rng),
                                             "note": "another TObjString"})
    summary = compare_paths(new, ref)
    results = by_name(summary)
    assert results["gone"].status == "missing" and results["gone"].grade == "BAD"
    assert results["extra/h"].status == "new" and results["extra/h"].grade == "BAD"
    assert results["note"].grade == "NOT_COMPARED" and "TObjString" in results["note"].reason
    assert summary.by_status == {"compared": 1, "missing": 1, "new": 1, "not_compared": 1}
    assert summary.counts["BAD"] == 2 and summary.verdict == "FAIL" and summary.exit_code == 1


def test_different_binning_is_bad_with_a_reason(tmp_path, rng):
    data = rng.normal(size=5000)
    new = write_root(tmp_path / "new.root", {"h": np.histogram(data, np.linspace(-5, 5, 51))})
    ref = write_root(tmp_path / "ref.root", {"h": np.histogram(data, np.linspace(-5, 5, 101))})
    result = by_name(compare_paths(new, ref))["h"]
    assert (result.grade, result.status) == ("BAD", "binning")
    assert "x: 50 bins [-5, 5]" in result.reason and "x: 100 bins [-5, 5]" in result.reason


def test_bin_labels_must_match(tmp_path):
    new = write_root(tmp_path / "new.root", {"same": labelled_th1("same", [5, 6, 7], ["a", "b", "c"]),
                                             "swapped": labelled_th1("swapped", [5, 6, 7], ["a", "c", "b"])})
    ref = write_root(tmp_path / "ref.root", {"same": labelled_th1("same", [5, 6, 7], ["a", "b", "c"]),
                                             "swapped": labelled_th1("swapped", [5, 6, 7], ["a", "b", "c"])})
    results = by_name(compare_paths(new, ref))
    assert results["same"].grade == "GOOD"
    assert (results["swapped"].grade, results["swapped"].status) == ("BAD", "binning")
    assert "bin labels differ" in results["swapped"].reason


def test_type_mismatch_is_bad(tmp_path, rng):
    new = write_root(tmp_path / "new.root", {"h": gaus_counts(rng), "s": gaus_counts(rng)})
    ref = write_root(tmp_path / "ref.root", {
        "h": np.histogram2d(rng.normal(size=100), rng.normal(size=100), bins=(10, 10)), "s": "text"})
    results = by_name(compare_paths(new, ref))
    assert results["h"].status == "type_mismatch" and results["h"].grade == "BAD"
    assert results["s"].status == "type_mismatch" and "TObjString" in results["s"].reason


def test_nan_and_inf_bins(tmp_path, rng):
    counts, edges = gaus_counts(rng)
    counts = counts.astype(float)
    with_nan = counts.copy()
    with_nan[10] = np.nan
    with_inf = counts.copy()
    with_inf[20] = np.inf
    new = write_root(tmp_path / "new.root", {"one_side": (with_nan, edges), "both": (with_nan, edges),
                                             "inf": (with_inf, edges)})
    ref = write_root(tmp_path / "ref.root", {"one_side": (counts, edges), "both": (with_nan, edges),
                                             "inf": (counts, edges)})
    results = by_name(compare_paths(new, ref))
    assert (results["one_side"].grade, results["one_side"].status) == ("BAD", "nonfinite")
    assert "new has 1" in results["one_side"].reason
    assert results["inf"].status == "nonfinite"
    both = results["both"]
    assert both.status == "compared" and "nonfinite" in both.flags
    assert both.grade == "WARNING"  # identical finite bins, but NaNs are worth a look
    assert both.tests["chi2"]["chi2"] == 0.0
    json.dumps([r.to_dict() for r in results.values()], allow_nan=False)


def test_empty_histograms(tmp_path, rng):
    empty = (np.zeros(100), EDGES)
    new = write_root(tmp_path / "new.root", {"both": empty, "new_empty": empty, "ref_empty": gaus_counts(rng)})
    ref = write_root(tmp_path / "ref.root", {"both": empty, "new_empty": gaus_counts(rng), "ref_empty": empty})
    results = by_name(compare_paths(new, ref))
    assert (results["both"].grade, results["both"].status, results["both"].flags) == ("GOOD", "empty", ["empty"])
    assert (results["new_empty"].grade, results["new_empty"].status) == ("BAD", "one_side_empty")
    assert results["new_empty"].reason.startswith("new is empty")
    assert results["ref_empty"].reason.startswith("reference is empty")


def test_profiles_compare_bin_means(tmp_path, rng):
    edges = np.linspace(0, 10, 21)
    new = write_root(tmp_path / "new.root", {"same": profile("same", rng, 20000, edges),
                                             "steeper": profile("steeper", rng, 20000, edges, slope=1.05)})
    ref = write_root(tmp_path / "ref.root", {"same": profile("same", rng, 20000, edges),
                                             "steeper": profile("steeper", rng, 20000, edges)})
    results = by_name(compare_paths(new, ref))
    assert results["same"].kind == "TProfile"
    assert results["same"].grade != "BAD"
    assert "ks" not in results["same"].tests and results["same"].tests["chi2"]["ndf"] == 20
    assert results["steeper"].grade == "BAD"


def test_weighted_histograms_use_sumw2(tmp_path, rng):
    edges = np.linspace(-5, 5, 51)
    def weighted(n, scale=1.0, mean=0.0):
        x = rng.normal(mean, 1.0, n)
        w = rng.uniform(0.5, 1.5, n) * scale
        return np.histogram(x, edges, weights=w)[0], np.histogram(x, edges, weights=w * w)[0]
    v1, s1 = weighted(20000, scale=3.0)  # only the normalization differs: shapes agree
    v2, s2 = weighted(20000)
    v3, s3 = weighted(20000, mean=0.15)
    new = write_root(tmp_path / "new.root", {"scaled": weighted_th1("scaled", v1, s1, edges, 20000),
                                             "moved": weighted_th1("moved", v3, s3, edges, 20000)})
    ref = write_root(tmp_path / "ref.root", {"scaled": weighted_th1("scaled", v2, s2, edges, 20000),
                                             "moved": weighted_th1("moved", v2, s2, edges, 20000)})
    results = by_name(compare_paths(new, ref))
    assert results["scaled"].tests["chi2"]["method"] == "WW"
    assert results["scaled"].grade != "BAD"
    # effective entries (sum w)^2 / sum w^2 are below the raw 20000 for non-unit weights
    assert results["scaled"].tests["ks"]["n_eff"] < 10000
    assert results["moved"].grade == "BAD"


def test_thresholds_file_overrides_per_glob(tmp_path, rng):
    new = write_root(tmp_path / "new.root", {"tpc/shifted": gaus_counts(rng, mean=0.1),
                                             "its/shifted": gaus_counts(rng, mean=0.1)})
    ref = write_root(tmp_path / "ref.root", {"tpc/shifted": gaus_counts(rng), "its/shifted": gaus_counts(rng)})
    limits = tmp_path / "thresholds.yaml"
    limits.write_text("overrides:\n  - match: 'tpc/*'\n    chi2: {warning: 0, bad: 0}\n"
                      "    ks: {enabled: false}\n")
    results = by_name(compare_paths(new, ref, thresholds=limits))
    assert results["tpc/shifted"].grade == "GOOD" and "ks" not in results["tpc/shifted"].tests
    assert results["its/shifted"].grade == "BAD"


def test_bad_thresholds_file_reports_every_problem(tmp_path, rng):
    path = write_root(tmp_path / "h.root", {"h": gaus_counts(rng)})
    limits = tmp_path / "thresholds.yaml"
    limits.write_text("tests:\n  chi2: {warning: 0.001, bad: 0.01}\n  kss: {}\n"
                      "overrides:\n  - chi2: {bad: 2}\n")
    with pytest.raises(RelvalError) as caught:
        compare_paths(path, path, thresholds=limits)
    text = "\n".join(caught.value.problems)
    assert "tests.chi2 bad (0.01) must be <= warning" in text
    assert "tests.kss is not a known key (did you mean 'ks'?)" in text
    assert "overrides[0].match is required" in text
    assert "overrides[0].chi2.bad must be <= 1" in text
    assert caught.value.exit_code == 2


def test_directories_match_by_relative_path(tmp_path, rng):
    same = gaus_counts(rng)
    (tmp_path / "new" / "sub").mkdir(parents=True)
    (tmp_path / "ref" / "sub").mkdir(parents=True)
    write_root(tmp_path / "new" / "sub" / "qa.root", {"h": same})
    write_root(tmp_path / "ref" / "sub" / "qa.root", {"h": same})
    write_root(tmp_path / "ref" / "only_ref.root", {"x": same, "y": same})
    write_root(tmp_path / "new" / "empty_new.root", {})
    summary = compare_paths(tmp_path / "new", tmp_path / "ref")
    results = by_name(summary)
    assert results["sub/qa.root:h"].grade == "GOOD" and results["sub/qa.root:h"].file == "sub/qa.root"
    # a file the new release did not produce: one row, and no verdict (test_qa_no_verdict.py)
    assert results["only_ref.root"].status == "missing_file"
    assert summary.no_verdict == ["only_ref.root: only in REF, the new release did not produce it"]
    assert results["empty_new.root"].status == "new"  # a one-sided file with no objects is still listed


def test_input_errors_are_one_line_each(tmp_path, rng):
    good = write_root(tmp_path / "good.root", {"h": gaus_counts(rng)})
    text = tmp_path / "notes.root"
    text.write_text("not a ROOT file\n")
    with pytest.raises(RelvalError) as caught:
        compare_paths(tmp_path / "nope.root", tmp_path / "nope2.root")
    assert len(caught.value.problems) == 2 and "nope.root: no such file" in caught.value.problems[0]
    with pytest.raises(RelvalError) as caught:
        compare_paths(text, good)
    assert len(caught.value.problems) == 1
    assert caught.value.problems[0].startswith(f"{text}: not a ROOT file")
    with pytest.raises(RelvalError, match="both be files or both be directories"):
        compare_paths(good, tmp_path)


class _Fake:
    """Stands in for uproot's TList elements (uproot cannot write a TList)."""

    def __init__(self, name, classname, children=()):
        self.name, self.classname, self.children = name, classname, list(children)

    def member(self, key):
        assert key == "fName"
        return self.name

    def __iter__(self):
        return iter(self.children)


def test_collections_are_expanded_with_full_paths():
    tree = [_Fake("h1", "TH1F"), _Fake("inner", "TList", [_Fake("p", "TProfile"), _Fake("p", "TProfile")]),
            _Fake("", "TNamed")]
    out = {}
    _expand("dir/qa", tree, out)
    assert sorted(out) == ["dir/qa/[2]", "dir/qa/h1", "dir/qa/inner/p", "dir/qa/inner/p[1]"]
    assert out["dir/qa/h1"].classname == "TH1F" and out["dir/qa/h1"].load() is tree[0]
