"""The raw drift statistics equal scipy's; the profile-based Wasserstein stays close to scipy's."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.stats import chi2_contingency, chisquare, ks_2samp, wasserstein_distance

from carnet.errors import InvalidInput
from carnet.monitoring.drift import (
    PSI_EPSILON,
    build_profile,
    chi2_goodness_of_fit,
    chi2_two_sample,
    js_distance,
    ks,
    profile_like,
    psi,
    wasserstein_normalized,
)
from carnet.monitoring.drift.build import _exact_sum
from carnet.monitoring.drift.compare import distance

TOL = 1e-12
#: Profile-based normalized Wasserstein vs scipy on the raw data, in reference standard deviations.
GRID_TOLERANCE = 0.01


def _count_pairs() -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(7)
    pairs = []
    for k in (2, 3, 5, 10, 40):
        for _ in range(4):
            p = rng.dirichlet(np.ones(k))
            q = rng.dirichlet(np.ones(k))
            pairs.append(
                (rng.multinomial(rng.integers(50, 5000), p), rng.multinomial(rng.integers(50, 5000), q))
            )
    pairs.append((np.array([30, 0, 20, 50]), np.array([10, 5, 0, 85])))  # empty bins on either side
    pairs.append((np.array([3, 0, 7]), np.array([4, 0, 6])))  # a category empty on both sides
    return pairs


@pytest.mark.parametrize("ref,cur", _count_pairs())
def test_js_distance_equals_scipy(ref, cur):
    assert js_distance(ref, cur) == pytest.approx(jensenshannon(ref, cur), abs=TOL)
    assert js_distance(ref, cur, base=2) == pytest.approx(jensenshannon(ref, cur, base=2), abs=TOL)


@pytest.mark.parametrize("ref,cur", _count_pairs())
def test_chi2_two_sample_equals_chi2_contingency(ref, cur):
    keep = (ref + cur) > 0  # scipy rejects a category empty on both sides; we drop it
    stat, p, dof, _ = chi2_contingency(np.vstack([ref[keep], cur[keep]]))
    res = chi2_two_sample(ref, cur)
    assert res.statistic == pytest.approx(stat, abs=TOL, rel=TOL)
    assert res.p_value == pytest.approx(p, abs=TOL)
    assert res.dof == dof


def test_chi2_two_sample_yates_for_two_categories_and_without():
    ref, cur = np.array([40, 60]), np.array([55, 45])
    for correction in (True, False):
        stat, p, _, _ = chi2_contingency(np.vstack([ref, cur]), correction=correction)
        res = chi2_two_sample(ref, cur, correction=correction)
        assert (res.statistic, res.p_value) == pytest.approx((stat, p), abs=TOL)
    assert chi2_two_sample([5, 0], [7, 0]) == (0.0, 1.0, 0)  # one category left: nothing to test


@pytest.mark.parametrize("ref,cur", _count_pairs()[:-2])
def test_chi2_goodness_of_fit_equals_scipy_chisquare(ref, cur):
    expected = ref / ref.sum() * cur.sum()
    with np.errstate(divide="ignore"):  # a category the reference never saw: infinite statistic
        stat, p = chisquare(cur, f_exp=expected)
    res = chi2_goodness_of_fit(ref, cur)
    assert (res.statistic, res.p_value) == pytest.approx((stat, p), abs=TOL, rel=TOL)


def test_psi_matches_its_definition_with_epsilon_for_empty_bins():
    ref, cur = np.array([30, 0, 20, 50]), np.array([10, 5, 0, 85])
    r = np.array([0.3, PSI_EPSILON, 0.2, 0.5])
    c = np.array([0.1, 0.05, PSI_EPSILON, 0.85])
    assert psi(ref, cur) == pytest.approx(float(np.sum((c - r) * np.log(c / r))), abs=TOL)
    assert psi([1, 2, 3], [2, 4, 6]) == 0.0
    # a textbook value: deciles moving 10 points of share from the first to the last bin
    cur2 = np.full(10, 10)
    cur2[0], cur2[-1] = 5, 15
    assert psi(np.full(10, 10), cur2) == pytest.approx(0.05 * math.log(1.5) + 0.05 * math.log(2), abs=TOL)


def _samples() -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(11)
    return [
        (rng.normal(size=300), rng.normal(0.3, 1.2, size=500)),
        (rng.exponential(size=2000), rng.exponential(1.5, size=20000)),  # ks: asymptotic method
        (rng.poisson(3, size=400).astype(float), rng.poisson(3.5, size=300).astype(float)),  # ties
        (rng.lognormal(0, 1.5, size=1000), rng.lognormal(0.2, 1.5, size=800)),
    ]


@pytest.mark.parametrize("ref,cur", _samples())
def test_wasserstein_normalized_equals_scipy(ref, cur):
    assert wasserstein_normalized(ref, cur) == pytest.approx(
        wasserstein_distance(ref, cur) / np.std(ref), abs=TOL, rel=TOL
    )


@pytest.mark.parametrize("ref,cur", _samples())
def test_ks_equals_scipy(ref, cur):
    res = ks_2samp(ref, cur)
    assert ks(ref, cur)[:2] == pytest.approx((res.statistic, res.pvalue), abs=TOL)


def test_raw_functions_drop_missing_values_and_reject_bad_input():
    ref = np.array([0.1, np.nan, 0.5, np.inf, 0.9])
    assert wasserstein_normalized(ref, [0.2, 0.6]) == wasserstein_normalized([0.1, 0.5, 0.9], [0.2, 0.6])
    assert wasserstein_normalized([2.0, 2.0], [2.0]) == 0.0  # constant reference: not normalised
    with pytest.raises(InvalidInput, match="cur_counts"):
        psi([1, 2, 3], [1, 2])
    with pytest.raises(InvalidInput, match="no observations"):
        js_distance([0, 0], [1, 2])
    with pytest.raises(InvalidInput, match="non-negative"):
        chi2_two_sample([1, -2], [1, 2])
    with pytest.raises(InvalidInput, match="no finite values"):
        ks([np.nan], [1.0])


def _distributions(rng: np.random.Generator) -> dict[str, object]:
    return {
        "normal": lambda n, s: rng.normal(0.5 * s, 1 + 0.5 * s, size=n),
        "exponential": lambda n, s: rng.exponential(1 + s, size=n),
        "poisson": lambda n, s: rng.poisson(3 + s, size=n).astype(float),
        "bimodal": lambda n, s: np.where(
            rng.random(n) < 0.3 + 0.3 * s, rng.normal(-2, 0.5, n), rng.normal(2, 1, n)
        ),
        "lognormal": lambda n, s: rng.lognormal(s, 1.5, size=n),
        "binary": lambda n, s: (rng.random(n) < 0.3 + 0.2 * s).astype(float),
    }


@pytest.mark.parametrize("name", ["normal", "exponential", "poisson", "bimodal", "lognormal", "binary"])
def test_profile_wasserstein_is_within_tolerance_of_scipy(name):
    """From the stored quantile grid (no reference data) to within 0.01 reference standard deviations."""
    rng = np.random.default_rng(3)
    gen = _distributions(rng)[name]
    for n, m in ((200, 200), (1000, 5000), (50_000, 50_000)):
        for shift in (0, 1):
            x, y = gen(n, 0), gen(m, shift)
            ref = build_profile(pd.DataFrame({"v": x}), chunks=0, sample_rows=0)
            cur = profile_like(ref, pd.DataFrame({"v": y}))
            got = distance("wasserstein", ref.column("v"), cur.column("v"))
            assert got == pytest.approx(wasserstein_normalized(x, y), abs=GRID_TOLERANCE), (n, m, shift)


def test_exact_sum_is_exact_and_associative():
    rng = np.random.default_rng(5)
    v = np.concatenate([rng.exponential(size=5000), rng.exponential(1e-9, size=100), [0.0, 1e300, 5e-324]])
    exact = sum((Fraction(float(x)) for x in v), Fraction(0))
    assert _exact_sum(v) == exact
    assert _exact_sum(v[:1234]) + _exact_sum(v[1234:]) == exact
    assert _exact_sum(np.array([])) == 0
