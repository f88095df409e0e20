"""Tidy tables and KPIs computed from the event log (the single source of truth).

Tables (one row per ...):

* ``events``: event (columns in :mod:`twin.model.log`) + ``replication``.
* ``batches``: patient per replication: ``referral_h``, ``hospital``, ``made_at`` (the
  manufacturing site, once the product arrived there), every milestone as ``<step>_start_h`` /
  ``<step>_end_h``, ``outcome`` (infused, failed, dropped_out, lost, in_progress), ``cause``,
  ``outcome_h``, ``vein_to_vein_days`` (apheresis start to infusion start), ``time_in_system_h``
  (referral to outcome, or to the horizon), ``in_window`` (referred after warm-up),
  ``paused_h`` (hours its steps were stopped), ``harvest_cells``, ``harvest_viability``,
  ``harvest_contam_cfu`` and ``culture_h`` (at the end of its last culture, NaN without a
  culture model) and ``contaminated`` (organisms got in, detected or not).
* ``resources``: pool per replication: site, name, kind, units, slots per unit, capacity,
  ``on_duty_h`` (unit-hours in the window the units could work: not off shift, absent, vacant,
  in training, broken, in maintenance or changeover, or out in an outage) and ``held_h``.
* ``outages``: outage occurrence per replication: ``label``, ``site``, ``what`` (power, co2,
  ..., a device pool or a staff role), ``start_h``, ``end_h``, ``backup`` (what carried the load,
  e.g. ``ups+generator``), ``backup_h`` (hours the backups carried it), ``lost_h`` (hours the
  thing itself was actually lost; unit-hours for device and staff outages), ``knock_on`` (other
  site conditions it took down, e.g. ``grade 26.8 h`` after a blackout), ``batches_hit`` (patients paused, lost or
  failed by it) and ``patients`` (their ids, comma separated).
* ``impacts``: one row per effect on a batch: replication, patient, step, ``cause`` (an outage's
  label, ``breakdown``, ``contamination``, ``leak``, ...), ``effect`` (``pause``, ``lost``,
  ``failed``, ``damage``), ``time_h`` (when it happened) and ``hours`` (pause length; else 0).
* ``kpis``: (replication, kpi, value), long form.

KPI names: referred, infused, failed, dropped_out, lost, in_progress (patients),
dropped_out_fraction and failed_fraction (of referred), vein_to_vein_{median,p90,mean}_days,
throughput_per_year, mean_wip, utilisation.<kind>.<site>.<pool> (fraction) and
wait_h_mean.<kind>.<site>.<pool> (hours from joining a pool's queue to being given a unit, over
the requests made in the window and granted before the horizon; reneged requests are left out).

KPIs are measured over the window [warm-up, horizon): counts are of patients *referred* in the
window; throughput counts infusions *in* the window; utilisation is held on-duty unit-hours in
the window over on-duty unit-hours (slots x hours a unit could work; a batch held in a broken
unit is not busy); mean WIP is the time-average number of patients between referral and outcome.
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
            "value": np.asarray(cols["value"], dtype=float),
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


def intervals(events: pd.DataFrame, start_kind: str, end_kind: str, keys: list[str], horizon_h: float) -> pd.DataFrame:
    """Pair ``start_kind`` and ``end_kind`` events on ``keys`` (in order of occurrence) into
    intervals with ``start_h`` and ``end_h`` (the horizon when still open)."""
    a = events.loc[events["kind"] == start_kind, [*keys, "time_h"]].copy()
    b = events.loc[events["kind"] == end_kind, [*keys, "time_h"]].copy()
    for df in (a, b):
        for k in keys:
            if isinstance(df[k].dtype, pd.CategoricalDtype):
                df[k] = df[k].astype(str)
        df["k"] = df.groupby(keys, sort=False).cumcount()
    out = a.merge(b, on=[*keys, "k"], how="left", suffixes=("_start", "_end"))
    out = out.rename(columns={"time_h_start": "start_h", "time_h_end": "end_h"}).drop(columns="k")
    out["end_h"] = out["end_h"].fillna(horizon_h)
    return out


def queue_waits(events: pd.DataFrame) -> pd.DataFrame:
    """Every granted request: patient, site, resource (pool or role), step, queued_h, seized_h
    and wait_h (hours). A ``queue`` event is paired with the next ``seize`` or ``renege`` of the
    same patient, site and resource; reneged and still-waiting requests are left out."""
    keys = ["patient", "site", "resource"]
    if "replication" in events and events["replication"].nunique() > 1:
        keys = ["replication", *keys]
    ev = events.loc[events["kind"].isin(("queue", "seize", "renege")), [*keys, "step", "kind", "time_h"]]
    ev = ev.sort_values([*keys, "time_h"], kind="stable")
    kind = ev["kind"].astype(str).to_numpy()
    same = np.ones(len(ev), dtype=bool)
    for k in keys:
        col = ev[k].astype(str).to_numpy() if isinstance(ev[k].dtype, pd.CategoricalDtype) else ev[k].to_numpy()
        same[:-1] &= col[:-1] == col[1:]
    same[-1:] = False
    nxt = np.roll(kind, -1)
    served = (kind == "queue") & same & (nxt == "seize")
    t = ev["time_h"].to_numpy(dtype=float)
    idx = np.flatnonzero(served)
    out = ev.iloc[idx][[*keys, "step"]].copy()
    for k in ("site", "resource", "step"):
        out[k] = out[k].astype(str)
    out["queued_h"] = t[idx]
    out["seized_h"] = t[idx + 1]
    out["wait_h"] = out["seized_h"] - out["queued_h"]
    return out.reset_index(drop=True)


def _merged(iv: pd.DataFrame, lo: float, hi: float) -> tuple[np.ndarray, np.ndarray]:
    """The union of intervals (start_h, end_h) clipped to [lo, hi), as sorted disjoint starts
    and ends."""
    if iv is None or iv.empty:
        return np.empty(0), np.empty(0)
    a = iv["start_h"].clip(lower=lo, upper=hi).to_numpy(dtype=float)
    b = iv["end_h"].clip(lower=lo, upper=hi).to_numpy(dtype=float)
    order = np.argsort(a, kind="stable")
    starts, ends = [], []
    for x, y in zip(a[order], b[order]):
        if y <= x:
            continue
        if ends and x <= ends[-1]:
            ends[-1] = max(ends[-1], y)
        else:
            starts.append(x)
            ends.append(y)
    return np.asarray(starts), np.asarray(ends)


def _covered(starts: np.ndarray, ends: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Hours of the disjoint sorted intervals lying before each time in ``t``."""
    if len(starts) == 0:
        return np.zeros(len(t))
    cum = np.concatenate([[0.0], np.cumsum(ends - starts)])
    k = np.searchsorted(starts, t, side="right") - 1
    inside = np.where(k >= 0, np.minimum(t, ends[np.maximum(k, 0)]) - starts[np.maximum(k, 0)], 0.0)
    return np.where(k >= 0, cum[np.maximum(k, 0)] + inside, 0.0)


def unit_down_intervals(events: pd.DataFrame, horizon_h: float) -> pd.DataFrame:
    """When each unit was out of service and why: site, resource, unit, detail (reason),
    start_h, end_h; from the ``down``/``up`` events of units (unit >= 0)."""
    units = events[(events["unit"] >= 0) & events["kind"].isin(["down", "up"])]
    return intervals(units, "down", "up", ["site", "resource", "unit", "detail"], horizon_h)


def on_duty_hours(events: pd.DataFrame, resources: pd.DataFrame, horizon_h: float, warmup_h: float,
                  held: pd.DataFrame | None = None) -> dict:
    """(site, pool) -> (on-duty unit-hours, held on-duty unit-hours) in [warmup_h, horizon_h):
    the hours its units could work (not down for any reason) and the hours they were held by a
    batch or task while on duty (a batch inside a broken unit is held, not busy)."""
    down = unit_down_intervals(events, horizon_h)
    window = horizon_h - warmup_h
    out: dict[tuple[str, str], tuple[float, float]] = {}
    by_unit = dict(iter(down.groupby(["site", "resource", "unit"]))) if len(down) else {}
    held_by = dict(iter(held.groupby(["site", "resource", "unit"]))) if held is not None and len(held) else {}
    touched: dict[tuple[str, str], set[int]] = {}  # units ever down or held: the others were idle and on duty
    for site, name, unit in [*by_unit, *held_by]:
        touched.setdefault((site, name), set()).add(int(unit))
    for row in resources.itertuples(index=False):
        units = sorted(u for u in touched.get((row.site, row.name), ()) if u < int(row.units))
        on, busy = window * (int(row.units) - len(units)), 0.0
        for unit in units:
            starts, ends = _merged(by_unit.get((row.site, row.name, unit)), warmup_h, horizon_h)
            on += window - float((ends - starts).sum())
            h = held_by.get((row.site, row.name, unit))
            if h is not None:
                a = h["start_h"].clip(lower=warmup_h, upper=horizon_h).to_numpy(dtype=float)
                b = h["end_h"].clip(lower=warmup_h, upper=horizon_h).to_numpy(dtype=float)
                busy += float(((b - a) - (_covered(starts, ends, b) - _covered(starts, ends, a))).sum())
        out[(row.site, row.name)] = (on, busy)
    return out


def batches_table(
    events: pd.DataFrame, n_patients: int, horizon_h: float, warmup_h: float, steps: list[str]
) -> pd.DataFrame:
    """One row per patient of one replication, built from its event log.

    ``steps`` are the journey's step names in order: each gets ``<step>_start_h`` and
    ``<step>_end_h`` columns (NaN where a batch never got there), so the table has the same
    columns whatever happened in the run."""
    rep = int(events["replication"].iloc[0]) if len(events) else 0
    out = pd.DataFrame({"replication": rep, "patient": np.arange(n_patients, dtype=np.int64)})
    events = events[events["patient"] >= 0]
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
    pauses = intervals(events, "pause", "resume", ["patient", "step"], horizon_h)
    paused = (pauses["end_h"] - pauses["start_h"]).groupby(pauses["patient"]).sum()
    out["paused_h"] = out["patient"].map(paused).fillna(0.0)
    dmg = events.loc[kind == "damage", ["patient", "detail"]]
    meas = events.loc[kind == "measure", ["patient", "resource", "value"]]
    last = meas.assign(resource=meas["resource"].astype(str)).drop_duplicates(["patient", "resource"], keep="last")
    by = last.pivot(index="patient", columns="resource", values="value") if len(last) else pd.DataFrame()
    for col, name in (("cells", "harvest_cells"), ("viability", "harvest_viability"),
                      ("contam_cfu", "harvest_contam_cfu"), ("culture_h", "culture_h")):
        out[name] = out["patient"].map(by[col]) if col in by else np.nan
    out["contaminated"] = out["patient"].isin(dmg.loc[dmg["detail"] == "contamination", "patient"]) | (
        out["harvest_contam_cfu"].fillna(0) > 0)
    return out


def _cause_name(cause: str) -> str:
    """A stop's reason as a cause name: ``broken`` -> ``breakdown``, ``outage:X`` -> ``X``."""
    if cause == "broken":
        return "breakdown"
    return cause.split(":", 1)[1] if cause.startswith("outage:") else cause


def impacts_table(events: pd.DataFrame, batches: pd.DataFrame, horizon_h: float) -> pd.DataFrame:
    """Every effect on a batch, one row each: patient, step, cause, effect, hours (see the
    module docstring). Pauses come from pause/resume events, damage from damage events, and
    lost/failed outcomes carry the cause named in their outcome (``STEP:CAUSE``)."""
    rep = int(events["replication"].iloc[0]) if len(events) else 0
    ev = events[events["patient"] >= 0]
    p = intervals(ev[ev["kind"].isin(["pause", "resume"])], "pause", "resume", ["patient", "step", "detail"], horizon_h)
    rows = [pd.DataFrame({"patient": p["patient"], "step": p["step"], "cause": p["detail"].map(_cause_name),
                          "effect": "pause", "time_h": p["start_h"], "hours": p["end_h"] - p["start_h"]})]
    d = ev[ev["kind"] == "damage"]
    rows.append(pd.DataFrame({"patient": d["patient"], "step": d["step"].astype(str), "cause": d["detail"].astype(str),
                              "effect": "damage", "time_h": d["time_h"], "hours": 0.0}))
    o = batches[batches["outcome"].isin(["lost", "failed"])]
    causes = o["cause"].astype(str)
    rows.append(pd.DataFrame({"patient": o["patient"], "step": [c.rpartition(":")[0] or c for c in causes],
                              "cause": [_cause_name(c.rpartition(":")[2]) for c in causes],
                              "effect": o["outcome"].astype(str), "time_h": o["outcome_h"], "hours": 0.0}))
    out = pd.concat([r for r in rows if len(r)], ignore_index=True) if any(len(r) for r in rows) else pd.DataFrame(
        {"patient": pd.Series(dtype=np.int64), "step": pd.Series(dtype=str), "cause": pd.Series(dtype=str),
         "effect": pd.Series(dtype=str), "time_h": pd.Series(dtype=float), "hours": pd.Series(dtype=float)})
    out.insert(0, "replication", rep)
    return out


def outages_table(events: pd.DataFrame, impacts: pd.DataFrame, horizon_h: float) -> pd.DataFrame:
    """One row per outage occurrence (see the module docstring), from outage_start/outage_end,
    backup_start/backup_end and down/up events that carry the outage's label."""
    rep = int(events["replication"].iloc[0]) if len(events) else 0
    site_ev = events[events["patient"] < 0]
    occ = intervals(site_ev, "outage_start", "outage_end", ["site", "resource", "detail"], horizon_h)
    cols = ["replication", "label", "site", "what", "start_h", "end_h", "backup", "backup_h", "lost_h",
            "knock_on", "batches_hit", "patients"]
    if occ.empty:
        return pd.DataFrame({c: pd.Series(dtype=object if c in ("label", "site", "what", "backup", "knock_on", "patients")
                                          else float) for c in cols})
    back = intervals(site_ev, "backup_start", "backup_end", ["site", "resource", "detail"], horizon_h)
    cond = site_ev[site_ev["unit"] < 0]
    lost = intervals(cond, "down", "up", ["site", "resource", "detail"], horizon_h)
    units = unit_down_intervals(events, horizon_h)
    units = units[units["detail"].str.startswith("outage:")].assign(detail=lambda d: d["detail"].str[7:])
    failed_gen = site_ev[(site_ev["kind"] == "backup_failed")]
    rows = []
    occ = occ.sort_values(["site", "detail", "start_h"], kind="stable")
    # An occurrence owns the backups and losses that start from its start until the next
    # occurrence of the same outage (LN2 losses may outlast the supply outage by days).
    occ["until_h"] = occ.groupby(["site", "detail"])["start_h"].shift(-1).fillna(np.inf)
    occ = occ.sort_values("start_h", kind="stable")
    for r in occ.itertuples(index=False):
        def within(df: pd.DataFrame, r=r) -> pd.DataFrame:
            return df[(df["site"] == r.site) & (df["detail"] == r.detail) & (df["start_h"] >= r.start_h - 1e-9)
                      & (df["start_h"] < r.until_h - 1e-9)]
        b = within(back)
        carriers = list(dict.fromkeys(b["resource"]))
        gen_failed = failed_gen[(failed_gen["site"] == r.site) & (failed_gen["detail"] == r.detail)
                                & (failed_gen["time_h"] >= r.start_h - 1e-9) & (failed_gen["time_h"] < r.until_h - 1e-9)]
        if len(gen_failed):
            carriers.append("generator failed to start")
        own = within(lost)
        own = own.assign(h=own["end_h"] - own["start_h"])
        lost_h = float(own.loc[own["resource"] == r.resource, "h"].sum())
        lost_h += float((within(units)["end_h"] - within(units)["start_h"]).sum())
        others = own[own["resource"] != r.resource].groupby("resource")["h"].sum()
        knock_on = ", ".join(f"{k} {v:.1f} h" for k, v in others.items())
        mine = impacts[(impacts["cause"] == r.detail) & (impacts["time_h"] >= r.start_h - 1e-9)
                       & (impacts["time_h"] < r.until_h - 1e-9)] if len(impacts) else impacts
        patients = sorted({int(v) for v in mine["patient"]}) if len(mine) else []
        rows.append({"replication": rep, "label": r.detail, "site": r.site, "what": r.resource,
                     "start_h": r.start_h, "end_h": r.end_h, "backup": "+".join(carriers),
                     "backup_h": float((b["end_h"] - b["start_h"]).sum()), "lost_h": lost_h, "knock_on": knock_on,
                     "batches_hit": len(patients), "patients": ",".join(map(str, patients))})
    return pd.DataFrame(rows, columns=cols)


@dataclass
class ReplicationTables:
    """The tables and KPIs of one replication, all computed from its event log."""

    events: pd.DataFrame
    batches: pd.DataFrame
    resources: pd.DataFrame
    kpis: dict[str, float]
    outages: pd.DataFrame
    impacts: pd.DataFrame


def replication_tables(raw) -> ReplicationTables:  # raw: twin.model.RawRun
    """Event log -> events, batches, resources, outages and impacts tables and KPIs of one
    replication."""
    e = events_table(raw)
    b = batches_table(e, raw.n_patients, raw.horizon_h, raw.warmup_h, raw.steps)
    r = resources_table(raw)
    imp = impacts_table(e, b, raw.horizon_h)
    out = outages_table(e, imp, raw.horizon_h)
    k = kpis(e, b, r, raw.horizon_h, raw.warmup_h, imp)
    if raw.cost_inputs is not None:
        k.update(cost_kpis(e, r, raw.cost_inputs, raw.horizon_h, raw.warmup_h, k["throughput_per_year"]))
    return ReplicationTables(e, b, r, k, out, imp)


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
    impacts: pd.DataFrame | None = None,
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
    duty = on_duty_hours(events, resources, horizon_h, warmup_h, pairs)
    for row in resources.itertuples(index=False):
        on, held = duty[(row.site, row.name)]
        cap = row.slots_per_unit * on
        out[f"utilisation.{row.kind}.{row.site}.{row.name}"] = held / cap if cap > 0 else math.nan
        if row.units:
            out[f"availability.{row.kind}.{row.site}.{row.name}"] = on / (row.units * window)
    waits = queue_waits(events)
    waits = waits[(waits["queued_h"] >= warmup_h) & (waits["queued_h"] < horizon_h)]
    mean_wait = waits.groupby(["site", "resource"])["wait_h"].mean().to_dict()
    for row in resources.itertuples(index=False):
        w = mean_wait.get((row.site, row.name))
        if w is not None:
            out[f"wait_h_mean.{row.kind}.{row.site}.{row.name}"] = float(w)

    cohort_ids = set(cohort["patient"])
    # The culture model: infused batches that carried undetected contamination, and the
    # harvest's culture length and viability (means over the cohort's harvests).
    out["contaminated_infused"] = float((cohort["contaminated"] & (cohort["outcome"] == "infused")).sum())
    if cohort["culture_h"].notna().any():
        out["culture_h_mean"] = float(cohort["culture_h"].mean())
        out["harvest_viability_mean"] = float(cohort["harvest_viability"].mean())
    for outcome in ("lost", "failed"):
        sub = cohort[cohort["outcome"] == outcome]
        names = pd.Series([_cause_name(c.rpartition(":")[2]) for c in sub["cause"].astype(str)], dtype=object)
        for cause, n_ in names.value_counts().items():
            out[f"{outcome}_by_cause.{cause}"] = float(n_)
    if impacts is not None and len(impacts):
        pz = impacts[(impacts["effect"] == "pause") & impacts["patient"].isin(cohort_ids)]
        for cause, h in pz.groupby("cause")["hours"].sum().items():
            out[f"delay_h.{cause}"] = float(h)
    site_ev = events[(events["patient"] < 0)]
    if len(site_ev) and (site_ev["kind"] == "backup_start").any():
        back = intervals(site_ev, "backup_start", "backup_end", ["site", "resource", "detail"], horizon_h)
        back["h"] = (back["end_h"].clip(upper=horizon_h) - back["start_h"].clip(lower=warmup_h)).clip(lower=0)
        for carrier, h in back.groupby("resource")["h"].sum().items():
            out[f"backup_h.{carrier}"] = float(h)
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
