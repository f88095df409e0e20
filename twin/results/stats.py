"""Statistics over replications: KPI tables in long form, their means and 95% intervals."""

from __future__ import annotations

import math
from collections.abc import Iterable

import pandas as pd


def t_quantile_975(dof: int) -> float:
    """Two-sided 95% Student-t quantile for ``dof`` degrees of freedom."""
    from scipy.stats import t

    return float(t.ppf(0.975, dof))


def summarise(kpi_long: pd.DataFrame) -> pd.DataFrame:
    """Mean and 95% confidence interval (Student t over replications) of every KPI.

    Args:
        kpi_long: columns replication, kpi, value.
    Returns:
        one row per KPI: kpi, n, mean, sd, ci_low, ci_high (NaN interval when n < 2; the
        lower bound clipped at 0, as every KPI is non-negative).
    """
    rows = []
    for name, grp in kpi_long.groupby("kpi", sort=False):
        v = grp["value"].dropna().to_numpy(dtype=float)
        n = len(v)
        mean = float(v.mean()) if n else math.nan
        sd = float(v.std(ddof=1)) if n > 1 else math.nan
        half = t_quantile_975(n - 1) * sd / math.sqrt(n) if n > 1 else math.nan
        # Every KPI here is non-negative, so the interval is clipped at zero.
        rows.append(
            {"kpi": name, "n": n, "mean": mean, "sd": sd, "ci_low": max(mean - half, 0.0), "ci_high": mean + half}
        )
    return pd.DataFrame(rows)


#: KPI families that exist only where something happened: absent means zero.
ZERO_WHEN_ABSENT = ("lost_by_cause.", "failed_by_cause.", "delay_h.", "backup_h.")


def complete_kpis(long: pd.DataFrame, names: Iterable[str] = ()) -> pd.DataFrame:
    """Add a 0 for every replication that lacks a KPI of the :data:`ZERO_WHEN_ABSENT` families
    (those in the table, plus ``names``), so means, intervals and paired differences count
    the replications where nothing happened."""
    if long.empty:
        return long
    reps = long["replication"].unique()
    wanted = {k for k in set(long["kpi"]) | set(names) if k.startswith(ZERO_WHEN_ABSENT)}
    have = set(zip(long["replication"], long["kpi"]))
    extra = [{"replication": r, "kpi": k, "value": 0.0} for k in sorted(wanted) for r in reps if (r, k) not in have]
    return pd.concat([long, pd.DataFrame(extra)], ignore_index=True) if extra else long


def kpi_long(per_rep: Iterable[tuple[int, dict[str, float]]]) -> pd.DataFrame:
    """Long KPI table from (replication, kpi dict) pairs (see :func:`complete_kpis`)."""
    return complete_kpis(pd.DataFrame(
        [{"replication": r, "kpi": k, "value": v} for r, d in per_rep for k, v in d.items()]
    ))
