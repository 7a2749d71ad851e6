"""The three statistical tests on a pair of histograms with the same binning.

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

entries: |entries_new - entries_ref| / entries_ref, from the stored fEntries.
"""

from __future__ import annotations

import math

import numpy as np

from relval.workflows.qa.hist import Hist
from relval.workflows.qa.special import chi2_sf, kolmogorov_sf


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


def entries_test(new: Hist, ref: Hist) -> dict:
    """Relative difference of the stored entries, relative to the reference."""
    a, b = new.entries, ref.entries
    if b == 0:
        rel = 0.0 if a == 0 else math.inf
    else:
        rel = abs(a - b) / abs(b)
    return {"new": a, "ref": b, "rel_diff": rel}
