"""The survival functions behind the p-values, against closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest

from relval.workflows.qa.special import chi2_sf, gamma_q, kolmogorov_sf


@pytest.mark.parametrize("x", [0.01, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 80.0])
def test_chi2_sf_matches_closed_forms(x):
    # ndf = 2: exp(-x/2); ndf = 1: erfc(sqrt(x/2)); ndf = 4: exp(-x/2) (1 + x/2)
    assert chi2_sf(x, 2) == pytest.approx(math.exp(-x / 2), rel=1e-10)
    assert chi2_sf(x, 1) == pytest.approx(math.erfc(math.sqrt(x / 2)), rel=1e-9)
    assert chi2_sf(x, 4) == pytest.approx(math.exp(-x / 2) * (1 + x / 2), rel=1e-10)


@pytest.mark.parametrize("ndf", [3, 5, 20, 99, 400])
def test_chi2_sf_odd_and_large_ndf_against_series(ndf):
    # Q(k/2, x/2) for integer k by the textbook finite sums (even k) and erfc + series (odd k).
    for x in (0.3 * ndf, ndf, ndf + 3 * math.sqrt(2 * ndf), 2.5 * ndf):
        if ndf % 2 == 0:
            term, expected = math.exp(-x / 2), 0.0
            for j in range(ndf // 2):
                expected += term
                term *= (x / 2) / (j + 1)
        else:
            term, total = math.sqrt(2 * x / math.pi) * math.exp(-x / 2), 0.0
            for j in range(1, (ndf - 1) // 2 + 1):
                total += term
                term *= x / (2 * j + 1)
            expected = math.erfc(math.sqrt(x / 2)) + total
        assert chi2_sf(x, ndf) == pytest.approx(expected, rel=1e-8, abs=1e-300)


def test_chi2_sf_edges():
    assert chi2_sf(0.0, 10) == 1.0
    assert chi2_sf(5.0, 0) == 1.0
    assert chi2_sf(math.inf, 3) == 0.0
    assert chi2_sf(1e4, 10) < 1e-200
    # monotone in x
    values = [chi2_sf(x, 50) for x in np.linspace(1, 200, 400)]
    assert all(a >= b for a, b in zip(values, values[1:]))
    with pytest.raises(ValueError):
        gamma_q(0, 1.0)


def test_kolmogorov_sf_known_quantiles():
    # Standard critical values of the Kolmogorov distribution.
    assert kolmogorov_sf(1.3581) == pytest.approx(0.05, abs=2e-4)
    assert kolmogorov_sf(1.6276) == pytest.approx(0.01, abs=1e-4)
    assert kolmogorov_sf(1.2238) == pytest.approx(0.10, abs=2e-4)
    assert kolmogorov_sf(0.0) == 1.0
    assert kolmogorov_sf(0.2) == pytest.approx(1.0, abs=1e-12)


def test_kolmogorov_sf_is_continuous_where_the_series_switch():
    below, above = kolmogorov_sf(1.0 - 1e-9), kolmogorov_sf(1.0 + 1e-9)
    assert below == pytest.approx(above, abs=1e-8)
    assert kolmogorov_sf(1.0) == pytest.approx(0.26999967, abs=1e-7)
    values = [kolmogorov_sf(z) for z in np.linspace(0.1, 4, 200)]
    assert all(a >= b for a, b in zip(values, values[1:]))


def test_pearson3_two_sided_matches_the_exponential_law_and_wilson_hilferty_the_series():
    """Skewness 2 is the exponential law: Z = G - 1 with P(G >= x) = exp(-x); above k = 1000 the
    cube-root approximation must agree with the incomplete gamma series."""
    import math

    from relval.workflows.qa.special import _gamma_tails, gamma_p, gamma_q, pearson3_two_sided

    for z in (4.0, 9.0):  # in the tail, where the exponential is above the normal law
        assert pearson3_two_sided(z, 2.0) == pytest.approx(2 * math.exp(-(1 + z)), rel=1e-10)
        assert pearson3_two_sided(-z, -2.0) == pytest.approx(2 * math.exp(-(1 + z)), rel=1e-10)
    assert pearson3_two_sided(5.0, 0.0) == pytest.approx(math.erfc(5 / math.sqrt(2)), rel=1e-12)
    k = 1500.0
    for z in (-5.0, -3.0, 3.0, 5.0):
        x = k + z * math.sqrt(k)
        lower, upper = _gamma_tails(k, x)
        exact = gamma_p(k, x) if z < 0 else gamma_q(k, x)
        assert (lower if z < 0 else upper) == pytest.approx(exact, rel=0.02)


def test_pearson3_beyond_the_end_of_its_short_side_is_rare_not_impossible():
    """Skewness 2 ends at z = -1: below, the curve says p = 0, which would grade BAD; the normal tail is kept."""
    import math

    from relval.workflows.qa.special import pearson3_two_sided

    for z, skew in ((-3.0, 2.0), (3.0, -2.0)):
        assert pearson3_two_sided(z, skew) == pytest.approx(math.erfc(3 / math.sqrt(2)), rel=1e-12)
