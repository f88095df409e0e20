"""KPIs of one replication from its tables (names and windows: :mod:`twin.results`), cost of
goods by category, and the headline KPIs a console or report shows first."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from twin.core.units import HOURS_PER_DAY, HOURS_PER_WEEK, HOURS_PER_YEAR
from twin.results.columns import Log, as_log, pair_times
from twin.results.tables import (
    ALL_OUTCOMES,
    INFUSED,
    cause_name,
    granted_waits,
    held_rows,
    loaded_waiting_h,
    on_duty_hours,
    staff_hours,
)

#: KPI names no longer computed, and what replaced them (a sweep target naming one is refused).
RENAMED_KPIS = {
    "dropped_out_fraction": "dropped_out_fraction_of_resolved",
    "failed_fraction": "failed_fraction_of_resolved",
}

#: Outcomes given as a fraction of the resolved patients (``<outcome>_fraction_of_resolved``).
RESOLVED_OUTCOMES = ("infused", "dropped_out", "failed", "lost", "infused_out_of_spec")

COST_CATEGORIES = ("capital", "cleanroom", "labour", "consumables", "qc", "courier", "overhead")


@dataclass(frozen=True)
class Window:
    """The window KPIs are measured over: [``warmup_h``, ``horizon_h``) hours from the start date."""

    warmup_h: float
    horizon_h: float

    @property
    def hours(self) -> float:
        """Its length (h)."""
        return self.horizon_h - self.warmup_h


def cost_kpis(
    events: pd.DataFrame | Log, resources: pd.DataFrame, inputs: dict, window: Window, infused_per_year: float,
) -> dict[str, float]:
    """Cost over the window by category (``cost.<category>``), ``cost.total`` and
    ``cost_per_dose`` (total / infusions in the window); see :class:`twin.scenario.costs.Costs`.
    Per-event costs count steps *started* in the window."""
    warmup_h, horizon_h = window.warmup_h, window.horizon_h
    years = (horizon_h - warmup_h) / HOURS_PER_YEAR
    out = dict.fromkeys(COST_CATEGORIES, 0.0)
    for row in resources.itertuples(index=False):
        if row.kind == "device":
            unit = inputs["device_unit_year"].get(f"{row.site}/{row.name}", {})
            out["capital"] += row.units * unit.get("capital", 0.0) * years
            out["cleanroom"] += row.units * unit.get("cleanroom", 0.0) * years
    log = as_log(events)
    out["labour"] = float(labour_hours(log, resources, inputs, window)["cost"].sum())
    t = log.num["time_h"]
    started = log.codes["step"][log.kind("step_start") & (t >= warmup_h) & (t < horizon_h)]
    n_started = np.bincount(started, minlength=len(log.cats["step"]))
    counts = {name: int(c) for name, c in zip(log.cats["step"], n_started) if c}
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


def labour_hours(events: pd.DataFrame | Log, resources: pd.DataFrame, inputs: dict, window: Window) -> pd.DataFrame:
    """Paid hours and their cost over the window, per site and role, from the people's
    ``down``/``up`` events (:func:`twin.results.tables.staff_hours`): site, role, paid_h (each
    person's contract hours a week x the weeks employed: a vacant place is unpaid, a trainee and
    an absent person are paid), overtime_h (per person and rota week, the hours worked beyond the
    contract's share of the week they were employed), cost (rate x (paid_h + overtime_factor x
    overtime_h), in the currency)."""
    hours = staff_hours(events, resources, window.horizon_h, window.warmup_h)
    cols = ["site", "role", "paid_h", "overtime_h", "cost"]
    if hours.empty:
        return pd.DataFrame(columns=cols)
    staff = inputs.get("staff", {})
    keys = hours["site"].astype(str) + "/" + hours["role"].astype(str)
    contract = keys.map(lambda k: staff.get(k, {}).get("contract_h_per_week", 0.0)).astype(float)
    rate = keys.map(lambda k: staff.get(k, {}).get("rate", 0.0)).astype(float)
    share = contract * hours["employed_h"] / HOURS_PER_WEEK
    hours = hours.assign(paid_h=share, overtime_h=(hours["worked_h"] - share).clip(lower=0.0))
    factor = float(inputs.get("overtime_factor", 1.0))
    hours["cost"] = rate * (hours["paid_h"] + factor * hours["overtime_h"])
    return hours.groupby(["site", "role"], as_index=False, sort=False)[["paid_h", "overtime_h", "cost"]].sum()


def kpis(
    events: pd.DataFrame | Log,
    batches: pd.DataFrame,
    resources: pd.DataFrame,
    window: Window,
    impacts: pd.DataFrame | None = None,
) -> dict[str, float]:
    """KPIs of one replication over ``window``; see the module docstring."""
    events = as_log(events)
    cohort = batches[batches["in_window"]]
    out = _outcome_kpis(cohort)
    out.update(_flow_kpis(batches, window))
    out.update(_resource_kpis(events, resources, window))
    out.update(_culture_kpis(cohort))
    out.update(_cause_kpis(cohort))
    out.update(_orchestration_kpis(cohort, events))
    out.update(_slot_kpis(events, resources, window))
    if impacts is not None and len(impacts):
        pz = impacts[(impacts["effect"] == "pause") & impacts["patient"].isin(set(cohort["patient"]))]
        for cause, h in pz.groupby("cause")["hours"].sum().items():
            out[f"delay_h.{cause}"] = float(h)
    out.update(_backup_kpis(events, window))
    return out


#: The window KPIs also given per period (``<kpi>@<period>``), besides each device pool's utilisation.
PERIOD_KPIS = ("referred", *ALL_OUTCOMES, "resolved", *(f"{o}_fraction_of_resolved" for o in RESOLVED_OUTCOMES),
               "vein_to_vein_median_days", "vein_to_vein_p90_days", "vein_to_vein_mean_days")


def period_kpis(
    events: pd.DataFrame | Log, batches: pd.DataFrame, resources: pd.DataFrame, periods: list[tuple[str, float, float]],
) -> dict[str, float]:
    """KPIs per calendar period, named ``<kpi>@<label>``: the outcome counts, fractions of the
    resolved and vein-to-vein (days) of :data:`PERIOD_KPIS` on the patients *referred* in the
    period (so the counts add up to the window's when the periods cover it), and each device
    pool's utilisation over the period's hours (``utilisation.device.SITE.TYPE@<label>``), plus
    ``referral_rate_per_week@<label>`` (referred / weeks in the period). ``periods``: (label,
    start_h, end_h), within the window."""
    log = as_log(events)
    devices = resources[resources["kind"] == "device"]
    out: dict[str, float] = {}
    for label, a, b in periods:
        cohort = batches[(batches["referral_h"] >= a) & (batches["referral_h"] < b)]
        k = _outcome_kpis(cohort)
        out.update({f"{name}@{label}": k[name] for name in PERIOD_KPIS})
        out[f"referral_rate_per_week@{label}"] = k["referred"] / ((b - a) / HOURS_PER_WEEK)
        if len(devices):
            for name, v in _resource_kpis(log, devices, Window(a, b)).items():
                if name.startswith(("utilisation.device.", "availability.device.")):
                    out[f"{name}@{label}"] = v
    return out


def _outcome_kpis(cohort: pd.DataFrame) -> dict[str, float]:
    """The window's referrals by outcome (patients), ``resolved`` (those with an outcome by the
    horizon: referred - in_progress), the outcome fractions *of the resolved* patients
    (``<outcome>_fraction_of_resolved``; a patient still in progress has no outcome yet, so
    counting them in the denominator would understate every fraction by the share still in
    progress), and vein-to-vein time (days)."""
    out: dict[str, float] = {"referred": float(len(cohort))}
    counts = cohort["outcome"].value_counts()
    for name in ALL_OUTCOMES:
        out[name] = float(counts.get(name, 0))
    resolved = out["referred"] - out["in_progress"]
    out["resolved"] = resolved
    for name in RESOLVED_OUTCOMES:
        out[f"{name}_fraction_of_resolved"] = out[name] / resolved if resolved else math.nan
    v2v = cohort["vein_to_vein_days"].dropna().to_numpy()
    out["vein_to_vein_median_days"] = float(np.median(v2v)) if len(v2v) else math.nan
    out["vein_to_vein_p90_days"] = float(np.quantile(v2v, 0.9)) if len(v2v) else math.nan
    out["vein_to_vein_mean_days"] = float(v2v.mean()) if len(v2v) else math.nan
    return out


def _median_p90(name: str, days: pd.Series) -> dict[str, float]:
    """``<name>_median_days`` and ``<name>_p90_days`` of ``days`` (NaN left out; NaN if none)."""
    v = days.dropna().to_numpy()
    return {f"{name}_median_days": float(np.median(v)) if len(v) else math.nan,
            f"{name}_p90_days": float(np.quantile(v, 0.9)) if len(v) else math.nan}


def _orchestration_kpis(cohort: pd.DataFrame, log: Log) -> dict[str, float]:
    """Where the days of a journey go and how often plans change (issue 17), over the cohort:
    ``wait_for_apheresis`` (referral to the first apheresis start: days, of the collected),
    ``turnaround`` (the last apheresis start to the release's end: what manufacturers publish;
    days, of the released), ``release_to_infusion`` (release end to infusion start: days, of the
    infused), each as median and p90; ``remanufactured`` (patients made more than once),
    ``schedule_changes`` (re-bookings of slots and infusions), ``slots_booked`` (patients with a
    booked manufacturing slot) and ``rebooked_fraction_of_booked`` (of those, the fraction whose
    slot or infusion moved at least once)."""
    day = HOURS_PER_DAY
    infused = cohort["outcome"].isin(INFUSED)
    out = _median_p90("wait_for_apheresis", (cohort["apheresis_start_h"] - cohort["referral_h"]) / day)
    out.update(_median_p90("turnaround", (cohort["released_h"] - cohort["last_apheresis_start_h"]) / day))
    out.update(_median_p90("release_to_infusion", ((cohort["infusion_start_h"] - cohort["released_h"]) / day)
                           .where(infused)))
    out["remanufactured"] = float((cohort["attempts"] > 1).sum())
    out["schedule_changes"] = float(cohort["rebookings"].sum())
    booked = cohort["patient"].isin(np.unique(log.num["patient"][log.kind("booked")]))
    out["slots_booked"] = float(booked.sum())
    out["rebooked_fraction_of_booked"] = (float((cohort.loc[booked, "rebookings"] > 0).mean()) if booked.any()
                                          else math.nan)
    return out


def _slot_kpis(log: Log, resources: pd.DataFrame, window: Window) -> dict[str, float]:
    """``slot_utilisation.SITE.DEVICE``: the first device's hours the booking book reserved
    for runs planned to start in the window (each booking at its last planned start, its booked
    run length from the ``booked`` row's ``run_h``) over the units' hours in the window (a
    fraction; only where slots were booked). Beside ``utilisation.device.*`` it shows the margin
    the book keeps: booked but not used."""
    rows = np.flatnonzero(log.kind("booked", "rebooked") & (log.num["patient"] >= 0))
    if not len(rows):
        return {}
    df = pd.DataFrame({"patient": log.num["patient"][rows], "start": log.num["value"][rows],
                       "booked": log.kind("booked")[rows], "site": log.text("site", rows),
                       "device": log.text("resource", rows), "detail": log.text("detail", rows)})
    df["attempt"] = df.groupby("patient")["booked"].cumsum()
    run = df["detail"].str.extract(r"run_h=([0-9.]+)", expand=False).astype(float)
    df["run_h"] = run.where(df["booked"]).groupby([df["patient"], df["attempt"]]).transform("first")
    last = df.groupby(["patient", "attempt"]).tail(1)
    last = last[(last["start"] >= window.warmup_h) & (last["start"] < window.horizon_h)]
    units = resources.set_index(["site", "name"])["units"].to_dict()
    out: dict[str, float] = {}
    for (site, device), h in last.groupby(["site", "device"])["run_h"].sum().items():
        cap = units.get((site, device), 0) * window.hours
        out[f"slot_utilisation.{site}.{device}"] = float(h) / cap if cap > 0 else math.nan
    return out


def _flow_kpis(batches: pd.DataFrame, window: Window) -> dict[str, float]:
    """Infusions a year in the window, and mean WIP: the time-average number of patients
    between referral and outcome over the window."""
    warmup_h, horizon_h, hours = window.warmup_h, window.horizon_h, window.hours
    infused_in_window = batches["outcome_h"].between(warmup_h, horizon_h, inclusive="left") & (
        batches["outcome"].isin(INFUSED)
    )
    out = {"throughput_per_year": float(infused_in_window.sum()) / (hours / HOURS_PER_YEAR)}
    start = batches["referral_h"].clip(lower=warmup_h)
    end = batches["outcome_h"].fillna(horizon_h).clip(upper=horizon_h)
    out["mean_wip"] = float((end - start).clip(lower=0).sum() / hours)
    return out


def _resource_kpis(events: Log, resources: pd.DataFrame, window: Window) -> dict[str, float]:
    """Per pool: utilisation and availability over the window (fractions), then the mean wait
    (h) of the requests made in the window."""
    warmup_h, horizon_h = window.warmup_h, window.horizon_h
    out: dict[str, float] = {}
    held = held_rows(events, horizon_h)
    duty = on_duty_hours(events, resources, horizon_h, warmup_h, held)
    devices = events.where("resource", *resources.loc[resources["kind"] == "device", "name"])[held[0]]
    waiting = loaded_waiting_h(events, tuple(x[devices] for x in held), horizon_h, warmup_h)
    for row in resources.itertuples(index=False):
        on, held = duty[(row.site, row.name)]
        cap = row.slots_per_unit * on
        out[f"utilisation.{row.kind}.{row.site}.{row.name}"] = held / cap if cap > 0 else math.nan
        if row.units:
            out[f"availability.{row.kind}.{row.site}.{row.name}"] = on / (row.units * window.hours)
        if row.kind == "device" and cap > 0:
            out[f"utilisation_loaded_waiting.{row.kind}.{row.site}.{row.name}"] = waiting.get((row.site, row.name), 0.0) / cap
    rows, queued, seized = granted_waits(events)
    inside = (queued >= warmup_h) & (queued < horizon_h)
    rows, wait = rows[inside], (seized - queued)[inside]
    pool = events.codes["site"][rows].astype(np.int64) * len(events.cats["resource"]) + events.codes["resource"][rows]
    mean_wait = {}
    if len(rows):
        pools, at, n = np.unique(pool, return_inverse=True, return_counts=True)
        total = np.bincount(at, weights=wait)
        for p, tot, cnt in zip(pools, total, n):
            site, res = divmod(int(p), len(events.cats["resource"]))
            mean_wait[(events.cats["site"][site], events.cats["resource"][res])] = tot / cnt
    for row in resources.itertuples(index=False):
        w = mean_wait.get((row.site, row.name))
        if w is not None:
            out[f"wait_h_mean.{row.kind}.{row.site}.{row.name}"] = float(w)
    return out


def _culture_kpis(cohort: pd.DataFrame) -> dict[str, float]:
    """The culture model: infused batches that carried undetected contamination, and the
    harvest's culture length (h) and viability (means over the cohort's harvests)."""
    out = {"contaminated_infused": float((cohort["contaminated"] & (cohort["outcome"] == "infused")).sum())}
    if cohort["culture_h"].notna().any():
        out["culture_h_mean"] = float(cohort["culture_h"].mean())
        out["harvest_viability_mean"] = float(cohort["harvest_viability"].mean())
    return out


def _cause_kpis(cohort: pd.DataFrame) -> dict[str, float]:
    """The cohort's losses and failures by cause (patients)."""
    out: dict[str, float] = {}
    for outcome in ("lost", "failed"):
        sub = cohort[cohort["outcome"] == outcome]
        names = pd.Series([cause_name(c.rpartition(":")[2]) for c in sub["cause"].astype(str)], dtype=object)
        for cause, n_ in names.value_counts().items():
            out[f"{outcome}_by_cause.{cause}"] = float(n_)
    return out


def _backup_kpis(events: Log, window: Window) -> dict[str, float]:
    """Hours in the window each backup (UPS, generator, ...) carried a load."""
    out: dict[str, float] = {}
    s, a, b = pair_times(events, ("backup_start", "backup_end"), ["site", "resource", "detail"],
                         events.num["patient"] < 0, window.horizon_h)
    if len(s):
        h = np.clip(np.minimum(b, window.horizon_h) - np.maximum(a, window.warmup_h), 0, None)
        for carrier, total in pd.Series(h).groupby(events.text("resource", s)).sum().items():
            out[f"backup_h.{carrier}"] = float(total)
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
    ("wait_for_apheresis_median_days", "referral to apheresis, median", "days"),
    ("turnaround_median_days", "apheresis to release (turnaround), median", "days"),
    ("release_to_infusion_median_days", "release to infusion, median", "days"),
    ("throughput_per_year", "throughput", "infusions/yr"),
    ("mean_wip", "mean work in progress", "patients"),
)
