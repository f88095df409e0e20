"""Culture kernel against theory: closed forms the model must reproduce exactly (to rounding),
and the order properties it must keep. Each test's docstring names the theory. Every analytic test
runs on the numba kernel and on the NumPy reference."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twin.kernel import compiled, detection, params, reference

KERNELS = pytest.mark.parametrize("kernel", [compiled.advance, reference.advance_numpy], ids=["numba", "numpy"])
ON = np.ones(1, np.uint8)
OFF = np.zeros(1, np.uint8)
NO_DEATH = dict(death_base_per_h=0.0, death_plateau_per_h=0.0, death_stress_per_h=0.0)


def culture(n: int = 1, **values: float | np.ndarray) -> dict[str, np.ndarray]:
    """n identical cultures at setpoint, sterile, powered, fed; override any array by name."""
    c = {
        "cells": 1e6, "dead": 0.0, "contam": 0.0, "age_h": 0.0, "temp_c": 37.0, "co2_pct": 5.0, "stress_h": 0.0,
        "mu_per_h": 0.02, "lag_h": 0.0, "capacity_cells": 1e300, "doubling_contam_h": 1.0,
    }
    c.update(values)
    out = {k: np.broadcast_to(np.asarray(v, dtype=np.float64), (n,)).copy() for k, v in c.items()}
    for k in ("powered", "co2_supply", "perfused"):
        out[k] = np.broadcast_to(np.asarray(values.get(k, 1), dtype=np.uint8), (n,)).copy()
    return out


def run(kernel, c: dict[str, np.ndarray], hours: float, params: params.KernelParams, **env: np.ndarray) -> None:
    e = {k: env.get(k, c[k]) for k in ("powered", "co2_supply", "perfused")}
    kernel(hours, c["cells"], c["dead"], c["contam"], c["age_h"], c["temp_c"], c["co2_pct"], c["stress_h"],
           c["mu_per_h"], c["lag_h"], c["capacity_cells"], c["doubling_contam_h"], e["powered"], e["co2_supply"],
           e["perfused"], params.as_array())


@KERNELS
@pytest.mark.parametrize("dt", [1.0, 0.3, 2.5])
def test_pure_exponential_growth_after_lag(kernel, dt):
    """Theory: dN/dt = mu N for t > lag, N constant before (logistic with K -> infinity, no death,
    no stress, fed): N(t) = N0 exp(mu max(0, t - lag)). The lag ends inside a sub-step (lag 10.4 h),
    so this also checks that only the time past the lag grows. Ages 0..300 h in uneven calls."""
    p = params.KernelParams(dt_h=dt, **NO_DEATH)
    mu, lag, n0 = 0.0111, 10.4, 5e7
    c = culture(cells=n0, mu_per_h=mu, lag_h=lag)
    t = 0.0
    for hours in (3.0, 7.7, 0.05, 40.0, 0.0, 100.25, 149.0):
        run(kernel, c, hours, p)
        t += hours
        expected = n0 * math.exp(mu * max(0.0, t - lag))
        assert c["cells"][0] == pytest.approx(expected, rel=1e-12)
        assert c["age_h"][0] == pytest.approx(t, rel=1e-13)
    assert c["dead"][0] == 0.0 and c["stress_h"][0] == 0.0


@KERNELS
@pytest.mark.parametrize("dt", [1.0, 0.7])
@pytest.mark.parametrize("n0_over_k", [1e-6, 0.01, 0.5, 0.99, 3.0])
def test_logistic_growth_matches_closed_form(kernel, dt, n0_over_k):
    """Theory: Verhulst logistic dN/dt = r N (1 - N/K) has N(t) = K / (1 + (K/N0 - 1) exp(-r t)); the
    kernel's exact step composes to it for any dt (no death, no lag, at setpoint). N0 > K decays to K."""
    p = params.KernelParams(dt_h=dt, **NO_DEATH)
    k, r = 2e9, 0.03
    n0 = n0_over_k * k
    c = culture(cells=n0, mu_per_h=r, capacity_cells=k)
    t = 0.0
    for hours in (5.0, 24.5, 100.0, 300.0):
        run(kernel, c, hours, p)
        t += hours
        expected = k / (1.0 + (k / n0 - 1.0) * math.exp(-r * t))
        assert c["cells"][0] == pytest.approx(expected, rel=1e-11)


@pytest.mark.parametrize("kernel,max_hours", [(compiled.advance, 1e5), (reference.advance_numpy, 500.0)], ids=["numba", "numpy"])
@settings(max_examples=30, deadline=None)
@given(fraction=st.one_of(st.floats(0, 1), st.sampled_from([0.0, 1e-300, 1.0])),
       powered=st.integers(0, 1), co2=st.integers(0, 1), doubling=st.floats(1e-3, 1e3))
def test_sterile_culture_stays_sterile(kernel, max_hours, fraction, powered, co2, doubling):  # noqa: PLR0913 (one argument per parameter and strategy)
    """Theory: contaminant growth is multiplicative (dC/dt = C ln2 / t_d), so C = 0 is a fixed point:
    zero contamination stays exactly zero for any number of hours (up to 1e5 h here), any conditions."""
    c = culture(n=3, contam=0.0, doubling_contam_h=doubling, powered=powered, co2_supply=co2)
    run(kernel, c, fraction * max_hours, params.KernelParams())
    assert np.all(c["contam"] == 0.0)


@KERNELS
@pytest.mark.parametrize("doubling", [0.5, 1.0, 3.0, 7.3])
def test_contaminant_doubles_every_doubling_time_until_the_cap(kernel, doubling):
    """Theory: C(t) = C0 2^(t / t_d), capped at contam_max (saturating load), independent of dt."""
    p = params.KernelParams(contam_max_cfu=1e9, dt_h=0.4)
    c = culture(contam=1.0, doubling_contam_h=doubling)
    for k in range(1, 6):
        run(kernel, c, doubling, p)
        assert c["contam"][0] == pytest.approx(2.0**k, rel=1e-12)
    run(kernel, c, 40 * doubling, p)  # 2^45 > 1e9
    assert c["contam"][0] == 1e9


@KERNELS
@pytest.mark.parametrize("dt", [1.0, 0.25, 2.0])
def test_chamber_relaxes_exponentially_with_its_time_constant(kernel, dt):
    """Theory: Newton's law of cooling / first-order gas exchange: without power T(t) = Ta + (T0 - Ta)
    exp(-t/tau_off) and CO2(t) = Ca + (C0 - Ca) exp(-t/tau_co2_off); after power returns both relax
    to setpoint with tau_on. Exact for any dt (each sub-step is the exact solution)."""
    p = params.KernelParams(dt_h=dt)
    c = culture()
    t = 0.0
    for hours in (0.5, 2.0, 3.5, 6.0):
        run(kernel, c, hours, p, powered=OFF, co2_supply=OFF, perfused=OFF)
        t += hours
        assert c["temp_c"][0] == pytest.approx(21.0 + 16.0 * math.exp(-t / 3.0), rel=1e-13)
        assert c["co2_pct"][0] == pytest.approx(0.04 + 4.96 * math.exp(-t / 2.0), rel=1e-13)
    t_off, c_off = c["temp_c"][0], c["co2_pct"][0]
    run(kernel, c, 1.5, p)
    assert c["temp_c"][0] == pytest.approx(37.0 + (t_off - 37.0) * math.exp(-1.5 / 0.5), rel=1e-13)
    assert c["co2_pct"][0] == pytest.approx(5.0 + (c_off - 5.0) * math.exp(-1.5 / 0.5), rel=1e-13)


@KERNELS
def test_co2_without_supply_leaks_even_when_powered(kernel):
    """Theory: same first-order exchange, CO2 only: temperature stays at setpoint, CO2 decays with
    tau_co2_off, and the stress dose is the integral of the excursion (only CO2 contributes)."""
    p = params.KernelParams(dt_h=1.0)
    c = culture()
    run(kernel, c, 10.0, p, co2_supply=OFF)
    assert c["temp_c"][0] == 37.0
    co2 = [0.04 + 4.96 * math.exp(-h / 2.0) for h in range(1, 11)]
    dose = sum(max(0.0, abs(v - 5.0) - 1.0) / 1.0 for v in co2)
    assert c["co2_pct"][0] == pytest.approx(co2[-1], rel=1e-13)
    assert c["stress_h"][0] == pytest.approx(dose, rel=1e-12)


@dataclass(frozen=True)
class Seed:
    """A culture at the start: ``n0`` viable cells (and 5% as many dead), capacity ``k`` (cells),
    growth rate ``mu`` (per h) after a lag of ``lag`` hours."""

    n0: float
    k: float
    mu: float
    lag: float


@dataclass(frozen=True)
class Cut:
    """An outage from ``start_h`` for ``hours`` in a run to ``end_h`` (whole hours): ``mode``
    ``power`` loses power with CO2 and feed, ``co2`` only CO2."""

    mode: str
    start_h: int
    hours: int
    end_h: int


def _outage_run(seed: Seed, cut: Cut, params: params.KernelParams) -> tuple[float, float]:
    """Culture grows until the cut, loses what it takes for its hours, then runs normally until
    its end. Returns viable cells and viability at the end. Whole hours, dt = 1 h, so every run
    shares the same sub-step grid."""
    c = culture(cells=seed.n0, dead=0.05 * seed.n0, mu_per_h=seed.mu, lag_h=seed.lag, capacity_cells=seed.k)
    run(compiled.advance, c, float(cut.start_h), params)
    env = dict(powered=OFF, co2_supply=OFF, perfused=OFF) if cut.mode == "power" else dict(co2_supply=OFF)
    run(compiled.advance, c, float(cut.hours), params, **env)
    run(compiled.advance, c, float(cut.end_h - cut.start_h - cut.hours), params)
    cells, dead = c["cells"][0], c["dead"][0]
    return cells, cells / (cells + dead)


outage_cases = dict(
    mode=st.sampled_from(["power", "co2"]),
    h1=st.integers(0, 48), extra=st.integers(0, 48),
    n0=st.floats(1e5, 1e9), mu=st.floats(1e-3, 0.3), lag=st.floats(0, 72),
    start=st.integers(0, 200), after=st.integers(0, 200),
)


@settings(max_examples=60, deadline=None)
@given(k_over_n0=st.floats(1.0, 1e4), **outage_cases)
def test_longer_outage_never_gives_more_viable_cells(mode, h1, extra, n0, mu, lag, start, after, k_over_n0):  # noqa: PLR0913 (one argument per hypothesis strategy)
    """Theory (comparison principle for an order-preserving scalar map): every step is increasing in
    N (exact logistic step; death N exp(-d(N) dt) while death_plateau/(1-plateau_fraction)*dt*N/K <= 1)
    and decreasing in the excursion x; a longer outage gives x at least as large at every sub-step
    (the chamber is further from setpoint and relaxes back without overshoot). So viable cells at
    the end never increase with outage length, near capacity too."""
    p = params.KernelParams()
    end = start + h1 + extra + after
    seed = Seed(n0, k_over_n0 * n0, mu, lag)
    short = _outage_run(seed, Cut(mode, start, h1, end), p)
    long = _outage_run(seed, Cut(mode, start, h1 + extra, end), p)
    assert long[0] <= short[0] * (1 + 1e-12)


@settings(max_examples=60, deadline=None)
@given(**outage_cases)
def test_longer_outage_never_gives_higher_viability_in_exponential_growth(mode, h1, extra, n0, mu, lag, start,  # noqa: PLR0913 (one argument per hypothesis strategy)
                                                                           after):
    """Theory: far below capacity the dead-to-viable ratio rho = D/N obeys, per sub-step,
    rho' = rho exp(-(r - d) dt) + expm1(d dt): increasing in rho and in the death rate d, decreasing
    in the growth rate r. A longer outage has d >= and r <= at every sub-step, so rho is never lower
    and viability = 1/(1 + rho) never higher at the end. (Near capacity this does NOT hold in the
    model: a culture knocked back by a longer outage escapes crowding death and is diluted by faster
    logistic regrowth; the property is tested where the theory applies.)"""
    p = params.KernelParams()
    end = start + h1 + extra + after
    seed = Seed(n0, 1e300, mu, lag)
    short = _outage_run(seed, Cut(mode, start, h1, end), p)
    long = _outage_run(seed, Cut(mode, start, h1 + extra, end), p)
    assert long[0] <= short[0] * (1 + 1e-12)
    assert long[1] <= short[1] * (1 + 1e-12)


@settings(max_examples=40, deadline=None)
@given(ambient=st.floats(0, 36), colder=st.floats(0, 20), hours=st.integers(1, 24), after=st.integers(0, 100),
       mu=st.floats(1e-3, 0.1))
def test_colder_room_during_a_power_cut_is_never_better(ambient, colder, hours, after, mu):
    """Theory: as above, with a larger excursion instead of a longer one: a colder room (lower
    temp_ambient_c) makes |T - setpoint| at least as large at every sub-step of the same power cut,
    so neither viable cells nor (far below capacity) viability at the end can be higher."""
    results = []
    for amb in (ambient, max(0.0, ambient - colder)):
        p = params.KernelParams(temp_ambient_c=amb)
        results.append(_outage_run(Seed(1e8, 1e300, mu, 0.0), Cut("power", 24, hours, 24 + hours + after), p))
    warm, cold = results
    assert cold[0] <= warm[0] * (1 + 1e-12)
    assert cold[1] <= warm[1] * (1 + 1e-12)


@settings(max_examples=200, deadline=None)
@given(cfu=st.floats(0, 1e6), fraction=st.floats(0, 1), fn=st.floats(0, 1))
def test_detection_probability_closed_form(cfu, fraction, fn):
    """Theory: organisms in a sample that takes fraction f of a product holding C CFU are Poisson
    with mean C f (random sampling of well-mixed organisms), so P(at least one) = 1 - exp(-C f);
    a method missing a positive sample with probability q detects with (1 - exp(-C f)) (1 - q)."""
    expected = (1.0 - math.exp(-cfu * fraction)) * (1.0 - fn)
    got = detection.detection_probability(cfu, fraction, fn)
    assert got == pytest.approx(expected, rel=1e-12, abs=1e-15)
    assert 0.0 <= got <= 1.0


def test_detection_probability_poisson_by_simulation():
    """Theory: the Poisson thinning argument checked by simulation: draw the organisms in each of
    200,000 samples binomially (each of C organisms lands in the sample with probability f), then
    miss with probability q; the detected fraction matches the closed form within 4 standard errors."""
    rng = np.random.default_rng(20261125)
    cfu, f, q, n = 40, 0.05, 0.1, 200_000
    hits = (rng.binomial(cfu, f, n) > 0) & (rng.random(n) >= q)
    exact_binomial = (1 - (1 - f) ** cfu) * (1 - q)
    poisson = detection.detection_probability(cfu, f, q)
    se = math.sqrt(exact_binomial * (1 - exact_binomial) / n)
    assert abs(hits.mean() - exact_binomial) < 4 * se
    assert abs(poisson - exact_binomial) < 0.01  # Poisson limit of the binomial (f small)
