"""`merge_files`: hadd-like sums of contents, sumw2 and statistics, order-independent."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import uproot

from relval.errors import RelvalError
from relval.workflows.qa import compare_paths, merge_files

from .qa_support import gaus_counts, labelled_th1, profile, weighted_th1, write_root

EDGES = np.linspace(-3, 3, 31)


@pytest.fixture
def rng():
    return np.random.default_rng(11)


def test_counts_and_stats_add_up(tmp_path, rng):
    samples = [rng.normal(size=n) for n in (1000, 2500, 400)]
    inputs = [write_root(tmp_path / f"in{i}.root", {
        "dir/h": np.histogram(s, EDGES),
        "h2": np.histogram2d(s, s * 0.5, bins=(6, 4), range=((-3, 3), (-2, 2))),
        "h3": (np.histogramdd(np.stack([s, -s, s * s], 1), bins=(3, 2, 2))[0],
               np.linspace(-3, 3, 4), np.linspace(-3, 3, 3), np.linspace(0, 9, 3)),
        "note": "skipped"}) for i, s in enumerate(samples)]
    result = merge_files(inputs, tmp_path / "out.root")
    assert sorted(result.merged) == ["dir/h", "h2", "h3"]
    assert result.skipped == [("note", "TObjString")]
    with uproot.open(tmp_path / "out.root") as merged:
        everything = np.concatenate(samples)
        h = merged["dir/h"]
        assert np.array_equal(h.values(), np.histogram(everything, EDGES)[0])
        sources = [uproot.open(p)["dir/h"] for p in inputs]
        assert h.member("fEntries") == sum(s.member("fEntries") for s in sources) > 3800
        assert h.member("fTsumwx") == pytest.approx(sum(s.member("fTsumwx") for s in sources))
        assert np.array_equal(h.values(flow=True), sum(s.values(flow=True) for s in sources))
        h2 = merged["h2"]
        expected2 = np.histogram2d(everything, everything * 0.5, bins=(6, 4), range=((-3, 3), (-2, 2)))[0]
        assert np.array_equal(h2.values(), expected2)
        h3_sources = [uproot.open(p)["h3"].values() for p in inputs]
        assert merged["h3"].classname == "TH3D"
        assert np.array_equal(merged["h3"].values(), sum(h3_sources))
        assert len(h.member("fSumw2")) == 0  # unweighted stays unweighted, as hadd does
    # and the merged file compares GOOD with the histogram of all the data
    direct = write_root(tmp_path / "direct.root", {"dir/h": np.histogram(everything, EDGES)})
    assert compare_paths(tmp_path / "out.root", direct).counts["GOOD"] == 1


def test_sumw2_is_summed_and_unweighted_inputs_contribute_their_contents(tmp_path, rng):
    values_a, sumw2_a = rng.uniform(1, 5, 30), rng.uniform(1, 9, 30)
    values_b = rng.integers(0, 10, 30).astype(float)
    a = write_root(tmp_path / "a.root", {"w": weighted_th1("w", values_a, sumw2_a, EDGES)})
    b = write_root(tmp_path / "b.root", {"w": (values_b, EDGES)})  # no sumw2 stored
    merge_files([a, b], tmp_path / "out.root")
    with uproot.open(tmp_path / "out.root") as merged:
        w = merged["w"]
        np.testing.assert_allclose(w.values(), values_a + values_b, rtol=1e-12)
        np.testing.assert_allclose(w.variances(), sumw2_a + values_b, rtol=1e-12)
        np.testing.assert_allclose(w.errors(), np.sqrt(sumw2_a + values_b), rtol=1e-12)


def test_profiles_merge_their_bin_entries(tmp_path, rng):
    edges = np.linspace(0, 10, 11)
    a = write_root(tmp_path / "a.root", {"p": profile("p", rng, 500, edges)})
    b = write_root(tmp_path / "b.root", {"p": profile("p", rng, 300, edges, slope=2.0)})
    merge_files([a, b], tmp_path / "out.root")
    with uproot.open(a) as fa, uproot.open(b) as fb, uproot.open(tmp_path / "out.root") as fm:
        pa, pb, pm = fa["p"], fb["p"], fm["p"]
        assert np.array_equal(pm.counts(), pa.counts() + pb.counts())
        means = (pa.values() * pa.counts() + pb.values() * pb.counts()) / (pa.counts() + pb.counts())
        np.testing.assert_allclose(pm.values(), means, rtol=1e-12)
        assert pm.member("fEntries") == 800


def test_merging_is_order_independent(tmp_path, rng):
    inputs = []
    for i in range(4):
        values = rng.uniform(0, 1, 30) * 10.0 ** rng.integers(-3, 4)
        inputs.append(write_root(tmp_path / f"w{i}.root", {
            "w": weighted_th1("w", values, values * rng.uniform(0.1, 3, 30), EDGES),
            "g": gaus_counts(rng, n=100, edges=EDGES)}))
    outputs = []
    for number, order in enumerate(itertools.permutations(inputs)):
        if number % 5:  # 5 of the 24 orders are plenty
            continue
        target = tmp_path / f"out{number}.root"
        merge_files(list(order), target)
        with uproot.open(target) as merged:
            outputs.append((merged["w"].values(flow=True), merged["w"].variances(flow=True),
                            merged["w"].member("fTsumwx"), merged["g"].values(flow=True)))
    for other in outputs[1:]:
        for first, second in zip(outputs[0], other):
            assert np.array_equal(first, second)  # bit for bit


def test_incompatible_inputs_are_reported_together(tmp_path, rng):
    a = write_root(tmp_path / "a.root", {"h": gaus_counts(rng, edges=EDGES), "k": gaus_counts(rng, edges=EDGES)})
    b = write_root(tmp_path / "b.root", {"h": gaus_counts(rng, edges=np.linspace(-3, 3, 61)),
                                         "k": np.histogram2d([0.0], [0.0], bins=(2, 2))})
    with pytest.raises(RelvalError) as caught:
        merge_files([a, b], tmp_path / "out.root")
    assert caught.value.problems == [f"h: binning or bin labels in {b} differ from {a}",
                                     f"k: cannot merge TH2D from {b} with TH1D from {a}"]
    assert not (tmp_path / "out.root").exists()
    with pytest.raises(RelvalError, match="nope.root: no such file"):
        merge_files([a, tmp_path / "nope.root"], tmp_path / "out.root")
    with pytest.raises(RelvalError, match="the output is also an input"):
        merge_files([a, b], a)


def test_histograms_present_in_some_inputs_only_are_kept(tmp_path, rng):
    a = write_root(tmp_path / "a.root", {"both": gaus_counts(rng, edges=EDGES), "only_a": gaus_counts(rng)})
    b = write_root(tmp_path / "b.root", {"both": gaus_counts(rng, edges=EDGES)})
    merge_files([a, b], tmp_path / "out.root")
    with uproot.open(tmp_path / "out.root") as merged, uproot.open(a) as fa:
        assert np.array_equal(merged["only_a"].values(), fa["only_a"].values())


def test_bin_labels_are_kept_and_must_agree(tmp_path):
    a = write_root(tmp_path / "a.root", {"l": labelled_th1("l", [1, 2, 3], ["ok", "warn", "fail"])})
    b = write_root(tmp_path / "b.root", {"l": labelled_th1("l", [4, 5, 6], ["ok", "warn", "fail"])})
    c = write_root(tmp_path / "c.root", {"l": labelled_th1("l", [4, 5, 6], ["ok", "fail", "warn"])})
    merge_files([a, b], tmp_path / "out.root")
    with uproot.open(tmp_path / "out.root") as merged:
        h = merged["l"]
        assert h.values().tolist() == [5, 7, 9]
        assert [str(x) for x in h.axis().labels()] == ["ok", "warn", "fail"]
    with pytest.raises(RelvalError, match="bin labels"):
        merge_files([a, c], tmp_path / "bad.root")
