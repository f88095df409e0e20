"""Global sensitivity of a KPI to a sweep's axes, for random and Latin-hypercube designs.

Two measures, both with 95% bootstrap intervals (points resampled with replacement,
:data:`BOOTSTRAP` times, percentile interval; the seed is fixed so a report is reproducible):

* **SRC**, standardised regression coefficients: the least-squares slopes of the KPI on all axes
  at once, each axis and the KPI scaled to unit standard deviation. SRC_i is how many standard
  deviations the KPI moves per standard deviation of axis i with the others held fixed; for a
  response close to linear (R^2 near 1) SRC_i^2 is axis i's share of the variance.
* **PRCC**, partial rank correlation coefficients: the correlation between the ranks of axis i
  and of the KPI once the (ranks of the) other axes are regressed out of both. It needs only a
  monotone response, not a linear one, and lies in [-1, 1].

Why not a "KPI at the axis's lowest and highest value": in a random or Latin-hypercube design
each such value is one point, where every other axis is somewhere random too, so its swing is
mostly the other axes' noise. Why not Morris or Sobol indices: they need their own designs
(trajectories, Saltelli samples), not the random/LHS points a sweep file already has; SRC and
PRCC are computed from those with NumPy alone.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

BOOTSTRAP = 1000
"""Bootstrap resamples for the intervals (assumption: enough for stable 2.5/97.5% percentiles)."""

SENSITIVITY_COLUMNS = ["axis", "measure", "value", "ci_low", "ci_high", "n_points", "r2"]


def _standardise(a: np.ndarray) -> np.ndarray:
    sd = a.std(axis=0, ddof=1)
    return (a - a.mean(axis=0)) / np.where(sd > 0, sd, 1.0)


def src(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    """Standardised regression coefficients of ``y`` (n) on the columns of ``x`` (n x d), and R^2."""
    xs, ys = _standardise(x), _standardise(y[:, None])[:, 0]
    coef, *_ = np.linalg.lstsq(np.column_stack([np.ones(len(ys)), xs]), ys, rcond=None)
    fit = np.column_stack([np.ones(len(ys)), xs]) @ coef
    ss = float(((ys - ys.mean()) ** 2).sum())
    r2 = 1.0 - float(((ys - fit) ** 2).sum()) / ss if ss > 0 else float("nan")
    return coef[1:], r2


def _ranks(a: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    return rankdata(a, axis=0)


def prcc(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Partial rank correlation coefficient of ``y`` with each column of ``x``."""
    rx, ry = _ranks(x), _ranks(y[:, None])[:, 0]
    n, d = rx.shape
    out = np.full(d, np.nan)
    for i in range(d):
        others = np.column_stack([np.ones(n), np.delete(rx, i, axis=1)])
        res_x = rx[:, i] - others @ np.linalg.lstsq(others, rx[:, i], rcond=None)[0]
        res_y = ry - others @ np.linalg.lstsq(others, ry, rcond=None)[0]
        den = float(np.sqrt((res_x**2).sum() * (res_y**2).sum()))
        out[i] = float((res_x * res_y).sum()) / den if den > 0 else np.nan
    return out


def sensitivity(points: pd.DataFrame, axes: list[str], kpi: str, seed: int = 0) -> pd.DataFrame:
    """SRC and PRCC of column ``kpi`` of ``points`` (one row per point: the axes' values and
    the KPI's mean over replications) on the numeric ``axes`` that vary, with bootstrap 95%
    intervals; sorted by |SRC|, largest first. Empty when fewer points than axes + 3."""
    num = [a for a in axes if pd.api.types.is_numeric_dtype(points[a]) and points[a].nunique() > 1]
    d = points[[*num, kpi]].dropna()
    if not num or len(d) < len(num) + 3:
        return pd.DataFrame(columns=SENSITIVITY_COLUMNS)
    x, y = d[num].to_numpy(dtype=float), d[kpi].to_numpy(dtype=float)
    s, r2 = src(x, y)
    p = prcc(x, y)
    rng = np.random.default_rng(seed)
    boot_s, boot_p = [], []
    for _ in range(BOOTSTRAP):
        idx = rng.integers(0, len(y), len(y))
        if np.ptp(y[idx]) == 0 or np.any(np.ptp(x[idx], axis=0) == 0):
            continue
        boot_s.append(src(x[idx], y[idx])[0])
        boot_p.append(prcc(x[idx], y[idx]))
    bs, bp = np.array(boot_s), np.array(boot_p)
    rows = []
    for i, a in enumerate(num):
        for name, val, b in (("SRC", s[i], bs), ("PRCC", p[i], bp)):
            lo, hi = (np.nanpercentile(b[:, i], [2.5, 97.5]) if len(b) else (np.nan, np.nan))
            rows.append({"axis": a, "measure": name, "value": float(val), "ci_low": float(lo), "ci_high": float(hi),
                         "n_points": len(y), "r2": r2})
    out = pd.DataFrame(rows, columns=SENSITIVITY_COLUMNS)
    order = {a: -abs(v) for a, v in zip(num, s)}
    return out.sort_values(["axis"], key=lambda c: c.map(order), kind="stable").reset_index(drop=True)


OAT_COLUMNS = ["axis", "base_value", "low_value", "high_value", "kpi_at_base", "kpi_at_low", "kpi_at_high", "swing"]


def oat_table(points: pd.DataFrame, axes: list[str], kpi: str) -> pd.DataFrame:
    """A one-at-a-time design's tornado: per axis, the KPI at the base point (every axis at its
    base value, the value most points share) and with that axis alone at its lowest and highest
    value; ``swing`` = |high - low|, smallest first (a tornado draws the largest on top)."""
    base = {a: points[a].mode().iloc[0] for a in axes}
    at_base = points[np.logical_and.reduce([points[a] == base[a] for a in axes])]
    if at_base.empty:
        return pd.DataFrame(columns=OAT_COLUMNS)
    k0 = float(at_base[kpi].mean())
    rows = []
    for a in axes:
        others = [b for b in axes if b != a]
        line = points[np.logical_and.reduce([points[b] == base[b] for b in others])] if others else points
        line = line.sort_values(a)
        if line[a].nunique() < 2:
            continue
        lo, hi = line.iloc[0], line.iloc[-1]
        rows.append({"axis": a, "base_value": base[a], "low_value": lo[a], "high_value": hi[a], "kpi_at_base": k0,
                     "kpi_at_low": float(lo[kpi]), "kpi_at_high": float(hi[kpi]),
                     "swing": abs(float(hi[kpi]) - float(lo[kpi]))})
    return pd.DataFrame(rows, columns=OAT_COLUMNS).sort_values("swing", kind="stable").reset_index(drop=True)
