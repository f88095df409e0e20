"""Statistical validation of ``twin.scenario.distributions`` against theory.

For each distribution a scenario may name, large samples drawn with a fixed seed must match the
``mean`` and ``variance`` the class claims, and those claims must match the closed forms of
probability theory (checked independently through ``scipy.stats`` where it has the family).

Tolerances come from theory, not from trial and error. For n independent draws with variance
sigma^2 and fourth central moment mu4:

* the sample mean has standard error sqrt(sigma^2 / n);
* the sample variance s^2 has standard error sqrt((mu4 - sigma^4) / n) to leading order in 1/n
  (the exact variance of s^2 is mu4/n - sigma^4 (n-3) / (n (n-1))).

Each check allows 5 standard errors (a two-sided normal tail of 6e-7 per check), and the seeds are
fixed, so the tests are deterministic; a failure means a real disagreement, not bad luck.

The last check does the same for durations drawn inside a simulation (``dist.ppf(U)`` with U from
a per-patient, per-purpose stream), read back from the event log.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import build, tiny_data
from pydantic import TypeAdapter, ValidationError
from scipy import stats

from twin.model import simulate
from twin.results.tables import events_table
from twin.scenario.distributions import (
    DIST_NAMES,
    MAX_PARAM,
    Distribution,
    Empirical,
    Exponential,
    Fixed,
    Lognormal,
    Triangular,
    Weibull,
)

N = 200_000
N_SINGLE = 20_000
Z = 5.0
SEED = 20261125

ADAPTER = TypeAdapter(Distribution)


def dist(data):
    """Validate plain scenario data (as YAML gives it) into a distribution."""
    return ADAPTER.validate_python(data)


CASES = {
    "fixed-48": {"dist": "fixed", "value": 48},
    "fixed-0": {"dist": "fixed", "value": 0},
    "exponential-1": {"dist": "exponential", "mean": 1},
    "exponential-36": {"dist": "exponential", "mean": 36.5},
    "triangular-0-1-2": {"dist": "triangular", "low": 0, "mode": 1, "high": 2},
    "triangular-skewed": {"dist": "triangular", "low": 216, "mode": 228, "high": 252},
    "triangular-mode-at-low": {"dist": "triangular", "low": 0, "mode": 0, "high": 10},
    "triangular-degenerate": {"dist": "triangular", "low": 5, "mode": 5, "high": 5},
    "lognormal-10-5": {"dist": "lognormal", "mean": 10, "sd": 5},
    "lognormal-cv1": {"dist": "lognormal", "mean": 4, "sd": 4},
    "lognormal-sd0": {"dist": "lognormal", "mean": 3, "sd": 0},
    "weibull-wearout": {"dist": "weibull", "shape": 2.0, "scale": 1000},
    "weibull-infant": {"dist": "weibull", "shape": 0.7, "scale": 50},
    "weibull-exponential": {"dist": "weibull", "shape": 1.0, "scale": 8},
    "empirical-equal": {"dist": "empirical", "values": [1, 2, 3, 10]},
    "empirical-weighted": {"dist": "empirical", "values": [0, 10, 100], "weights": [5, 3, 2]},
    "empirical-zero-weight": {"dist": "empirical", "values": [1, 2, 3], "weights": [1, 0, 3]},
    "empirical-one-value": {"dist": "empirical", "values": [7.5]},
}


def fourth_central_moment(d) -> float:
    """mu4 = E[(X - mean)^4] from theory, for the tolerance on the sample variance."""
    var = d.variance
    if isinstance(d, Fixed):
        return 0.0
    if isinstance(d, Exponential):
        return 9.0 * d.mean**4  # excess kurtosis 6
    if isinstance(d, Triangular):
        return (3.0 - 0.6) * var**2  # excess kurtosis -3/5 for every triangular
    if isinstance(d, Lognormal):
        s2 = d.sigma**2
        return var**2 * (math.exp(4 * s2) + 2 * math.exp(3 * s2) + 3 * math.exp(2 * s2) - 3)
    if isinstance(d, Weibull):
        # Raw moments E[X^r] = scale^r G(1 + r/k); mu4 from raw moments.
        m = [d.scale**r * math.gamma(1 + r / d.shape) for r in range(5)]
        mu = m[1]
        return m[4] - 4 * mu * m[3] + 6 * mu**2 * m[2] - 3 * mu**4
    if isinstance(d, Empirical):
        p = d._p()
        v = np.asarray(d.values, dtype=float)
        return float(np.dot(p, (v - d.mean) ** 4))
    raise AssertionError(f"no theory for {d!r}")


@pytest.fixture(params=sorted(CASES), ids=sorted(CASES))
def case(request):
    return request.param, dist(CASES[request.param])


# -- the family covers the vocabulary ----------------------------------------------------------------


def test_cases_cover_every_distribution() -> None:
    """Theory: every name in DIST_NAMES is exercised by the statistical checks below."""
    assert {c["dist"] for c in CASES.values()} == set(DIST_NAMES)
    assert any("weights" in c for c in CASES.values() if c["dist"] == "empirical")
    assert any("weights" not in c for c in CASES.values() if c["dist"] == "empirical")


# -- large-sample checks -------------------------------------------------------------------------


def test_sample_mean_matches_claimed_mean(case) -> None:
    """Theory: central limit theorem; the mean of n draws lies within 5 standard errors
    sqrt(variance/n) of the true mean (exactly equal when the variance is 0)."""
    name, d = case
    x = d.sample_n(np.random.default_rng(SEED), N)
    assert x.shape == (N,)
    assert np.all(np.isfinite(x))
    if d.variance == 0:  # a point mass (lognormal sd 0 only up to rounding of exp(log(x)))
        np.testing.assert_allclose(x, d.mean, rtol=1e-12)
        return
    se = math.sqrt(d.variance / N)
    assert abs(x.mean() - d.mean) <= Z * se, f"{name}: mean {x.mean()} vs {d.mean} (se {se})"


def test_sample_variance_matches_claimed_variance(case) -> None:
    """Theory: the unbiased sample variance s^2 has standard error sqrt((mu4 - sigma^4)/n) to
    leading order; it lies within 5 of them of the claimed variance."""
    name, d = case
    x = d.sample_n(np.random.default_rng(SEED + 1), N)
    s2 = float(x.var(ddof=1))
    if d.variance == 0:
        assert s2 <= (1e-12 * d.mean) ** 2
        return
    mu4 = fourth_central_moment(d)
    se = math.sqrt(max(mu4 - d.variance**2, 0.0) / N)
    assert abs(s2 - d.variance) <= Z * se, f"{name}: variance {s2} vs {d.variance} (se {se})"


def test_samples_stay_in_the_support(case) -> None:
    """Theory: triangular draws lie in [low, high], exponential in [0, inf), lognormal in
    (0, inf), empirical draws are among the values that have positive weight."""
    name, d = case
    x = d.sample_n(np.random.default_rng(SEED + 2), N)
    assert np.all(x >= 0), name
    if isinstance(d, Triangular):
        assert x.min() >= d.low and x.max() <= d.high
    if isinstance(d, Lognormal):
        assert np.all(x > 0)
    if isinstance(d, Empirical):
        positive = {v for v, p in zip(d.values, d._p()) if p > 0}
        assert set(np.unique(x)) <= positive


def test_empirical_frequencies_match_weights() -> None:
    """Theory: each value's relative frequency is binomial(n, p)/n, within 5 standard errors
    sqrt(p(1-p)/n) of its normalised weight p; zero-weight values never appear."""
    for key in ("empirical-equal", "empirical-weighted", "empirical-zero-weight"):
        d = dist(CASES[key])
        x = d.sample_n(np.random.default_rng(SEED + 3), N)
        for v, p in zip(d.values, d._p()):
            freq = float(np.mean(x == v))
            if p == 0:
                assert freq == 0.0, key
            else:
                assert abs(freq - p) <= Z * math.sqrt(p * (1 - p) / N), f"{key}: {v}: {freq} vs {p}"


def test_triangular_quantiles_match_cdf() -> None:
    """Theory: for triangular(a, c, b) P(X <= c) = (c - a)/(b - a); the empirical proportion lies
    within 5 binomial standard errors."""
    d = dist(CASES["triangular-skewed"])
    x = d.sample_n(np.random.default_rng(SEED + 4), N)
    p = (d.mode - d.low) / (d.high - d.low)
    assert abs(np.mean(x <= d.mode) - p) <= Z * math.sqrt(p * (1 - p) / N)


def test_lognormal_log_moments() -> None:
    """Theory: log X ~ Normal(mu, sigma^2); the mean of log X lies within 5 standard errors
    sigma/sqrt(n) of mu, and its sample sd within 5 * sigma/sqrt(2n) of sigma."""
    d = dist(CASES["lognormal-10-5"])
    y = np.log(d.sample_n(np.random.default_rng(SEED + 5), N))
    assert abs(y.mean() - d.mu) <= Z * d.sigma / math.sqrt(N)
    assert abs(y.std(ddof=1) - d.sigma) <= Z * d.sigma / math.sqrt(2 * N)


# -- one draw at a time agrees with n at a time ------------------------------------------------------


def test_single_draws_agree_with_vector_draws(case) -> None:
    """Theory: ``sample()`` and ``sample_n()`` draw from the same law. The mean of 20,000 single
    draws lies within 5 standard errors of the true mean; for continuous laws a two-sample
    Kolmogorov-Smirnov test against ``sample_n`` draws does not reject at 1e-4; for discrete laws a
    chi-square test of the value counts does not reject at 1e-4."""
    name, d = case
    rng = np.random.default_rng(SEED + 6)
    single = np.array([d.sample(rng) for _ in range(N_SINGLE)])
    assert all(type(d.sample(rng)) is float for _ in range(5)), "sample() returns a Python float"
    vector = d.sample_n(np.random.default_rng(SEED + 7), N)
    if d.variance == 0:
        np.testing.assert_allclose(single, d.mean, rtol=1e-12)
        np.testing.assert_allclose(vector, d.mean, rtol=1e-12)
        return
    assert abs(single.mean() - d.mean) <= Z * math.sqrt(d.variance / N_SINGLE), name
    if isinstance(d, Empirical):
        values = sorted({v for v, p in zip(d.values, d._p()) if p > 0})
        table = np.array([[np.sum(single == v) for v in values], [np.sum(vector == v) for v in values]])
        assert table.sum() == N_SINGLE + N, f"{name}: draws outside the values"
        p_value = stats.chi2_contingency(table).pvalue
    else:
        p_value = stats.ks_2samp(single, vector).pvalue
    assert p_value > 1e-4, f"{name}: p = {p_value}"


def test_same_seed_same_draws(case) -> None:
    """Reproducibility: the same seed gives the same draws."""
    _, d = case
    a = d.sample_n(np.random.default_rng(SEED), 1000)
    b = d.sample_n(np.random.default_rng(SEED), 1000)
    assert np.array_equal(a, b)
    r1, r2 = np.random.default_rng(SEED), np.random.default_rng(SEED)
    assert [d.sample(r1) for _ in range(100)] == [d.sample(r2) for _ in range(100)]


# -- closed forms --------------------------------------------------------------------------------


def test_triangular_0_1_2_closed_form() -> None:
    """Theory: triangular(0, 1, 2) has mean 1 and variance (0+4+1-0-0-2)/18 = 1/6."""
    d = Triangular(low=0, mode=1, high=2)
    assert d.mean == pytest.approx(1.0)
    assert d.variance == pytest.approx(1.0 / 6.0)


@pytest.mark.parametrize("low,mode,high", [(0, 1, 2), (216, 228, 252), (0, 0, 10), (3, 9, 9), (1, 2, 4)])
def test_triangular_matches_scipy(low, mode, high) -> None:
    """Theory: mean (a+b+c)/3 and variance (a^2+b^2+c^2-ab-ac-bc)/18 agree with scipy's
    triang(c=(mode-low)/(high-low), loc=low, scale=high-low)."""
    d = Triangular(low=low, mode=mode, high=high)
    ref = stats.triang(c=(mode - low) / (high - low), loc=low, scale=high - low)
    assert d.mean == pytest.approx(ref.mean(), rel=1e-12)
    assert d.variance == pytest.approx(ref.var(), rel=1e-9)


@pytest.mark.parametrize("mean,sd", [(10, 5), (4, 4), (336, 24), (0.5, 2), (1e-3, 1e-4)])
def test_lognormal_round_trip(mean, sd) -> None:
    """Theory: with sigma^2 = log(1 + (sd/mean)^2) and mu = log(mean) - sigma^2/2,
    E[X] = exp(mu + sigma^2/2) = mean and Var[X] = (exp(sigma^2) - 1) exp(2 mu + sigma^2) = sd^2;
    scipy's lognorm(s=sigma, scale=exp(mu)) agrees."""
    d = Lognormal(mean=mean, sd=sd)
    assert d.mean == mean and d.variance == pytest.approx(sd**2)
    assert math.exp(d.mu + d.sigma**2 / 2) == pytest.approx(mean, rel=1e-12)
    var = (math.exp(d.sigma**2) - 1) * math.exp(2 * d.mu + d.sigma**2)
    assert var == pytest.approx(sd**2, rel=1e-9)
    ref = stats.lognorm(s=d.sigma, scale=math.exp(d.mu))
    assert ref.mean() == pytest.approx(mean, rel=1e-9)
    assert ref.var() == pytest.approx(sd**2, rel=1e-9)


def test_exponential_closed_form() -> None:
    """Theory: an exponential with mean m has variance m^2 (rate 1/m); matches scipy.expon."""
    d = Exponential(mean=36.5)
    ref = stats.expon(scale=36.5)
    assert d.mean == pytest.approx(ref.mean()) and d.variance == pytest.approx(ref.var())


def test_empirical_closed_form() -> None:
    """Theory: weights are normalised; values (0, 10, 100) with weights (5, 3, 2) have
    p = (.5, .3, .2), mean 23 and variance .5*23^2 + .3*13^2 + .2*77^2 = 1501."""
    d = Empirical(values=[0, 10, 100], weights=[5, 3, 2])
    assert d.mean == pytest.approx(23.0)
    assert d.variance == pytest.approx(1501.0)
    e = Empirical(values=[1, 2, 3, 10])
    assert e.mean == pytest.approx(4.0)
    assert e.variance == pytest.approx(np.var([1, 2, 3, 10]))


@pytest.mark.parametrize("shape,scale", [(2.0, 1000), (0.7, 50), (1.0, 8), (3.5, 2)])
def test_weibull_matches_scipy(shape, scale) -> None:
    """Theory: a Weibull with shape k and scale s has mean s G(1 + 1/k) and variance
    s^2 (G(1 + 2/k) - G(1 + 1/k)^2); scipy's weibull_min(c=k, scale=s) agrees, and k = 1 is the
    exponential with mean s (variance s^2)."""
    d = Weibull(shape=shape, scale=scale)
    ref = stats.weibull_min(c=shape, scale=scale)
    assert d.mean == pytest.approx(ref.mean(), rel=1e-12)
    assert d.variance == pytest.approx(ref.var(), rel=1e-9)
    if shape == 1.0:
        assert (d.mean, d.variance) == pytest.approx((scale, scale**2))


def test_fixed_closed_form() -> None:
    """Theory: a point mass has its value as mean and no variance."""
    d = Fixed(value=48)
    assert (d.mean, d.variance) == (48.0, 0.0)


# -- validation of scenario data ---------------------------------------------------------------------


@pytest.mark.parametrize("number", [0, 5, 2.5, 336])
def test_bare_number_is_fixed(number) -> None:
    """Vocabulary: a bare number means {dist: fixed, value: x}."""
    d = dist(number)
    assert isinstance(d, Fixed)
    assert d.value == float(number) and d.mean == float(number) and d.variance == 0.0


def test_mapping_forms_validate_to_their_class() -> None:
    """Vocabulary: each ``dist`` name selects its class; ``mean`` is the exponential's and the
    lognormal's parameter name in YAML."""
    assert isinstance(dist({"dist": "fixed", "value": 1}), Fixed)
    e = dist({"dist": "exponential", "mean": 3})
    assert isinstance(e, Exponential) and e.mean == 3.0
    assert isinstance(dist(CASES["triangular-0-1-2"]), Triangular)
    lg = dist({"dist": "lognormal", "mean": 3, "sd": 1})
    assert isinstance(lg, Lognormal) and lg.mean == 3.0 and lg.sd == 1.0
    assert isinstance(dist(CASES["empirical-weighted"]), Empirical)


@pytest.mark.parametrize(
    "data",
    [
        True,  # YAML 1.1 'yes' must not become a number
        "5",  # a string is not a number (strict)
        None,
        -1,  # durations are >= 0
        float("nan"),
        float("inf"),
        MAX_PARAM * 10,
        {"value": 5},  # no 'dist'
        {"dist": "gamma", "shape": 2},
        {"dist": "fixed", "value": 5, "extra": 1},
        {"dist": "fixed", "value": -48},
        {"dist": "exponential", "mean": 0},
        {"dist": "exponential", "rate": 2},
        {"dist": "triangular", "low": 40, "mode": 24, "high": 30},
        {"dist": "triangular", "low": 1, "mode": 0, "high": 2},
        {"dist": "lognormal", "mean": 0, "sd": 1},
        {"dist": "lognormal", "mean": 1, "sd": -1},
        {"dist": "empirical", "values": []},
        {"dist": "empirical", "values": [1, 2], "weights": [1]},
        {"dist": "empirical", "values": [1, 2], "weights": [0, 0]},
        {"dist": "empirical", "values": [1, -2]},
    ],
)
def test_invalid_distributions_are_refused(data) -> None:
    """Vocabulary: bad names, parameters out of range or out of order are validation errors."""
    with pytest.raises(ValidationError):
        dist(data)


# -- durations drawn inside a simulation ---------------------------------------------------------------

SIM_PATIENTS = 3000
SIM_STEPS = {
    "apheresis": {"dist": "lognormal", "mean": 3, "sd": 2},
    "receipt": {"dist": "weibull", "shape": 1.5, "scale": 2},
    "ship_to_factory": {"dist": "empirical", "values": [6, 10, 30], "weights": [5, 3, 2]},
}


def _simulated_durations() -> dict[str, np.ndarray]:
    """Each step's durations (step_end - step_start) for every patient, read from the event log
    of one run of the tiny facility with 3,000 patients referred an hour apart."""
    d = tiny_data()
    d["referrals"] = {"times_h": [float(i) for i in range(SIM_PATIENTS)]}
    d["horizon_days"] = SIM_PATIENTS / 24 + 5
    d["sites"]["h"]["apheresis_chairs"] = 20
    d["apheresis"] = {"duration_h": SIM_STEPS["apheresis"]}
    d["receipt"] = {"duration_h": SIM_STEPS["receipt"]}  # no role: the step lasts its drawn duration
    d["couriers"][0]["transit_h"] = SIM_STEPS["ship_to_factory"]
    e = events_table(simulate(build(d), 0))
    out = {}
    for step in SIM_STEPS:
        s = e[e["step"] == step]
        start = s[s["kind"] == "step_start"].set_index("patient")["time_h"]
        end = s[s["kind"] == "step_end"].set_index("patient")["time_h"]
        both = start.index.intersection(end.index)
        out[step] = (end[both] - start[both]).sort_index()
    return out


def test_durations_drawn_inside_a_simulation_have_their_mean_and_variance() -> None:
    """Theory: the model draws a step's duration as ``dist.ppf(U)`` with U the patient's number
    from a stream named for the step (``World.u``); if those numbers are independent uniforms,
    the durations are independent draws of the distribution. So over the ~3,000 patients who
    finish each step, read back from the event log (step_end - step_start), the sample mean lies
    within 5 standard errors sqrt(var/n) of the distribution's mean and the sample variance
    within 5 standard errors sqrt((mu4 - var^2)/n) of its variance; and two steps' durations,
    drawn from different streams, are uncorrelated: |r| <= 5/sqrt(n)."""
    durations = _simulated_durations()
    for step, data in SIM_STEPS.items():
        d = dist(data)
        x = durations[step].to_numpy()
        n = len(x)
        assert n > 0.95 * SIM_PATIENTS, (step, n)
        se_mean = math.sqrt(d.variance / n)
        se_var = math.sqrt((fourth_central_moment(d) - d.variance**2) / n)
        print(f"{step} ({data['dist']}): n {n}, mean {x.mean():.4f} vs {d.mean:.4f} (se {se_mean:.4f}), "
              f"variance {x.var(ddof=1):.4f} vs {d.variance:.4f} (se {se_var:.4f})")
        assert abs(x.mean() - d.mean) <= Z * se_mean, (step, x.mean(), d.mean, se_mean)
        assert abs(x.var(ddof=1) - d.variance) <= Z * se_var, (step, x.var(ddof=1), d.variance, se_var)
    a, r = durations["apheresis"], durations["receipt"]
    common = a.index.intersection(r.index)
    corr = float(np.corrcoef(a[common], r[common])[0, 1])
    print(f"correlation apheresis/receipt durations: {corr:+.4f} (bound {Z / math.sqrt(len(common)):.4f})")
    assert abs(corr) <= Z / math.sqrt(len(common))
