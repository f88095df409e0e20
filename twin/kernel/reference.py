"""Reference implementations of the culture kernel: :func:`advance_numpy` (NumPy over
cultures, a Python loop over sub-steps) and :func:`advance_python` (pure Python with
:mod:`math`). Same signature and results (within rounding) as :func:`twin.kernel.compiled.advance`;
tests and benchmarks compare against them. No numba here."""

from __future__ import annotations

import math

import numpy as np

from twin.kernel.inputs import _MESSAGES, _check_numpy
from twin.kernel.params import KernelParams


def _substep_lengths(hours: float, dt: float) -> list[float]:
    nfull = int(hours // dt)
    rem = hours - nfull * dt
    return [dt] * nfull + ([rem] if rem > 0.0 else [])


def advance_numpy(
    hours: float,
    cells: np.ndarray,
    dead: np.ndarray,
    contam: np.ndarray,
    age_h: np.ndarray,
    temp_c: np.ndarray,
    co2_pct: np.ndarray,
    stress_h: np.ndarray,
    mu_per_h: np.ndarray,
    lag_h: np.ndarray,
    capacity_cells: np.ndarray,
    doubling_contam_h: np.ndarray,
    powered: np.ndarray,
    co2_supply: np.ndarray,
    perfused: np.ndarray,
    params_vec: np.ndarray,
) -> None:
    """Plain NumPy reference of :func:`advance`: array operations over cultures, a Python loop over
    sub-steps, the equations exactly as written in the module docstring. Same signature and units."""
    code = _check_numpy(hours, cells, dead, contam, age_h, temp_c, co2_pct, stress_h, mu_per_h, lag_h,
                        capacity_cells, doubling_contam_h, powered, co2_supply, perfused, params_vec)
    if code:
        raise ValueError(_MESSAGES[code])
    p = KernelParams.from_array(params_vec)
    pw = np.asarray(powered) != 0
    on = pw & (np.asarray(co2_supply) != 0)
    feed = np.where(np.asarray(perfused) != 0, 1.0, p.unfed_growth_factor)
    t_target = np.where(pw, p.temp_set_c, p.temp_ambient_c)
    c_target = np.where(on, p.co2_set_pct, p.co2_ambient_pct)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for h in _substep_lengths(hours, p.dt_h):
            # 1. chamber
            temp_c += (t_target - temp_c) * np.where(pw, -math.expm1(-h / p.temp_tau_on_h),
                                                     -math.expm1(-h / p.temp_tau_off_h))
            co2_pct += (c_target - co2_pct) * np.where(on, -math.expm1(-h / p.co2_tau_on_h),
                                                       -math.expm1(-h / p.co2_tau_off_h))
            # 2. excursion and dose
            x = (np.maximum(0.0, np.abs(temp_c - p.temp_set_c) - p.temp_tol_c) / p.temp_tol_c
                 + np.maximum(0.0, np.abs(co2_pct - p.co2_set_pct) - p.co2_tol_pct) / p.co2_tol_pct)
            stress_h += x * h
            # 3. growth past the lag (exact logistic step, stable form)
            h_grow = np.minimum(h, np.maximum(0.0, age_h + h - lag_h))
            r = mu_per_h * np.exp(-p.growth_stress_k * x) * feed
            one_minus_e = -np.expm1(-r * h_grow)  # 1 - e without cancellation when r * h_grow is tiny
            grown = cells / ((1.0 - one_minus_e) + (cells / capacity_cells) * one_minus_e)
            cells[:] = np.where(cells > 0.0, grown, 0.0)
            # 4. death
            d = (p.death_base_per_h
                 + p.death_plateau_per_h * np.maximum(0.0, cells / capacity_cells - p.plateau_fraction)
                 / (1.0 - p.plateau_fraction)
                 + p.death_stress_per_h * x)
            lost = cells * -np.expm1(-d * h)
            cells -= lost
            dead += lost
            # 5. contamination
            contam[:] = np.where(contam > 0.0, np.minimum(p.contam_max_cfu, contam * 2.0 ** (h / doubling_contam_h)),
                                 contam)
            # 6. age
            age_h += h


def advance_python(
    hours: float,
    cells: np.ndarray,
    dead: np.ndarray,
    contam: np.ndarray,
    age_h: np.ndarray,
    temp_c: np.ndarray,
    co2_pct: np.ndarray,
    stress_h: np.ndarray,
    mu_per_h: np.ndarray,
    lag_h: np.ndarray,
    capacity_cells: np.ndarray,
    doubling_contam_h: np.ndarray,
    powered: np.ndarray,
    co2_supply: np.ndarray,
    perfused: np.ndarray,
    params_vec: np.ndarray,
) -> None:
    """Pure-Python reference of :func:`advance` (loops and :mod:`math`); slow, for benchmarks and
    tiny test inputs. Same signature and units; arrays (or lists) updated in place."""
    code = _check_numpy(hours, np.asarray(cells), np.asarray(dead), np.asarray(contam), np.asarray(age_h),
                        np.asarray(temp_c), np.asarray(co2_pct), np.asarray(stress_h), np.asarray(mu_per_h),
                        np.asarray(lag_h), np.asarray(capacity_cells), np.asarray(doubling_contam_h),
                        np.asarray(powered), np.asarray(co2_supply), np.asarray(perfused), params_vec)
    if code:
        raise ValueError(_MESSAGES[code])
    p = KernelParams.from_array(params_vec)
    steps = _substep_lengths(hours, p.dt_h)
    for i in range(len(cells)):
        pw = powered[i] != 0
        on = pw and co2_supply[i] != 0
        feed = 1.0 if perfused[i] != 0 else p.unfed_growth_factor
        t_target = p.temp_set_c if pw else p.temp_ambient_c
        t_tau = p.temp_tau_on_h if pw else p.temp_tau_off_h
        c_target = p.co2_set_pct if on else p.co2_ambient_pct
        c_tau = p.co2_tau_on_h if on else p.co2_tau_off_h
        n, dd, c, age = float(cells[i]), float(dead[i]), float(contam[i]), float(age_h[i])
        t, co2, s = float(temp_c[i]), float(co2_pct[i]), float(stress_h[i])
        mu, lag, cap, dbl = float(mu_per_h[i]), float(lag_h[i]), float(capacity_cells[i]), float(doubling_contam_h[i])
        for h in steps:
            t += (t_target - t) * -math.expm1(-h / t_tau)
            co2 += (c_target - co2) * -math.expm1(-h / c_tau)
            x = (max(0.0, abs(t - p.temp_set_c) - p.temp_tol_c) / p.temp_tol_c
                 + max(0.0, abs(co2 - p.co2_set_pct) - p.co2_tol_pct) / p.co2_tol_pct)
            s += x * h
            h_grow = min(h, max(0.0, age + h - lag))
            if n > 0.0:
                r = mu * math.exp(-p.growth_stress_k * x) * feed
                one_minus_e = -math.expm1(-r * h_grow)
                n = n / ((1.0 - one_minus_e) + (n / cap) * one_minus_e)
            d = (p.death_base_per_h
                 + p.death_plateau_per_h * max(0.0, n / cap - p.plateau_fraction) / (1.0 - p.plateau_fraction)
                 + p.death_stress_per_h * x)
            lost = n * -math.expm1(-d * h)
            n -= lost
            dd += lost
            if c > 0.0:
                y = h / dbl  # float ** raises OverflowError past 2**1024 (NumPy gives inf): cap it the same way
                c = min(p.contam_max_cfu, c * 2.0 ** y) if y < 1024.0 else p.contam_max_cfu
            age += h
        cells[i], dead[i], contam[i], age_h[i] = n, dd, c, age
        temp_c[i], co2_pct[i], stress_h[i] = t, co2, s
