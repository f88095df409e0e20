"""Statistics over replications: KPI tables in long form, their means and 95% intervals.

A replication is the independent unit: patients of one replication share its queues, outages
and staff, so their outcomes are correlated and no interval here treats patients as independent
draws (that is why a pooled-proportion interval such as Wilson's is *not* used for the patient
fractions). Every interval is for the mean over replications, from Student t with n - 1 degrees
of freedom, computed on a scale where the KPI's bounds cannot be crossed (see :func:`summarise`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

#: Fewer replications than this and an interval is flagged as not usable: the t quantile is
#: 2.78 at n = 5 but 4.30 at 3 and 12.7 at 2, and the sd itself rests on under 4 degrees of
#: freedom (assumption: the usual rule of thumb for terminating simulations).
MIN_REPLICATIONS = 5

#: KPIs that are fractions in [0, 1] (by name): utilisation and availability per pool, the
#: outcome fractions and the mean harvest viability.
FRACTION_PREFIXES = ("utilisation.", "availability.")
FRACTION_NAMES = ("harvest_viability_mean",)

#: KPIs that count patients (by name): whole numbers per replication.
COUNT_NAMES = ("referred", "infused", "failed", "dropped_out", "lost", "infused_out_of_spec", "in_progress", "resolved",
               "contaminated_infused")
COUNT_PREFIXES = ("lost_by_cause.", "failed_by_cause.")

#: The KPIs ``--precision`` waits for (those a run measures; the others are skipped).
PRECISION_KPIS = ("vein_to_vein_median_days", "vein_to_vein_p90_days", "throughput_per_year", "cost_per_dose")

SUMMARY_COLUMNS = ["kpi", "n", "mean", "sd", "ci_low", "ci_high", "method", "constant", "warning"]


def t_quantile_975(dof: int) -> float:
    """Two-sided 95% Student-t quantile for ``dof`` degrees of freedom."""
    from scipy.stats import t

    return float(t.ppf(0.975, dof))


def is_count(name: str) -> bool:
    """Whether KPI ``name`` counts patients (see :data:`COUNT_NAMES`; ``<kpi>@<period>`` as its KPI)."""
    name = name.partition("@")[0]
    return name in COUNT_NAMES or name.startswith(COUNT_PREFIXES)


def is_fraction(name: str) -> bool:
    """Whether KPI ``name`` is a fraction in [0, 1] (see :data:`FRACTION_PREFIXES`; ``<kpi>@<period>`` as its KPI)."""
    name = name.partition("@")[0]
    return name.startswith(FRACTION_PREFIXES) or name in FRACTION_NAMES or "_fraction" in name


@dataclass(frozen=True)
class Interval:
    """A KPI's mean over replications and its 95% interval (see :func:`interval`)."""

    n: int
    mean: float
    sd: float
    low: float
    high: float
    method: str  # constant, t, sqrt-t, log-t, logit-t, none (n < 2)
    constant: bool
    warning: str  # "" when the interval is usable


def interval(name: str, values: np.ndarray) -> Interval:
    """Mean and 95% interval of KPI ``name`` over replications (NaN values left out).

    Which method, by KPI family:

    * every replication the same value (a fixed cost, no losses at all, a fully used pool):
      ``constant``, ``low = high = mean``; there is no sampling error to show.
    * fractions (:func:`is_fraction`: utilisation, availability, ``*_fraction_of_*``, mean
      viability), values in [0, 1]: ``logit-t``, the t interval of the mean on the logit scale
      by the delta method, logit(m) +- t * se / (m (1 - m)), mapped back, so it stays inside
      (0, 1) (a replication at exactly 0 or 1 is fine: only the mean must be inside).
    * patient counts (:func:`is_count`): ``sqrt-t``, the t interval on the square-root scale
      (variance-stabilising for counts), (sqrt(m) +- t * se / (2 sqrt(m)))^2 with the lower end
      clipped at 0 on that scale; one loss in five replications gives [0, 1.14], close to the
      exact Poisson interval [0.005, 1.11], where plain t gives [-0.36, 0.76].
    * every other KPI with no negative value (days, hours, throughput, costs): ``log-t``, the t
      interval on the log scale, m * exp(+-t * se / m), so it stays above 0; wider above the
      mean than below, as the sampling distribution of a positive, skewed mean is.
    * a KPI with a negative value (none today): the plain t interval ``t``.
    * one replication: no interval (``none``).

    ``warning`` says why an interval is not usable: fewer than :data:`MIN_REPLICATIONS`
    replications, or a half-width ((high - low) / 2) larger than the mean.
    """
    v = values[~np.isnan(values)].astype(float)
    n = len(v)
    if (done := _degenerate(v)) is not None:
        return done
    mean, sd, half = _t_half_width(v)
    if is_fraction(name) and v.min() >= 0.0 and v.max() <= 1.0:
        c, scale = math.log(mean / (1.0 - mean)), half / (mean * (1.0 - mean))
        low, high, method = _expit(c - scale), _expit(c + scale), "logit-t"
    elif is_count(name) and v.min() >= 0.0:
        root, scale = math.sqrt(mean), half / (2.0 * math.sqrt(mean))
        low, high, method = max(root - scale, 0.0) ** 2, (root + scale) ** 2, "sqrt-t"
    elif v.min() >= 0.0:
        low, high, method = mean * math.exp(-half / mean), mean * math.exp(half / mean), "log-t"
    else:
        low, high, method = mean - half, mean + half, "t"
    return Interval(n, mean, sd, low, high, method, False, _warning(n, mean, (high - low) / 2))


def _degenerate(v: np.ndarray) -> Interval | None:
    """The interval of ``v`` (no NaN) when it has none to compute: no value, one, or every value
    the same (``constant``); else None."""
    n = len(v)
    if n == 0:
        return Interval(0, math.nan, math.nan, math.nan, math.nan, "none", False, "not measured")
    mean = float(v.mean())
    if n > 1 and float(np.ptp(v)) <= 1e-12 * max(1.0, abs(mean)):
        return Interval(n, mean, 0.0, mean, mean, "constant", True, "")
    if n == 1:
        return Interval(1, mean, math.nan, math.nan, math.nan, "none", False, "1 replication: no interval")
    return None


def _t_half_width(v: np.ndarray) -> tuple[float, float, float]:
    """Mean, standard deviation and the 95% Student-t half-width of the mean of ``v``."""
    n = len(v)
    sd = float(v.std(ddof=1))
    return float(v.mean()), sd, t_quantile_975(n - 1) * sd / math.sqrt(n)


def paired_interval(values: np.ndarray) -> Interval:
    """Mean of per-replication paired differences (or of per-replication ratios of them) and its
    95% Student-t interval, on the plain scale (a difference may be negative; NaN values left
    out). Every replication the same value (e.g. a backup that covers an outage fully, so every
    difference is 0): ``constant``, ``low = high = mean``."""
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    n = len(v)
    if (done := _degenerate(v)) is not None:
        return done
    mean, sd, half = _t_half_width(v)
    warn = f"{n} replications (< {MIN_REPLICATIONS}): interval not usable" if n < MIN_REPLICATIONS else ""
    return Interval(n, mean, sd, mean - half, mean + half, "t", False, warn)


def _expit(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


def _warning(n: int, mean: float, half: float) -> str:
    if n < MIN_REPLICATIONS:
        return f"{n} replications (< {MIN_REPLICATIONS}): interval not usable"
    if half > abs(mean):
        return "half-width exceeds the mean: interval not usable"
    return ""


def summarise(kpi_long: pd.DataFrame) -> pd.DataFrame:
    """Mean and 95% interval over replications of every KPI (methods: :func:`interval`).

    Args:
        kpi_long: columns replication, kpi, value.
    Returns:
        one row per KPI: kpi, n, mean, sd, ci_low, ci_high, method, constant (every
        replication the same value; then ci_low = ci_high = mean), warning ("" or why the
        interval is not usable). NaN interval when n < 2.
    """
    rows = []
    for name, grp in kpi_long.groupby("kpi", sort=False):
        iv = interval(str(name), grp["value"].to_numpy(dtype=float))
        rows.append({"kpi": name, "n": iv.n, "mean": iv.mean, "sd": iv.sd, "ci_low": iv.low, "ci_high": iv.high,
                     "method": iv.method, "constant": iv.constant, "warning": iv.warning})
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def few_replications_warning(n_replications: int) -> str:
    """The warning that ``n_replications`` are too few for a usable 95% interval ("" if enough)."""
    if n_replications >= MIN_REPLICATIONS:
        return ""
    return (f"only {n_replications} replication{'s' if n_replications != 1 else ''}: fewer than "
            f"{MIN_REPLICATIONS} give no usable 95% interval; use --replications or --precision")


def summary_warnings(summary: pd.DataFrame, n_replications: int, names: Iterable[str] = ()) -> list[str]:
    """Plain-language warnings for a run: too few replications, and the KPIs among ``names``
    (default: every KPI) whose interval is wider than their mean."""
    out = [few] if (few := few_replications_warning(n_replications)) else []
    wanted = set(names)
    wide = [r.kpi for r in summary.itertuples(index=False)
            if (not wanted or r.kpi in wanted) and r.warning.startswith("half-width")]
    if wide:
        out.append("interval wider than the mean (more replications needed): " + ", ".join(wide))
    return out


def precision_status(summary: pd.DataFrame, rel: float, kpis: Iterable[str] = PRECISION_KPIS) -> dict:
    """Whether each of ``kpis`` (those measured) has a 95% half-width ((ci_high - ci_low) / 2)
    under ``rel`` times its mean, with at least :data:`MIN_REPLICATIONS` replications.

    Returns:
        ``{"reached": bool, "kpis": {name: {"rel_half_width": x or None, "reached": bool}}}``;
        a KPI never measured (no costs section, no infusion) is left out; a constant counts
        as reached.
    """
    by = {r.kpi: r for r in summary.itertuples(index=False)}
    out: dict[str, dict] = {}
    for k in kpis:
        r = by.get(k)
        if r is None or r.n == 0:
            continue
        half = (r.ci_high - r.ci_low) / 2
        rh = 0.0 if r.constant else (half / abs(r.mean) if r.mean and math.isfinite(half) else math.inf)
        out[k] = {"rel_half_width": rh if math.isfinite(rh) else None,
                  "reached": bool(r.n >= MIN_REPLICATIONS and rh < rel)}
    return {"reached": bool(out) and all(v["reached"] for v in out.values()), "kpis": out}


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
