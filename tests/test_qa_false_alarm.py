"""False alarms: independent samples of the same distribution must rarely be flagged.

Design (see relval.workflows.qa.thresholds): each shape test flags WARNING at
p < 0.01 and BAD at p < 1e-6. chi2 is calibrated to its nominal rate; the
binned KS p-value is conservative, so a histogram (worst of the tests) is
flagged in 1% to 2% of same-distribution pairs, and BAD essentially never.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from relval.workflows.qa import compare_paths
from relval.workflows.qa.checks import chi2_test, ks_test
from relval.workflows.qa.hist import from_arrays

from .qa_support import EDGES, gaus_counts, write_root

DRAWS = 200


def binomial_upper(n: int, p: float, tail: float = 1e-3) -> int:
    """Smallest k with P(X > k) < tail for X ~ Binomial(n, p)."""
    cdf, k = 0.0, 0
    while True:
        cdf += math.comb(n, k) * p ** k * (1 - p) ** (n - k)
        if 1 - cdf < tail:
            return k
        k += 1


def binomial_lower(n: int, p: float, tail: float = 1e-3) -> int:
    """Largest k with P(X < k) < tail."""
    cdf, k = 0.0, 0
    while cdf + math.comb(n, k) * p ** k * (1 - p) ** (n - k) < tail:
        cdf += math.comb(n, k) * p ** k * (1 - p) ** (n - k)
        k += 1
    return k


def test_200_same_distribution_pairs_through_root_files(tmp_path):
    rng = np.random.default_rng(404)
    new = write_root(tmp_path / "new.root", {f"pair{i:03d}": gaus_counts(rng) for i in range(DRAWS)})
    ref = write_root(tmp_path / "ref.root", {f"pair{i:03d}": gaus_counts(rng) for i in range(DRAWS)})
    summary = compare_paths(new, ref)
    counts = summary.counts
    assert sum(counts.values()) == DRAWS
    assert counts["BAD"] <= DRAWS // 100  # at most 1% false BAD (design: ~0)
    # Flagged (WARNING or worse) at the design rate of 1-2%: within the binomial 99.9% band.
    flagged = counts["WARNING"] + counts["BAD"]
    assert flagged <= binomial_upper(DRAWS, 0.02)
    # The tests did run on every pair and their p-values are spread as under the null.
    p_values = np.array([r.tests["chi2"]["p"] for r in summary.results])
    assert 0.35 < np.mean(p_values) < 0.65
    assert 0.05 < np.mean(p_values < 0.1) < 0.16


@pytest.mark.parametrize("label, n, edges, cdf", [
    ("gaus 20k, 50 bins", 20000, np.linspace(-3, 3, 51), lambda x: 0.5 * math.erfc(-x / math.sqrt(2))),
    ("gaus 20k, 100 bins, sparse tails", 20000, EDGES, lambda x: 0.5 * math.erfc(-x / math.sqrt(2))),
    ("exponential 20k, 50 bins", 20000, np.linspace(0, 5, 51), lambda x: 1 - math.exp(-x)),
    ("gaus 500, 30 bins", 500, np.linspace(-3, 3, 31), lambda x: 0.5 * math.erfc(-x / math.sqrt(2))),
])
def test_per_test_rates_match_the_design(label, n, edges, cdf):
    """4000 multinomial pairs per case: chi2 at ~1%, KS at most 1%, worst-of in 1-2%."""
    rng = np.random.default_rng(99)
    c = np.array([cdf(e) for e in edges])
    probs = np.diff(c) / (c[-1] - c[0])
    draws = 4000
    chi2_p, ks_p = np.empty(draws), np.empty(draws)
    for i in range(draws):
        a = from_arrays(rng.multinomial(n, probs), edges)
        b = from_arrays(rng.multinomial(n, probs), edges)
        chi2_p[i], ks_p[i] = chi2_test(a, b)["p"], ks_test(a, b)["p"]
    chi2_flags = int(np.sum(chi2_p < 0.01))
    ks_flags = int(np.sum(ks_p < 0.01))
    either = int(np.sum((chi2_p < 0.01) | (ks_p < 0.01)))
    assert binomial_lower(draws, 0.01) <= chi2_flags <= binomial_upper(draws, 0.01), label
    assert ks_flags <= binomial_upper(draws, 0.01), label
    assert binomial_lower(draws, 0.01) <= either <= binomial_upper(draws, 0.02), label
    assert int(np.sum((chi2_p < 1e-6) | (ks_p < 1e-6))) == 0, label


def test_a_fixed_ks_distance_cut_would_not_do():
    """The peer's failure mode: a fixed cut on D flags many identical pairs; our p-value does not."""
    rng = np.random.default_rng(7)
    probs = np.diff([0.5 * math.erfc(-x / math.sqrt(2)) for x in EDGES])
    probs = probs / probs.sum()
    distances, p_values = [], []
    for _ in range(400):
        a = from_arrays(rng.multinomial(20000, probs), EDGES)
        b = from_arrays(rng.multinomial(20000, probs), EDGES)
        result = ks_test(a, b)
        distances.append(result["distance"])
        p_values.append(result["p"])
    # D scales as 1/sqrt(n_eff): the median identical-pair distance at 20k entries is ~0.008,
    # so any cut below that fires on about half of them.
    assert 0.005 < np.median(distances) < 0.012
    assert np.mean(np.array(p_values) < 1e-6) == 0.0
