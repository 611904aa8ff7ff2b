"""detect_drift: known shifts found, false-alarm rates at or under the nominal rate, thresholds, outputs."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binom

from carnet.errors import InvalidInput
from carnet.monitoring.drift import (
    ColumnDrift,
    DriftOptions,
    DriftReport,
    adaptive_threshold,
    build_profile,
    chi2_goodness_of_fit,
    chi2_two_sample,
    detect_drift,
    profile_like,
)

CATEGORIES = np.array(["a", "b", "c", "d", "e", "f"])
SHARES = [0.35, 0.25, 0.15, 0.12, 0.08, 0.05]
SEEDS = 200
NOMINAL = 0.05


def _data(n: int, rng: np.random.Generator, *, shifted: bool = False) -> pd.DataFrame:
    """10 numeric and 5 categorical columns; ``shifted`` moves num0's mean, num1's scale and cat0's shares."""
    cols: dict[str, np.ndarray] = {}
    for i in range(10):
        if i % 3 == 0:
            cols[f"num{i}"] = rng.normal(0.0, 1.0, size=n)
        elif i % 3 == 1:
            cols[f"num{i}"] = rng.exponential(1.0, size=n)
        else:
            cols[f"num{i}"] = rng.poisson(4, size=n).astype(np.int64)
    if shifted:
        cols["num0"] = cols["num0"] + 0.5  # mean shift of half a standard deviation
        cols["num1"] = cols["num1"] * 1.5  # scale change
    for j in range(5):
        p = [0.15, 0.15, 0.2, 0.2, 0.15, 0.15] if shifted and j == 0 else SHARES
        cols[f"cat{j}"] = CATEGORIES[rng.choice(6, size=n, p=p)]
    return pd.DataFrame(cols)


@pytest.mark.parametrize("seed", range(5))
def test_shifted_columns_and_only_those_are_flagged_at_default_settings(seed):
    rng = np.random.default_rng(seed)
    reference = build_profile(_data(5000, rng))
    report = detect_drift(reference, _data(5000, rng, shifted=True))
    assert set(report.drifted_columns) == {"num0", "num1", "cat0"}
    assert report.share_drifted == pytest.approx(3 / 15) and report.dataset_drift is False
    methods = {c.column: c.method for c in report.columns}
    assert methods["num0"] == "wasserstein" and methods["cat0"] == "js"
    text = json.dumps(report.to_dict(), allow_nan=False)
    assert json.loads(text)["drifted_columns"] == ["num0", "num1", "cat0"]


def _allowance(trials: int) -> int:
    """Most false alarms a test at the nominal rate gives in ``trials`` runs, but with probability 1e-3."""
    return int(binom.ppf(1 - 1e-3, trials, NOMINAL))


@pytest.mark.parametrize("n_ref,n_cur", [(200, 200), (300, 3000)])
def test_false_alarm_rate_is_at_most_nominal_and_goodness_of_fit_is_not(n_ref, n_cur):
    """No drift (same distribution), small reference: per column alarms stay within the binomial allowance.

    Under no drift a column with false-alarm rate 5% raises Binomial(200, 0.05) alarms over 200
    seeds; we allow its 99.9% quantile. The goodness-of-fit chi-square, which takes the small
    reference's shares as exact, blows through the same bound on the same data.
    """
    alarms: dict[str, int] = {}
    gof = contingency = 0
    n_cat = 0
    for seed in range(SEEDS):
        rng = np.random.default_rng(1000 + seed)
        reference = build_profile(_data(n_ref, rng), chunks=0, sample_rows=0)
        current = profile_like(reference, _data(n_cur, rng))
        for col in detect_drift(reference, current).columns:
            alarms[col.column] = alarms.get(col.column, 0) + col.drifted
        for name in ("cat0", "cat1", "cat2", "cat3", "cat4"):
            ref_counts, cur_counts = reference.column(name).bin_counts(), current.column(name).bin_counts()
            gof += chi2_goodness_of_fit(ref_counts, cur_counts).p_value < NOMINAL
            contingency += chi2_two_sample(ref_counts, cur_counts).p_value < NOMINAL
            n_cat += 1
    per_column = _allowance(SEEDS)
    assert max(alarms.values()) <= per_column, alarms
    pooled = _allowance(SEEDS * len(alarms))
    assert sum(alarms.values()) <= pooled
    assert contingency <= _allowance(n_cat)
    assert gof > _allowance(n_cat)  # goodness of fit: false alarms far above the nominal 5%
    assert gof > 4 * contingency


def test_distances_alone_raise_false_alarms_on_small_samples():
    """Why distances are guarded by a significance check by default (what Evidently does not do)."""
    unguarded = guarded = 0
    for seed in range(40):
        rng = np.random.default_rng(seed)
        reference = build_profile(_data(200, rng), chunks=0, sample_rows=0)
        current = profile_like(reference, _data(200, rng))
        unguarded += len(detect_drift(reference, current, DriftOptions(significance=None)).drifted_columns)
        guarded += len(detect_drift(reference, current).drifted_columns)
    assert unguarded > 0.2 * 40 * 15  # more than one column in five
    assert guarded <= _allowance(40 * 15)


def test_adaptive_thresholds_come_from_reference_chunks_and_are_used():
    rng = np.random.default_rng(8)
    n = 10_000
    # the reference wanders over time: its mean drifts by +-0.15 sd across the chunks
    wander = 0.15 * np.sin(np.linspace(0, 2 * np.pi, n))
    ref = pd.DataFrame({"x": rng.normal(size=n) + wander, "c": CATEGORIES[rng.choice(6, size=n, p=SHARES)]})
    profile = build_profile(ref, chunks=10)
    col = profile.column("x")
    chunk_w = np.asarray(col.chunks["wasserstein"])
    assert len(chunk_w) == 10
    expected = chunk_w.mean() + 3 * chunk_w.std(ddof=1)
    assert adaptive_threshold(col, "wasserstein", 3.0) == pytest.approx(expected)
    current = pd.DataFrame(
        {"x": rng.normal(0.12, 1.0, size=5000), "c": CATEGORIES[rng.choice(6, size=5000, p=SHARES)]}
    )
    fixed = detect_drift(profile, current, DriftOptions(thresholds={"wasserstein": 0.1}))
    adaptive = detect_drift(
        profile, current, DriftOptions(thresholds={"wasserstein": "adaptive", "js": "adaptive"})
    )
    fx, ad = fixed.columns[0], adaptive.columns[0]
    assert fx.drifted and fx.threshold == 0.1 and not fx.adaptive
    assert ad.adaptive and ad.threshold == pytest.approx(expected) and ad.threshold > fx.statistic
    assert not ad.drifted  # within the reference's own variation over time
    wider = detect_drift(
        profile, current, DriftOptions(thresholds={"wasserstein": "adaptive"}, adaptive_k=1.0)
    )
    assert wider.columns[0].threshold == pytest.approx(chunk_w.mean() + chunk_w.std(ddof=1))
    no_chunks = build_profile(ref, chunks=0)
    with pytest.raises(InvalidInput, match="no chunk statistics") as err:
        detect_drift(no_chunks, current, DriftOptions(thresholds={"wasserstein": "adaptive"}))
    assert err.value.field == "x"


def test_outputs_are_reported_apart():
    rng = np.random.default_rng(4)
    ref = _data(3000, rng).assign(prediction=rng.random(3000), label=rng.choice(["yes", "no"], size=3000))
    cur = _data(3000, rng).assign(
        prediction=rng.random(3000) ** 2, label=rng.choice(["yes", "no"], size=3000)
    )
    report = detect_drift(build_profile(ref, outputs=["prediction", "label"]), cur)
    assert [c.column for c in report.outputs] == ["prediction", "label"]
    assert all(c.output for c in report.outputs) and not any(c.output for c in report.columns)
    assert report.drifted_outputs == ("prediction",)
    assert len(report.columns) == 15 and report.drifted_columns == ()
    # the same from two DataFrames, naming the outputs in the options
    both = detect_drift(ref, cur, DriftOptions(outputs=("prediction",)))
    assert [c.column for c in both.outputs] == ["prediction"] and len(both.columns) == 16


def test_ks_on_request_uses_the_reference_sample_and_current_values():
    rng = np.random.default_rng(6)
    ref = pd.DataFrame({"x": rng.normal(size=3000), "y": rng.normal(size=3000)})
    cur = pd.DataFrame({"x": rng.normal(0.2, 1.0, size=4000), "y": rng.normal(size=4000)})
    profile = build_profile(ref, sample_rows=3000)
    report = detect_drift(profile, cur, DriftOptions(methods={"numeric": "ks"}))
    from scipy.stats import ks_2samp

    expected = ks_2samp(ref["x"], cur["x"])
    x = report.columns[0]
    assert (x.method, x.statistic, x.p_value, x.threshold) == (
        "ks",
        expected.statistic,
        expected.pvalue,
        0.05,
    )
    assert x.drifted and not report.columns[1].drifted
    window = profile_like(profile, cur, sample_rows=4000)
    assert detect_drift(profile, window, DriftOptions(column_methods={"x": "ks"})).columns[
        0
    ].statistic == pytest.approx(expected.statistic)
    with pytest.raises(InvalidInput, match="ks needs current values") as err:
        detect_drift(profile, profile_like(profile, cur), DriftOptions(column_methods={"x": "ks"}))
    assert err.value.field == "x"


def test_multivariate_domain_classifier_sees_a_joint_change_no_column_shows():
    rng = np.random.default_rng(0)
    n = 1500

    def pair(rho: float) -> pd.DataFrame:
        z = rng.multivariate_normal([0, 0], [[1, rho], [rho, 1]], size=n)
        return pd.DataFrame({"a": z[:, 0], "b": z[:, 1], "c": CATEGORIES[rng.choice(6, size=n, p=SHARES)]})

    profile = build_profile(pair(0.9), sample_rows=1000)
    options = DriftOptions(multivariate=True, multivariate_rows=1000)
    flipped = detect_drift(profile, pair(-0.9), options)
    assert flipped.drifted_columns == ()
    assert (
        flipped.multivariate is not None and flipped.multivariate.drifted and flipped.multivariate.auc > 0.8
    )
    assert flipped.dataset_drift
    same = detect_drift(profile, pair(0.9), options)
    assert same.multivariate is not None and not same.multivariate.drifted and same.multivariate.auc < 0.55
    assert detect_drift(profile, pair(0.9)).multivariate is None  # opt-in


def test_bad_options_and_inputs_raise_invalid_input_naming_the_culprit():
    rng = np.random.default_rng(1)
    profile = build_profile(_data(500, rng))
    cur = _data(500, rng)
    cases = [
        (lambda: DriftOptions(methods={"numeric": "energy"}), "methods.numeric"),
        (lambda: DriftOptions(methods={"categorical": "wasserstein"}), "methods.categorical"),
        (lambda: DriftOptions(thresholds={"chi2": "adaptive"}), "thresholds.chi2"),
        (lambda: DriftOptions(thresholds={"psi": -1}), "thresholds.psi"),
        (lambda: DriftOptions.from_dict({"threshold": 0.2}), "threshold"),
        (lambda: DriftOptions.from_dict({"drift_share": 2}), "drift_share"),
        (lambda: detect_drift(profile, cur, DriftOptions(column_methods={"cat1": "ks"})), "cat1"),
        (lambda: detect_drift(profile, cur, DriftOptions(column_methods={"ghost": "psi"})), "ghost"),
        (lambda: detect_drift(profile, cur.drop(columns=["num3"])), "num3"),
        (lambda: detect_drift(profile, cur.assign(cat2=rng.random(500))), "cat2"),
    ]
    for call, field in cases:
        with pytest.raises(InvalidInput) as err:
            call()
        assert err.value.field == field and field in str(err.value), (field, str(err.value))


def test_options_round_trip_and_aliases():
    opts = DriftOptions.from_dict(
        {
            "methods": {"categorical": "chisquare"},
            "column_methods": {"num0": "jensenshannon"},
            "multivariate": True,
        }
    )
    assert opts.methods == {"numeric": "wasserstein", "categorical": "chi2", "boolean": "js"}
    assert opts.column_methods == {"num0": "js"} and opts.thresholds["psi"] == 0.2
    assert DriftOptions.from_dict(json.loads(json.dumps(opts.to_dict()))) == opts
    assert DriftOptions.from_dict(None) == DriftOptions()


def test_columns_without_values_are_reported_not_judged():
    ref = pd.DataFrame({"x": np.arange(100.0), "y": np.arange(100.0), "s": ["a", "b"] * 50})
    cur = pd.DataFrame({"x": [np.nan] * 50, "y": np.arange(50.0), "s": [None] * 50})  # "s" has no type at all
    report = detect_drift(ref, cur)
    x = report.columns[0]
    assert isinstance(x, ColumnDrift) and x.statistic is None and not x.drifted
    assert x.note == "no values in the current data" and x.current_missing == 1.0
    assert report.columns[2].note == "no values in the current data"
    assert isinstance(report, DriftReport) and report.share_drifted in (0.0, 1.0)
