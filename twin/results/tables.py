"""The tables of one replication, from its event log: events, resources, batches (one row per
patient), impacts, outages, and the intervals they are made of (holdings, queue waits, units
out of service, on-duty hours). Columns: :mod:`twin.results`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from twin.core.units import HOURS_PER_DAY, HOURS_PER_WEEK
from twin.core.vocab import OUTCOMES

if TYPE_CHECKING:
    from twin.core.record import ReplicationRecord

ALL_OUTCOMES = OUTCOMES + ("in_progress",)
INFUSED = ("infused", "infused_out_of_spec")
"""Outcomes in which the patient is infused (an out-of-spec product by exception too)."""

_CATEGORICAL = ("site", "step", "resource", "kind", "detail")


def events_table(raw: ReplicationRecord) -> pd.DataFrame:
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


def resources_table(raw: ReplicationRecord) -> pd.DataFrame:
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


NOT_WORKING = ("off_shift", "vacant", "absent")
"""Reasons a person is not working (besides a staff outage, ``outage:LABEL``): off duty by the
rota, in a vacant place after turnover, absent. Training is work (a trainee is paid and rostered)."""


def staff_hours(events: pd.DataFrame, resources: pd.DataFrame, horizon_h: float, warmup_h: float) -> pd.DataFrame:
    """Hours each person was employed and worked, per rota week (the 168 h from hour 168 w),
    clipped to [warmup_h, horizon_h): site, role, unit, week, hours (of the week in the window),
    employed_h (not in a vacant place), worked_h (not off shift, vacant, absent or out in a staff
    outage). From the ``down``/``up`` events of people."""
    down = unit_down_intervals(events, horizon_h)
    if len(down):
        down = down[down["detail"].isin(NOT_WORKING) | down["detail"].str.startswith("outage:")]
    by_unit = dict(iter(down.groupby(["site", "resource", "unit"]))) if len(down) else {}
    w0, w1 = int(warmup_h // HOURS_PER_WEEK), int(np.ceil(horizon_h / HOURS_PER_WEEK))
    weeks = np.arange(w0, max(w1, w0 + 1))
    lo = np.clip(weeks * HOURS_PER_WEEK, warmup_h, horizon_h)
    hi = np.clip((weeks + 1) * HOURS_PER_WEEK, warmup_h, horizon_h)
    rows = []
    for row in resources[resources["kind"] == "staff"].itertuples(index=False):
        for unit in range(int(row.units)):
            iv = by_unit.get((row.site, row.name, unit))
            vacant = iv[iv["detail"] == "vacant"] if iv is not None else None
            vs, ve = _merged(vacant, warmup_h, horizon_h)
            ns, ne = _merged(iv, warmup_h, horizon_h)
            rows.append(pd.DataFrame({
                "site": row.site, "role": row.name, "unit": unit, "week": weeks, "hours": hi - lo,
                "employed_h": (hi - lo) - (_covered(vs, ve, hi) - _covered(vs, ve, lo)),
                "worked_h": (hi - lo) - (_covered(ns, ne, hi) - _covered(ns, ne, lo)),
            }))
    cols = ["site", "role", "unit", "week", "hours", "employed_h", "worked_h"]
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=cols)


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
    made = made.drop_duplicates("patient")  # (a re-manufactured batch: the first attempt's site)
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

    v2v = (out["infusion_start_h"] - out["apheresis_start_h"]) / HOURS_PER_DAY
    out["vein_to_vein_days"] = v2v.where(out["outcome"].isin(INFUSED))
    out["time_in_system_h"] = out["outcome_h"].fillna(horizon_h) - out["referral_h"]
    out["in_window"] = out["referral_h"] >= warmup_h
    pauses = until_outcome(intervals(events, "pause", "resume", ["patient", "step"], horizon_h), out["outcome_h"],
                           out["patient"])
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


def until_outcome(iv: pd.DataFrame, outcome_h: pd.Series, patient: pd.Series) -> pd.DataFrame:
    """Per-patient intervals (``patient``, ``start_h``, ``end_h``) cut at each patient's outcome:
    a batch stopped while paused is paused no longer than it exists (no ``resume`` follows an
    outcome)."""
    if iv.empty:
        return iv
    ends = pd.Series(outcome_h.to_numpy(), index=patient.to_numpy())
    cut = iv["patient"].map(ends).fillna(np.inf).to_numpy()
    iv = iv.copy()
    iv["end_h"] = np.minimum(iv["end_h"].to_numpy(), np.maximum(cut, iv["start_h"].to_numpy()))
    return iv


def cause_name(cause: str) -> str:
    """A stop's reason as a cause name: ``broken`` -> ``breakdown``, ``outage:X`` -> ``X``."""
    if cause == "broken":
        return "breakdown"
    return cause.split(":", 1)[1] if cause.startswith("outage:") else cause


def _impact_cause(cause: str) -> str:
    """The cause an impact is filed under: :func:`cause_name`, and a stop outlasting the unit's
    tolerance (``stopped_LABEL``, e.g. LN2 storage warming up) under the outage ``LABEL``."""
    name = cause_name(cause)
    return name[len("stopped_"):] if name.startswith("stopped_") else name


def impacts_table(events: pd.DataFrame, batches: pd.DataFrame, horizon_h: float) -> pd.DataFrame:
    """Every effect on a batch, one row each: patient, site (where it happened), step, cause,
    effect, hours (see the module docstring). Pauses come from pause/resume events, damage from
    damage events (an outage's CO2 loss in a culture, contamination, a leak), and lost/failed
    outcomes carry the cause named in their outcome (``STEP:CAUSE``; a stop past the unit's
    tolerance, ``STEP:stopped_LABEL``, is filed under ``LABEL``)."""
    rep = int(events["replication"].iloc[0]) if len(events) else 0
    ev = events[events["patient"] >= 0]
    p = intervals(ev[ev["kind"].isin(["pause", "resume"])], "pause", "resume", ["patient", "site", "step", "detail"],
                  horizon_h)
    p = until_outcome(p, batches["outcome_h"], batches["patient"])
    rows = [pd.DataFrame({"patient": p["patient"], "site": p["site"], "step": p["step"],
                          "cause": p["detail"].map(_impact_cause), "effect": "pause", "time_h": p["start_h"],
                          "hours": p["end_h"] - p["start_h"]})]
    d = ev[ev["kind"] == "damage"]
    rows.append(pd.DataFrame({"patient": d["patient"], "site": d["site"].astype(str), "step": d["step"].astype(str),
                              "cause": d["detail"].astype(str).map(_impact_cause), "effect": "damage",
                              "time_h": d["time_h"], "hours": 0.0}))
    o = batches[batches["outcome"].isin(["lost", "failed"])]
    where = ev.loc[ev["kind"] == "outcome", ["patient", "site"]].drop_duplicates("patient").set_index("patient")["site"]
    causes = o["cause"].astype(str)
    rows.append(pd.DataFrame({"patient": o["patient"], "site": o["patient"].map(where.astype(str)).fillna(""),
                              "step": [c.rpartition(":")[0] or c for c in causes],
                              "cause": [_impact_cause(c.rpartition(":")[2]) for c in causes],
                              "effect": o["outcome"].astype(str), "time_h": o["outcome_h"], "hours": 0.0}))
    out = pd.concat([r for r in rows if len(r)], ignore_index=True) if any(len(r) for r in rows) else pd.DataFrame(
        {"patient": pd.Series(dtype=np.int64), "site": pd.Series(dtype=str), "step": pd.Series(dtype=str),
         "cause": pd.Series(dtype=str), "effect": pd.Series(dtype=str), "time_h": pd.Series(dtype=float),
         "hours": pd.Series(dtype=float)})
    out.insert(0, "replication", rep)
    return out


_LOST = {"hvac": "air"}
"""The site condition an outage takes away, where it is not named as the outage's ``what``."""


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
        lost_h = float(own.loc[own["resource"] == _LOST.get(r.resource, r.resource), "h"].sum())
        lost_h += float((within(units)["end_h"] - within(units)["start_h"]).sum())
        others = own[own["resource"] != _LOST.get(r.resource, r.resource)].groupby("resource")["h"].sum()
        knock_on = ", ".join(f"{k} {v:.1f} h" for k, v in others.items())
        mine = impacts[(impacts["cause"] == r.detail) & (impacts["site"] == r.site) & (impacts["time_h"] >= r.start_h - 1e-9)
                       & (impacts["time_h"] < r.until_h - 1e-9)] if len(impacts) else impacts
        patients = sorted({int(v) for v in mine["patient"]}) if len(mine) else []
        rows.append({"replication": rep, "label": r.detail, "site": r.site, "what": r.resource,
                     "start_h": r.start_h, "end_h": r.end_h, "backup": "+".join(carriers),
                     "backup_h": float((b["end_h"] - b["start_h"]).sum()), "lost_h": lost_h, "knock_on": knock_on,
                     "batches_hit": len(patients), "patients": ",".join(map(str, patients))})
    return pd.DataFrame(rows, columns=cols)


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


def loaded_waiting_h(events: pd.DataFrame, held: pd.DataFrame, horizon_h: float, warmup_h: float) -> dict:
    """Hours in the window [warmup_h, horizon_h) that device units were held by a batch doing no
    step (waiting inside for staff, or between steps), per (site, pool); ``held`` as from
    :func:`held_intervals`. A unit held is either processing (some step of its batch in
    progress, pauses included) or loaded but waiting."""
    ev = events[events["patient"] >= 0]
    steps = intervals(ev, "step_start", "step_end", ["patient", "step"], horizon_h)
    by_patient = {p: _merged(g, warmup_h, horizon_h) for p, g in steps.groupby("patient")}
    out: dict = {}
    for h in held.itertuples(index=False):
        a, b = max(h.start_h, warmup_h), min(h.end_h, horizon_h)
        if b <= a:
            continue
        starts, ends = by_patient.get(h.patient, (np.empty(0), np.empty(0)))
        busy = float(np.clip(np.minimum(ends, b) - np.maximum(starts, a), 0.0, None).sum())
        key = (h.site, h.resource)
        out[key] = out.get(key, 0.0) + (b - a) - busy
    return out
