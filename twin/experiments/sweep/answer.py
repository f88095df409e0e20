"""Summaries of a sweep: KPI mean and 95% CI per point, and the planner's answer."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from twin.experiments.sweep.spec import Plan
from twin.results.sensitivity import SENSITIVITY_COLUMNS, oat_table, sensitivity
from twin.results.stats import SUMMARY_COLUMNS, complete_kpis, summarise


def point_summary(plan: Plan, runs: pd.DataFrame) -> pd.DataFrame:
    """Long table: one row per (point, KPI) with the axis values, the columns of
    :func:`twin.results.stats.summarise` (n, mean, sd, ci_low, ci_high, method, constant,
    warning), and the point's count of failed tasks."""
    axes = list(plan.spec.axes)
    points = pd.DataFrame(plan.points)
    ok = runs[runs["status"] == "ok"]
    parts = []
    for pid, grp in ok.groupby("point_id", sort=False):
        s = summarise(complete_kpis(grp[["replication", "kpi", "value"]]))
        s.insert(0, "point_id", pid)
        parts.append(s)
    summary = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        columns=["point_id", *SUMMARY_COLUMNS])
    failed = runs[runs["status"] == "failed"].groupby("point_id")["scenario_id"].nunique()
    summary["failed_tasks"] = summary["point_id"].map(failed).fillna(0).astype(int)
    return points[["point_id", *axes]].merge(summary, on="point_id", how="right")


def wide(summary: pd.DataFrame, plan: Plan, kpis: list[str]) -> pd.DataFrame:
    """One row per point: axis values and the mean of each KPI in ``kpis``."""
    axes = list(plan.spec.axes)
    sub = summary[summary["kpi"].isin(kpis)]
    table = sub.pivot_table(index=["point_id", *axes], columns="kpi", values="mean", aggfunc="first")
    return table.reindex(columns=[k for k in kpis if k in table.columns]).reset_index()


SENSITIVITY_KPIS = ("vein_to_vein_p90_days", "vein_to_vein_median_days", "throughput_per_year",
                    "dropped_out_fraction_of_resolved")
"""KPIs whose sensitivity a sweep reports by default (with its targets' KPIs)."""


def sensitivity_table(plan: Plan, summary: pd.DataFrame, kpis: list[str] | None = None) -> pd.DataFrame:
    """How each axis drives each KPI (means over replications per point), by the design:
    random and lhs: SRC and PRCC with bootstrap 95% intervals (:func:`twin.results.sensitivity.sensitivity`);
    oat: the one-at-a-time swing from the base point (:func:`~twin.results.sensitivity.oat_table`,
    measure ``OAT``, value = KPI at high - KPI at low); grid: none (the report's main-effect
    tornado averages over a full factorial). Long: kpi, axis, measure, value, ci_low, ci_high, ..."""
    design = plan.spec.design
    names = list(dict.fromkeys([*plan.spec.targets, *(kpis or SENSITIVITY_KPIS)]))
    axes = list(plan.spec.axes)
    parts = []
    for k in names:
        if k not in set(summary["kpi"]):
            continue
        w = wide(summary, plan, [k])
        if design in ("random", "lhs"):
            t = sensitivity(w, axes, k, seed=plan.spec.sample_seed)
        elif design == "oat":
            o = oat_table(w, axes, k)
            t = pd.DataFrame({"axis": o["axis"], "measure": "OAT", "value": o["kpi_at_high"] - o["kpi_at_low"],
                              "ci_low": float("nan"), "ci_high": float("nan"), "n_points": len(w), "r2": float("nan")})
        else:
            continue
        parts.append(t.assign(kpi=k))
    cols = ["kpi", *SENSITIVITY_COLUMNS]
    return pd.concat(parts, ignore_index=True)[cols] if parts else pd.DataFrame(columns=cols)


def planners_answer(plan: Plan, summary: pd.DataFrame) -> pd.DataFrame:
    """Per demand level: the cheapest point that meets every target (means over replications).

    Cost = the mean of ``cost_kpi``, or the sum over cost axes of axis value x unit cost (a
    point whose cost is unknown never wins). Columns: the demand axis, ``met``
    (whether any point meets the targets), the chosen point's axis values, ``cost``, and the
    target KPIs' means; where no point meets them, ``missed`` says which targets the nearest
    point missed and by how much. Empty when the sweep file has no ``answer``.
    """
    spec = plan.spec
    if spec.answer is None or spec.answer.demand is None:
        return pd.DataFrame()
    axes = list(spec.axes)
    kpis = list(spec.targets)
    w = _costed(plan, summary, kpis)
    w["met"] = True
    for k, target in spec.targets.items():
        w["met"] &= w[k].map(target.met)
    rows: list[dict[str, Any]] = []
    demand = spec.answer.demand
    for level, grp in w.groupby(demand, sort=True):
        good = grp[grp["met"] & grp["cost"].notna()].sort_values(["cost", *axes])
        if good.empty:
            rows.append({demand: level, "met": False, "missed": _nearest_miss(grp, spec.targets, [a for a in axes if a != demand])})
        else:
            best = good.iloc[0]
            rows.append({demand: level, "met": True, **{a: best[a] for a in axes if a != demand},
                         "cost": best["cost"], **{k: best[k] for k in kpis}, "missed": ""})
    return pd.DataFrame(rows)


def _shortfall(value: float, target: Any) -> float:
    """How far ``value`` is outside ``target``, relative to the bound (0 inside; inf for NaN)."""
    if value != value:
        return math.inf
    over = value - target.max if target.max is not None else 0.0
    under = target.min - value if target.min is not None else 0.0
    bound = target.max if over > 0 else target.min
    return max(over, under, 0.0) / max(abs(bound or 0.0), 1e-9)


def _nearest_miss(points: pd.DataFrame, targets: dict[str, Any], axes: list[str]) -> str:
    """The targets missed at the point closest to meeting them all (least total relative
    shortfall), e.g. ``vein_to_vein_p90_days 43.1 > max 40 (by 3.1) at prodigy.count=32``."""
    if points.empty or not targets:
        return ""
    score = sum(points[k].map(lambda v, t=t: _shortfall(v, t)) for k, t in targets.items())
    best = points.loc[score.idxmin()]
    parts = []
    for k, t in targets.items():
        v = best[k]
        if v != v:
            parts.append(f"{k} not computed")
        elif t.max is not None and v > t.max:
            parts.append(f"{k} {v:.4g} > max {t.max:g} (by {v - t.max:.3g})")
        elif t.min is not None and v < t.min:
            parts.append(f"{k} {v:.4g} < min {t.min:g} (by {t.min - v:.3g})")
    at = ", ".join(f"{'.'.join(a.replace('[', '.').replace(']', '').split('.')[-2:])}={best[a]:g}" for a in axes
                   if pd.api.types.is_number(best[a]))
    return "; ".join(parts) + (f" at {at}" if at else "")


def _costed(plan: Plan, summary: pd.DataFrame, kpis: list[str]) -> pd.DataFrame:
    """One row per point: axis values, the means of ``kpis`` (NaN where not computed) and ``cost``
    (the answer's ``cost_kpi`` mean, or the sum over cost axes of value x unit cost)."""
    cost_kpi = plan.spec.answer.cost_kpi
    w = wide(summary, plan, kpis + ([cost_kpi] if cost_kpi and cost_kpi not in kpis else []))
    for k in [*kpis, *([cost_kpi] if cost_kpi else [])]:
        if k not in w:
            w[k] = math.nan
    if cost_kpi:
        w["cost"] = w[cost_kpi]
    else:
        w["cost"] = sum(w[a].astype(float) * c for a, c in plan.spec.answer.cost_per_unit.items())
    return w


def periods_of(summary: pd.DataFrame, kpis: list[str]) -> list[str]:
    """The periods (``2027``, ``2027Q1``, ...) for which the summary has a per-period KPI
    ``KPI@PERIOD`` of every one of ``kpis``, in calendar order."""
    names = set(summary["kpi"]) if len(summary) else set()
    found = {n.split("@", 1)[1] for n in names if "@" in n and n.split("@", 1)[0] in kpis}
    return sorted(p for p in found if all(f"{k}@{p}" in names for k in kpis))


def answer_over_time(plan: Plan, summary: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The planner's answer over time (``answer: {over_time: true}``), from the per-period KPIs
    ``TARGET@PERIOD`` (means over replications):

    * per period: the cheapest point (least cost, then axis order) that meets every target in
      every period up to and including it; ``met`` False and ``missed`` (the nearest point's
      shortfall in that period) when none does. Columns: period, met, the axes, cost, the target
      KPIs' means in the period, missed.
    * per point: its axes, cost and ``first_failure``, the first period where it misses a target
      ("" if none), with what it missed there.

    A period where a target KPI is computed at no point (e.g. a last period with no patient
    infused yet) is left out. Both tables are empty without over_time or periods."""
    spec = plan.spec
    if spec.answer is None or not spec.answer.over_time or not spec.targets:
        return pd.DataFrame(), pd.DataFrame()
    axes, kpis = list(spec.axes), list(spec.targets)
    periods = periods_of(summary, kpis)
    w = _costed(plan, summary, [f"{k}@{p}" for p in periods for k in kpis])
    periods = [p for p in periods if not all(w[f"{k}@{p}"].isna().all() for k in kpis)]
    ok_in = {p: pd.concat([w[f"{k}@{p}"].map(t.met) for k, t in spec.targets.items()], axis=1).all(axis=1)
             for p in periods}
    first = pd.Series("", index=w.index, dtype=object)
    for p in reversed(periods):
        first[~ok_in[p]] = p
    rows: list[dict[str, Any]] = []
    so_far = pd.Series(True, index=w.index)
    for p in periods:
        so_far &= ok_in[p]
        at = w.rename(columns={f"{k}@{p}": k for k in kpis})
        good = at[so_far & at["cost"].notna()].sort_values(["cost", *axes])
        if good.empty:
            rows.append({"period": p, "met": False, "missed": _nearest_miss(at, spec.targets, axes)})
        else:
            best = good.iloc[0]
            rows.append({"period": p, "met": True, **{a: best[a] for a in axes}, "cost": best["cost"],
                         **{k: best[k] for k in kpis}, "missed": ""})
    missed = [_nearest_miss(w.loc[[i]].rename(columns={f"{k}@{first[i]}": k for k in kpis}), spec.targets, [])
              if first[i] else "" for i in w.index]
    points = w[["point_id", *axes, "cost"]].assign(first_failure=first.to_numpy(), missed=missed)
    return pd.DataFrame(rows), points.sort_values(axes, kind="stable").reset_index(drop=True)
