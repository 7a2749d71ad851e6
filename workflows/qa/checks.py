"""The four statistical tests on a pair of histograms with the same binning.

Each function takes two `Hist`s (new, reference) that the caller already
checked for equal binning, non-emptiness and finite bins, and returns a dict
of plain floats for Summary.json. Grading against thresholds is elsewhere.

chi2 (shape): both histograms are normalized to unit area and compared bin by
bin with their own errors. Written on raw contents n1, n2 with totals N1, N2:

- unweighted pair (no sumw2 stored): the pooled form, which is ROOT's "UU",
  chi2 = sum_i (N2 n1_i - N1 n2_i)^2 / (n1_i + n2_i) / (N1 N2), over bins with
  n1_i + n2_i > 0; the bin variance is estimated from both samples together,
  so a bin empty on one side is still handled correctly;
- weighted (sumw2 stored on either side): ROOT's "WW" form,
  chi2 = sum_i (N2 n1_i - N1 n2_i)^2 / (N2^2 s1_i^2 + N1^2 s2_i^2), with the
  sumw2 errors, over bins with a non-zero error.

ndf is the number of bins used minus one (the normalization constraint). Under
the null hypothesis chi2 follows the chi-square distribution with ndf degrees of
freedom, and the p-value is its survival function. Profiles compare bin means,
chi2 = sum (m1 - m2)^2 / (e1^2 + e2^2) over bins filled on both sides, ndf = bins.

KS (cumulative shape): D = max |F1 - F2| over the bin edges of the normalized
cumulative distributions. Its p-value uses the Kolmogorov distribution of
sqrt(n_eff) D with n_eff = N1' N2' / (N1' + N2'), where N' = (sum w)^2 / sum w^2 is
each side's effective number of entries (the plain entries when unweighted).
This is what ROOT's KolmogorovTest returns. On binned data the maximum is taken
over fewer points than for unbinned data, so the p-value is conservative (the
real false-alarm rate is at or below the nominal one), never liberal; grading on
this p-value is what keeps the KS false alarms at the design rate, unlike a fixed
threshold on D, which ignores the sample size. 2D histograms are unrolled in both
orders (x fastest, y fastest) and D is the mean of the two distances, as ROOT's
TH2::KolmogorovTest does; the mean is never larger than either distance, so its
p-value from the same Kolmogorov law stays conservative.

width (Mood's two-sample rank test of dispersion, on binned data): pool both
samples, give every entry the score (rank - (N+1)/2)^2 (how far from the pooled
middle it lies; entries of one bin share their ranks, so a bin's score is the mean
over its ranks), and compare the new sample's score sum T with its law when the
labels new/reference are exchangeable, i.e. both samples come from one
distribution, whatever that distribution is. That law (drawing n1 of the pooled
entries without replacement) has an exact mean, variance and third moment
(`mood_moments`); the p-value is that of a Pearson type III curve with those
moments, since a plain normal tail is far too small when the samples are
unbalanced and the spread sits in few entries. Chi2 and KS are omnibus tests and
weak against a change of width: a 5% wider peak at 20,000 entries was BAD in 2 of
50 pairs; this test makes it BAD in most (benchmarks/qa_sensitivity.py). 2D and 3D
histograms are tested on each axis projection, the smallest p-value times the
number of axes (Bonferroni). Weighted histograms count their effective entries.

entries: |entries_new - entries_ref| / entries_ref, from the stored fEntries.
"""

from __future__ import annotations

import math

import numpy as np

from relval.workflows.qa.hist import Hist
from relval.workflows.qa.special import chi2_sf, kolmogorov_sf, pearson3_two_sided


def chi2_test(new: Hist, ref: Hist, keep: np.ndarray | None = None) -> dict:
    """Shape chi2 of two histograms (or profile means); `keep` masks usable bins."""
    keep = np.ones(new.values.shape, bool) if keep is None else keep
    if new.is_profile:
        return _profile_chi2(new, ref, keep)
    n1, n2 = new.values[keep].ravel(), ref.values[keep].ravel()
    big1, big2 = float(n1.sum()), float(n2.sum())
    if new.weighted or ref.weighted:
        s1, s2 = new.variances[keep].ravel(), ref.variances[keep].ravel()
        used = (s1 + s2) > 0
        sigma = big2 * big2 * s1[used] + big1 * big1 * s2[used]
        delta = big2 * n1[used] - big1 * n2[used]
        chi2 = float(np.sum(delta * delta / sigma))
        method = "WW"
    else:
        total = n1 + n2
        used = total > 0
        delta = big2 * n1[used] - big1 * n2[used]
        chi2 = float(np.sum(delta * delta / total[used]) / (big1 * big2))
        method = "UU"
    ndf = int(np.count_nonzero(used)) - 1
    return _chi2_result(chi2, ndf, method)


def _profile_chi2(new: Hist, ref: Hist, keep: np.ndarray) -> dict:
    e1 = new.bin_entries if new.bin_entries is not None else np.ones_like(new.values)
    e2 = ref.bin_entries if ref.bin_entries is not None else np.ones_like(ref.values)
    var = new.variances + ref.variances
    used = keep & (e1 > 0) & (e2 > 0) & (var > 0)
    delta = new.values[used] - ref.values[used]
    chi2 = float(np.sum(delta * delta / var[used]))
    return _chi2_result(chi2, int(np.count_nonzero(used)), "profile")


def _chi2_result(chi2: float, ndf: int, method: str) -> dict:
    ndf = max(ndf, 0)
    return {
        "chi2": chi2,
        "ndf": ndf,
        "chi2_ndf": chi2 / ndf if ndf > 0 else 0.0,
        "p": chi2_sf(chi2, ndf),
        "method": method,
    }


def effective_entries(h: Hist, keep: np.ndarray | None = None) -> float:
    """(sum w)^2 / sum w^2 over the usable bins; equals the entries when unweighted."""
    keep = np.ones(h.values.shape, bool) if keep is None else keep
    total = float(np.sum(h.values[keep]))
    if not h.weighted:
        return total
    sumw2 = float(np.sum(h.variances[keep]))
    return total * total / sumw2 if sumw2 > 0 else 0.0


def _max_cumulative_distance(a: np.ndarray, b: np.ndarray) -> float:
    ca = np.cumsum(a) / a.sum()
    cb = np.cumsum(b) / b.sum()
    return float(np.max(np.abs(ca - cb))) if ca.size else 0.0


def ks_test(new: Hist, ref: Hist, keep: np.ndarray | None = None) -> dict:
    """Binned Kolmogorov-Smirnov distance and its (conservative) p-value."""
    keep = np.ones(new.values.shape, bool) if keep is None else keep
    v1 = np.where(keep, new.values, 0.0)
    v2 = np.where(keep, ref.values, 0.0)
    distance = _max_cumulative_distance(v1.ravel(order="C"), v2.ravel(order="C"))
    if new.ndim == 2:
        other = _max_cumulative_distance(v1.ravel(order="F"), v2.ravel(order="F"))
        distance = 0.5 * (distance + other)
    n1, n2 = effective_entries(new, keep), effective_entries(ref, keep)
    n_eff = n1 * n2 / (n1 + n2) if n1 > 0 and n2 > 0 else 0.0
    z = distance * math.sqrt(n_eff)
    return {
        "distance": distance,
        "n_eff": n_eff,
        "p": kolmogorov_sf(z),
    }


def mood_scores(pooled: np.ndarray) -> np.ndarray:
    """Mean Mood score per bin, in units of N^2: bin j holds the pooled ranks B_(j-1)+1 .. B_j,
    and the mean of (r - (N+1)/2)^2 over them is (B_(j-1) + l_j/2 - N/2)^2 + (l_j^2 - 1)/12."""
    total = float(pooled.sum())
    before = np.cumsum(pooled) - pooled
    centre = (before + pooled / 2.0) / total - 0.5
    spread = np.maximum(pooled * pooled - 1.0, 0.0) / (12.0 * total * total)
    return np.where(pooled > 0, centre * centre + spread, 0.0)


def mood_moments(pooled: np.ndarray, n1: float, scores: np.ndarray | None = None) -> tuple[float, float, float]:
    """Mean, variance and third central moment of T = the scores of n1 entries drawn without
    replacement from the pooled ones (the null law of the new sample's score sum)."""
    scores = mood_scores(pooled) if scores is None else scores
    total = float(pooled.sum())
    weights = pooled / total
    mu = float(np.dot(weights, scores))
    deviation = scores - mu
    sigma2 = float(np.dot(weights, deviation * deviation))
    mu3 = float(np.dot(weights * deviation, deviation * deviation))
    n2 = total - n1
    variance = n1 * n2 / (total - 1.0) * sigma2 if total > 1 else 0.0
    third = n1 * n2 * (n2 - n1) / ((total - 1.0) * (total - 2.0)) * mu3 if total > 2 else 0.0
    return n1 * mu, variance, third


def _mood(a: np.ndarray, b: np.ndarray, n1: float, n2: float) -> tuple[float, float]:
    """(z, two-sided p) of Mood's test on two 1D count arrays with n1, n2 effective entries."""
    a, b = np.maximum(a, 0.0), np.maximum(b, 0.0)  # a negative weighted bin holds no entries
    sum_a, sum_b = float(a.sum()), float(b.sum())
    if sum_a <= 0 or sum_b <= 0 or n1 <= 0 or n2 <= 0:
        return 0.0, 1.0
    shape_a = a / sum_a
    pooled = n1 * shape_a + (n2 / sum_b) * b  # in effective entries
    scores = mood_scores(pooled)
    mean, variance, third = mood_moments(pooled, n1, scores)
    if not variance > 1e-300:
        return 0.0, 1.0  # every entry in one bin: no spread to compare
    observed = n1 * float(np.dot(shape_a, scores))
    z = (observed - mean) / math.sqrt(variance)
    return z, pearson3_two_sided(z, third / variance ** 1.5)


def width_test(new: Hist, ref: Hist, keep: np.ndarray | None = None) -> dict:
    """Mood's rank test of width per axis projection: z > 0 when NEW is wider."""
    keep = np.ones(new.values.shape, bool) if keep is None else keep
    v1 = np.where(keep, new.values, 0.0)
    v2 = np.where(keep, ref.values, 0.0)
    n1, n2 = effective_entries(new, keep), effective_entries(ref, keep)
    axes = v1.ndim
    best = (0.0, 1.0, 0)
    for axis in range(axes):
        others = tuple(i for i in range(axes) if i != axis)
        z, p = _mood(v1.sum(axis=others), v2.sum(axis=others), n1, n2)
        if p < best[1] or axis == 0:
            best = (z, p, axis)
    z, p, axis = best
    return {"z": z, "p": min(1.0, p * axes), "axis": "xyz"[axis]}


def entries_test(new: Hist, ref: Hist) -> dict:
    """Relative difference of the stored entries, relative to the reference."""
    a, b = new.entries, ref.entries
    if b == 0:
        rel = 0.0 if a == 0 else math.inf
    else:
        rel = abs(a - b) / abs(b)
    return {"new": a, "ref": b, "rel_diff": rel}
