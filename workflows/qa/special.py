"""Survival functions that the QA tests turn into p-values.

scipy is not a dependency of relval, so the two distributions we need are
written out here and checked in tests against closed forms:

- `chi2_sf(x, ndf)`: P(X >= x) for a chi-square variable with `ndf` degrees of
  freedom, i.e. the regularized upper incomplete gamma Q(ndf/2, x/2);
- `kolmogorov_sf(z)`: P(K >= z) for the Kolmogorov distribution, the limit of
  sqrt(n) * D for the two-sided Kolmogorov-Smirnov distance;
- `pearson3_two_sided(z, skewness)`: the two-sided p-value of a standardized
  statistic whose law has that skewness (Pearson type III, a shifted gamma).
"""

from __future__ import annotations

import math

_EPS = 1e-15
_TINY = 1e-300
_MAX_ITER = 10_000


def _lower_series(a: float, x: float) -> float:
    """P(a, x) by its power series; converges quickly for x < a + 1."""
    term = 1.0 / a
    total = term
    n = a
    for _ in range(_MAX_ITER):
        n += 1.0
        term *= x / n
        total += term
        if abs(term) < abs(total) * _EPS:
            break
    return total * math.exp(-x + a * math.log(x) - math.lgamma(a))


def _upper_fraction(a: float, x: float) -> float:
    """Q(a, x) by its continued fraction (modified Lentz); for x >= a + 1."""
    b = x + 1.0 - a
    c = 1.0 / _TINY
    d = 1.0 / b
    h = d
    for i in range(1, _MAX_ITER):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = _TINY if abs(d) < _TINY else d
        c = b + an / c
        c = _TINY if abs(c) < _TINY else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            break
    return h * math.exp(-x + a * math.log(x) - math.lgamma(a))


def gamma_q(a: float, x: float) -> float:
    """Regularized upper incomplete gamma function Q(a, x) = Gamma(a, x) / Gamma(a)."""
    if a <= 0:
        raise ValueError("a must be positive")
    if x <= 0:
        return 1.0
    if x < a + 1.0:
        return max(0.0, 1.0 - _lower_series(a, x))
    return min(1.0, _upper_fraction(a, x))


def gamma_p(a: float, x: float) -> float:
    """Regularized lower incomplete gamma P(a, x), accurate when it is small (x << a)."""
    if x <= 0:
        return 0.0
    if x < a + 1.0:
        return min(1.0, _lower_series(a, x))
    return max(0.0, 1.0 - _upper_fraction(a, x))


def _gamma_tails(k: float, x: float) -> tuple[float, float]:
    """(P(G <= x), P(G >= x)) for G ~ Gamma(k, 1).

    Above k = 1,000 the series need thousands of terms; the Wilson-Hilferty cube
    root, (G/k)^(1/3) ~ normal(1 - 1/(9k), 1/(9k)), is then accurate far into the tails.
    """
    if x <= 0:
        return 0.0, 1.0
    if k > 1000.0:
        w = ((x / k) ** (1.0 / 3.0) - (1.0 - 1.0 / (9.0 * k))) * math.sqrt(9.0 * k)
        return 0.5 * math.erfc(-w / math.sqrt(2.0)), 0.5 * math.erfc(w / math.sqrt(2.0))
    return gamma_p(k, x), gamma_q(k, x)


def pearson3_two_sided(z: float, skewness: float) -> float:
    """Two-sided p-value of a standardized statistic z (mean 0, variance 1) with this skewness.

    The law is approximated by the Pearson type III curve with the same first three
    moments: Z = (G - k) / sqrt(k), G ~ Gamma(k = 4 / skewness^2), mirrored for a
    negative skewness; skewness 0 is the normal law. A sum of a few large terms
    (unbalanced samples, the spread held by few entries) is skewed, and a normal
    tail would then be far too small on the long side. On each side the larger of
    the Pearson and the normal tail is kept: the curve's short side ends at
    -2/skewness, where the real law need not end, so a value beyond it is rare,
    not impossible.
    """
    if not math.isfinite(z):
        return 0.0 if math.isinf(z) else 1.0
    normal_lower, normal_upper = 0.5 * math.erfc(-z / math.sqrt(2.0)), 0.5 * math.erfc(z / math.sqrt(2.0))
    if abs(skewness) < 1e-9:
        return min(1.0, 2.0 * min(normal_lower, normal_upper))
    sign = 1.0 if skewness > 0 else -1.0
    k = 4.0 / (skewness * skewness)
    lower, upper = _gamma_tails(k, k + sign * z * math.sqrt(k))
    if sign < 0:
        lower, upper = upper, lower
    return min(1.0, 2.0 * min(max(lower, normal_lower), max(upper, normal_upper)))


def chi2_sf(x: float, ndf: int | float) -> float:
    """P(chi2_ndf >= x). With ndf <= 0 there is nothing to test: 1.0."""
    if ndf <= 0 or not x > 0:
        return 1.0
    if math.isinf(x):
        return 0.0
    return gamma_q(ndf / 2.0, x / 2.0)


def kolmogorov_sf(z: float) -> float:
    """P(K >= z) for the Kolmogorov distribution (z = sqrt(n_eff) * D)."""
    if not z > 0:
        return 1.0
    if z < 1.0:
        # The alternating series converges slowly here; use the Jacobi-theta form of the CDF.
        y = math.pi * math.pi / (8.0 * z * z)
        cdf = math.sqrt(2.0 * math.pi) / z * sum(math.exp(-(2 * k - 1) ** 2 * y) for k in range(1, 8))
        return min(1.0, max(0.0, 1.0 - cdf))
    total = 0.0
    for k in range(1, 101):
        term = math.exp(-2.0 * k * k * z * z)
        total += term if k % 2 else -term
        if term < 1e-300 or term < _EPS * total:
            break
    return min(1.0, max(0.0, 2.0 * total))
