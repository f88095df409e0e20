"""Tidy tables and KPIs computed from the event log (the single source of truth).

Tables (one row per ...):

* ``events``: event (columns in :mod:`twin.model.log`) + ``replication``.
* ``batches``: patient per replication: ``referral_h``, ``hospital``, ``made_at`` (the
  manufacturing site, once the product arrived there), every milestone as ``<step>_start_h`` /
  ``<step>_end_h``, ``outcome`` (infused, failed, dropped_out, lost, in_progress), ``cause``,
  ``outcome_h``, ``vein_to_vein_days`` (apheresis start to infusion start), ``time_in_system_h``
  (referral to outcome, or to the horizon) and ``in_window`` (referred after warm-up).
* ``resources``: pool per replication: site, name, kind, units, slots per unit, capacity.
* ``kpis``: (replication, kpi, value), long form.

KPI names: referred, infused, failed, dropped_out, lost, in_progress (patients),
dropped_out_fraction and failed_fraction (of referred), vein_to_vein_{median,p90,mean}_days,
throughput_per_year, mean_wip, and utilisation.<kind>.<site>.<pool> (fraction).

KPIs are measured over the window [warm-up, horizon): counts are of patients *referred* in the
window; throughput counts infusions *in* the window; utilisation is held unit-hours in the
window over capacity x window hours (all hours are on-duty hours until shift calendars exist);
mean WIP is the time-average number of patients between referral and outcome.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from twin.vocab import OUTCOMES

HOURS_PER_YEAR = 8760.0
ALL_OUTCOMES = OUTCOMES + ("in_progress",)

_CATEGORICAL = ("site", "step", "resource", "kind", "detail")


def events_table(raw) -> pd.DataFrame:  # raw: twin.model.RawRun (not imported: reports read tables)
    """The event log of one replication as a DataFrame (categorical string columns)."""
    cols = raw.events
    df = pd.DataFrame(
        {
            "replication": np.full(len(cols["time_h"]), raw.replication, dtype=np.int32),
            "time_h": np.asarray(cols["time_h"], dtype=float),
            "patient": np.asarray(cols["patient"], dtype=np.int64),
            "site": pd.Categorical(cols["site"]),
            "step": pd.Categorical(cols["step"]),
            "resource": pd.Categorical(cols["resource"]),
            "unit": np.asarray(cols["unit"], dtype=np.int32),
            "kind": pd.Categorical(cols["kind"]),
            "detail": pd.Categorical(cols["detail"]),
        }
    )
    return df


def resources_table(raw) -> pd.DataFrame:
    """The pools of one replication: site, name, kind, units, slots_per_unit, capacity."""
    return pd.DataFrame(
        [
            {
                "replication": raw.replication,
                "site": p.site,
                "name": p.name,
                "kind": p.kind,
                "units": p.units,
                "slots_per_unit": p.slots_per_unit,
                "capacity": p.capacity,
            }
            for p in raw.pools
        ]
    )


def batches_table(
    events: pd.DataFrame, n_patients: int, horizon_h: float, warmup_h: float, steps: list[str]
) -> pd.DataFrame:
    """One row per patient of one replication, built from its event log.

    ``steps`` are the journey's step names in order: each gets ``<step>_start_h`` and
    ``<step>_end_h`` columns (NaN where a batch never got there), so the table has the same
    columns whatever happened in the run."""
    rep = int(events["replication"].iloc[0]) if len(events) else 0
    out = pd.DataFrame({"replication": rep, "patient": np.arange(n_patients, dtype=np.int64)})
    kind = events["kind"]

    ref = events.loc[kind == "referral", ["patient", "time_h", "site"]].set_index("patient")
    out["referral_h"] = out["patient"].map(ref["time_h"])
    out["hospital"] = out["patient"].map(ref["site"].astype(str))
    made = events.loc[(kind == "step_start") & (events["step"] == "receipt"), ["patient", "site"]]
    out["made_at"] = out["patient"].map(made.set_index("patient")["site"].astype(str))

    order = [f"{s}_{edge}_h" for s in steps for edge in ("start", "end")]
    marks = events.loc[kind.isin(["step_start", "step_end"]), ["patient", "step", "kind", "time_h"]]
    marks = marks.assign(
        col=marks["step"].astype(str) + np.where(marks["kind"] == "step_start", "_start_h", "_end_h")
    ).drop_duplicates(["patient", "col"])
    wide = marks.pivot(index="patient", columns="col", values="time_h").reindex(columns=order)
    out = out.merge(wide, left_on="patient", right_index=True, how="left")

    oc = events.loc[kind == "outcome", ["patient", "time_h", "detail", "step"]].drop_duplicates("patient")
    oc = oc.set_index("patient")
    out["outcome"] = out["patient"].map(oc["detail"].astype(str)).fillna("in_progress")
    out["cause"] = out["patient"].map(oc["step"].astype(str)).fillna("")
    out["outcome_h"] = out["patient"].map(oc["time_h"])
    out["outcome"] = pd.Categorical(out["outcome"], categories=list(ALL_OUTCOMES))

    v2v = (out["infusion_start_h"] - out["apheresis_start_h"]) / 24.0
    out["vein_to_vein_days"] = v2v.where(out["outcome"] == "infused")
    out["time_in_system_h"] = out["outcome_h"].fillna(horizon_h) - out["referral_h"]
    out["in_window"] = out["referral_h"] >= warmup_h
    return out


@dataclass
class ReplicationTables:
    """The tables and KPIs of one replication, all computed from its event log."""

    events: pd.DataFrame
    batches: pd.DataFrame
    resources: pd.DataFrame
    kpis: dict[str, float]


def replication_tables(raw) -> ReplicationTables:  # raw: twin.model.RawRun
    """Event log -> events, batches, resources tables and KPIs of one replication."""
    e = events_table(raw)
    b = batches_table(e, raw.n_patients, raw.horizon_h, raw.warmup_h, raw.steps)
    r = resources_table(raw)
    k = kpis(e, b, r, raw.horizon_h, raw.warmup_h)
    if raw.cost_inputs is not None:
        k.update(cost_kpis(e, r, raw.cost_inputs, raw.horizon_h, raw.warmup_h, k["throughput_per_year"]))
    return ReplicationTables(e, b, r, k)


COST_CATEGORIES = ("capital", "cleanroom", "labour", "consumables", "qc", "courier", "overhead")


def cost_kpis(
    events: pd.DataFrame, resources: pd.DataFrame, inputs: dict, horizon_h: float, warmup_h: float,
    infused_per_year: float,
) -> dict[str, float]:
    """Cost over the window by category (``cost.<category>``), ``cost.total`` and
    ``cost_per_dose`` (total / infusions in the window); see :class:`twin.scenario.Costs`.
    Per-event costs count steps *started* in the window."""
    years = (horizon_h - warmup_h) / HOURS_PER_YEAR
    out = dict.fromkeys(COST_CATEGORIES, 0.0)
    for row in resources.itertuples(index=False):
        if row.kind == "device":
            unit = inputs["device_unit_year"].get(f"{row.site}/{row.name}", {})
            out["capital"] += row.units * unit.get("capital", 0.0) * years
            out["cleanroom"] += row.units * unit.get("cleanroom", 0.0) * years
        elif row.kind == "staff":
            out["labour"] += row.units * inputs["head_year"].get(row.name, 0.0) * years
    started = events[(events["kind"] == "step_start") & (events["time_h"] >= warmup_h) & (events["time_h"] < horizon_h)]
    counts = started["step"].astype(str).value_counts()
    out["consumables"] = float(sum(counts.get(k, 0) * v for k, v in inputs["consumables"].items()))
    out["qc"] = float(sum(counts.get(k, 0) * v for k, v in inputs["qc"].items()))
    shipments = int(counts.get("ship_to_factory", 0) + counts.get("ship_to_hospital", 0))
    out["courier"] = shipments * inputs["per_shipment"]
    out["overhead"] = sum(inputs["overhead_site_year"].values()) * years
    res = {f"cost.{k}": float(v) for k, v in out.items()}
    res["cost.total"] = float(sum(out.values()))
    doses = infused_per_year * years
    res["cost_per_dose"] = res["cost.total"] / doses if doses > 0 else math.nan
    return res


def held_intervals(events: pd.DataFrame, horizon_h: float) -> pd.DataFrame:
    """Who held which unit when: one row per (seize, release) pair with replication (if the
    log has several), patient, site, resource, unit, step (the step that seized it), start_h and
    end_h (the horizon when still held). Used by utilisation, capacity checks and Gantt charts."""
    keys = ["patient", "site", "resource", "unit"]
    if "replication" in events and events["replication"].nunique() > 1:
        keys = ["replication", *keys]
    seize = events.loc[events["kind"] == "seize", keys + ["step", "time_h"]].copy()
    rel = events.loc[events["kind"] == "release", keys + ["time_h"]].copy()
    for df in (seize, rel):
        for k in ("site", "resource"):
            df[k] = df[k].astype(str)
        df["k"] = df.groupby(keys, sort=False).cumcount()
    seize["step"] = seize["step"].astype(str)
    pairs = seize.merge(rel, on=keys + ["k"], how="left", suffixes=("_start", "_end"))
    pairs = pairs.rename(columns={"time_h_start": "start_h", "time_h_end": "end_h"})
    pairs["end_h"] = pairs["end_h"].fillna(horizon_h)
    return pairs.drop(columns="k")


def kpis(
    events: pd.DataFrame,
    batches: pd.DataFrame,
    resources: pd.DataFrame,
    horizon_h: float,
    warmup_h: float,
) -> dict[str, float]:
    """KPIs of one replication over the window [warmup_h, horizon_h); see the module docstring."""
    window = horizon_h - warmup_h
    cohort = batches[batches["in_window"]]
    out: dict[str, float] = {"referred": float(len(cohort))}
    counts = cohort["outcome"].value_counts()
    for name in ALL_OUTCOMES:
        out[name] = float(counts.get(name, 0))
    n = len(cohort)
    out["dropped_out_fraction"] = out["dropped_out"] / n if n else math.nan
    out["failed_fraction"] = out["failed"] / n if n else math.nan
    v2v = cohort["vein_to_vein_days"].dropna().to_numpy()
    out["vein_to_vein_median_days"] = float(np.median(v2v)) if len(v2v) else math.nan
    out["vein_to_vein_p90_days"] = float(np.quantile(v2v, 0.9)) if len(v2v) else math.nan
    out["vein_to_vein_mean_days"] = float(v2v.mean()) if len(v2v) else math.nan
    infused_in_window = batches["outcome_h"].between(warmup_h, horizon_h, inclusive="left") & (
        batches["outcome"] == "infused"
    )
    out["throughput_per_year"] = float(infused_in_window.sum()) / (window / HOURS_PER_YEAR)

    # Mean WIP: time-average number of patients between referral and outcome, over the window.
    start = batches["referral_h"].clip(lower=warmup_h)
    end = batches["outcome_h"].fillna(horizon_h).clip(upper=horizon_h)
    out["mean_wip"] = float((end - start).clip(lower=0).sum() / window)

    pairs = held_intervals(events, horizon_h)
    busy = (pairs["end_h"].clip(upper=horizon_h) - pairs["start_h"].clip(lower=warmup_h)).clip(lower=0)
    busy_by = busy.groupby([pairs["site"], pairs["resource"]]).sum()
    for row in resources.itertuples(index=False):
        held = float(busy_by.get((row.site, row.name), 0.0))
        cap = row.capacity * window
        out[f"utilisation.{row.kind}.{row.site}.{row.name}"] = held / cap if cap > 0 else math.nan
    return out


#: KPIs printed first on the console, with their display names and units.
HEADLINE = (
    ("referred", "patients referred", ""),
    ("infused", "patients infused", ""),
    ("dropped_out", "dropped out while waiting", ""),
    ("failed", "failed manufacture/QC", ""),
    ("lost", "lost in process", ""),
    ("in_progress", "in progress at horizon", ""),
    ("vein_to_vein_median_days", "vein-to-vein median", "days"),
    ("vein_to_vein_p90_days", "vein-to-vein p90", "days"),
    ("throughput_per_year", "throughput", "infusions/yr"),
    ("mean_wip", "mean work in progress", "patients"),
)


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


def kpi_long(per_rep: Iterable[tuple[int, dict[str, float]]]) -> pd.DataFrame:
    """Long KPI table from (replication, kpi dict) pairs."""
    return pd.DataFrame(
        [{"replication": r, "kpi": k, "value": v} for r, d in per_rep for k, v in d.items()]
    )
