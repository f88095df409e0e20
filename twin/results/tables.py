"""The tables of one replication, from its event log: events, resources, batches (one row per
patient), impacts, outages, and the intervals they are made of (holdings, queue waits, units
out of service, on-duty hours). Columns: :mod:`twin.results`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from twin.core.units import HOURS_PER_DAY, HOURS_PER_WEEK
from twin.core.vocab import OUTCOMES
from twin.results.columns import Log, Union, as_log, pair_times, text_series, union_by_group

if TYPE_CHECKING:
    from twin.core.record import ReplicationRecord

ALL_OUTCOMES = OUTCOMES + ("in_progress",)
INFUSED = ("infused", "infused_out_of_spec")
"""Outcomes in which the patient is infused (an out-of-spec product by exception too)."""

def events_table(raw: ReplicationRecord) -> pd.DataFrame:
    """The event log of one replication as a DataFrame (categorical string columns)."""
    return Log.from_record(raw).frame()


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


def _key_columns(log: Log, keys: list[str], rows: np.ndarray) -> dict[str, object]:
    """The columns ``keys`` of ``rows`` (indices): string columns as str, numbers as they are."""
    out: dict[str, object] = {}
    for k in keys:
        if k == "replication":
            out[k] = log.replication[rows]
        elif k in log.codes:
            out[k] = text_series(log.text(k, rows))
        else:
            out[k] = log.num[k][rows]
    return out


def _interval_frame(log: Log, kinds: tuple[str, str], keys: list[str], horizon_h: float,
                    rows: np.ndarray | None = None) -> pd.DataFrame:
    """:func:`intervals` of a :class:`Log` (``rows``, a mask, restricts the events)."""
    s, start_h, end_h = pair_times(log, kinds, keys, rows, horizon_h)
    out = _key_columns(log, keys, s)
    out["start_h"], out["end_h"] = start_h, end_h
    return pd.DataFrame(out)


def intervals(events: pd.DataFrame | Log, start_kind: str, end_kind: str, keys: list[str], horizon_h: float
              ) -> pd.DataFrame:
    """Pair ``start_kind`` and ``end_kind`` events on ``keys`` (in order of occurrence) into
    intervals with ``start_h`` and ``end_h`` (the horizon when still open)."""
    return _interval_frame(as_log(events), (start_kind, end_kind), keys, horizon_h)


def _replication_keys(log: Log, keys: list[str]) -> list[str]:
    """``keys``, led by ``replication`` when the log holds several replications."""
    rep = log.replication
    return ["replication", *keys] if len(rep) and rep.min() != rep.max() else keys


def granted_waits(log: Log) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(queue rows, queued_h, seized_h) of every granted request (see :func:`queue_waits`), in
    the order of patient, site, resource and time."""
    keys = _replication_keys(log, ["patient", "site", "resource"])
    rows = np.flatnonzero(log.kind("queue", "seize", "renege"))
    key = log.key(keys, rows)
    t = log.num["time_h"][rows]
    order = np.lexsort((t, key))  # stable: by the keys, then time, then row order
    rows, key, t = rows[order], key[order], t[order]
    kind = log.codes["kind"][rows]
    served = np.zeros(len(rows), dtype=bool)
    if len(rows) > 1:
        served[:-1] = (kind[:-1] == log.code("kind", "queue")) & (kind[1:] == log.code("kind", "seize")) & (
            key[:-1] == key[1:])
    idx = np.flatnonzero(served)
    return rows[idx], t[idx], t[idx + 1]


def queue_waits(events: pd.DataFrame | Log) -> pd.DataFrame:
    """Every granted request: patient, site, resource (pool or role), step, queued_h, seized_h
    and wait_h (hours). A ``queue`` event is paired with the next ``seize`` or ``renege`` of the
    same patient, site and resource; reneged and still-waiting requests are left out."""
    log = as_log(events)
    rows, queued, seized = granted_waits(log)
    out = _key_columns(log, [*_replication_keys(log, ["patient", "site", "resource"]), "step"], rows)
    out["queued_h"], out["seized_h"] = queued, seized
    out["wait_h"] = seized - queued
    return pd.DataFrame(out)


def _down_rows(log: Log) -> np.ndarray:
    """Rows of units' down/up events (a mask)."""
    return (log.num["unit"] >= 0) & log.kind("down", "up")


def unit_down_intervals(events: pd.DataFrame | Log, horizon_h: float) -> pd.DataFrame:
    """When each unit was out of service and why: site, resource, unit, detail (reason),
    start_h, end_h; from the ``down``/``up`` events of units (unit >= 0)."""
    log = as_log(events)
    return _interval_frame(log, ("down", "up"), ["site", "resource", "unit", "detail"], horizon_h, _down_rows(log))


NOT_WORKING = ("off_shift", "vacant", "absent")
"""Reasons a person is not working (besides a staff outage, ``outage:LABEL``): off duty by the
rota, in a vacant place after turnover, absent. Training is work (a trainee is paid and rostered)."""


class _Units:
    """The units of some pools numbered 0..n-1 (pool by pool in the resources table's order,
    unit by unit), and which unit each log row names (-1: none of them)."""

    def __init__(self, log: Log, resources: pd.DataFrame) -> None:
        self.first: list[int] = []
        index: dict[tuple[int, int], tuple[int, int]] = {}
        n = 0
        for i, (site, name, units) in enumerate(zip(resources["site"], resources["name"], resources["units"])):
            self.first.append(n)
            index[(log.code("site", site), log.code("resource", name))] = (n, i)
            n += int(units)
        self.n = n
        self.units = resources["units"].to_numpy(dtype=np.int64)
        self.log, self.index = log, index

    def of(self, rows: np.ndarray) -> np.ndarray:
        """The unit number of each row (indices), -1 for a unit outside these pools."""
        log = self.log
        site, res, unit = log.codes["site"][rows], log.codes["resource"][rows], log.num["unit"][rows].astype(np.int64)
        out = np.full(len(rows), -1, dtype=np.int64)
        for (s, r), (first, pool) in self.index.items():
            m = (site == s) & (res == r) & (unit >= 0) & (unit < self.units[pool])
            out[m] = first + unit[m]
        return out


def _unit_down(log: Log, units: _Units, lo: float, hi: float, only: tuple[str, ...] | None = None
               ) -> Union:
    """The union per unit (numbers of ``units``) of the times each unit was down, clipped to
    [lo, hi]; ``only``: just these reasons (and ``outage:*`` if ``"outage:"`` is among them)."""
    s, start_h, end_h = pair_times(log, ("down", "up"), ["site", "resource", "unit", "detail"], _down_rows(log), hi)
    if only is not None and len(s):
        detail = log.text("detail", s)
        keep = np.isin(detail, [o for o in only if o != "outage:"])
        if "outage:" in only:
            keep |= np.char.startswith(detail.astype(str), "outage:")
        s, start_h, end_h = s[keep], start_h[keep], end_h[keep]
    g = units.of(s)
    inside = g >= 0
    return union_by_group(g[inside], start_h[inside], end_h[inside], lo, hi)


def staff_hours(events: pd.DataFrame | Log, resources: pd.DataFrame, horizon_h: float, warmup_h: float
                ) -> pd.DataFrame:
    """Hours each person was employed and worked, per rota week (the 168 h from hour 168 w),
    clipped to [warmup_h, horizon_h): site, role, unit, week, hours (of the week in the window),
    employed_h (not in a vacant place), worked_h (not off shift, vacant, absent or out in a staff
    outage). From the ``down``/``up`` events of people."""
    log = as_log(events)
    cols = ["site", "role", "unit", "week", "hours", "employed_h", "worked_h"]
    staff = resources[resources["kind"] == "staff"]
    if staff.empty or int(staff["units"].sum()) == 0:
        return pd.DataFrame(columns=cols)
    people = _Units(log, staff)
    vacant = _unit_down(log, people, warmup_h, horizon_h, ("vacant",))
    off = _unit_down(log, people, warmup_h, horizon_h, (*NOT_WORKING, "outage:"))
    w0, w1 = int(warmup_h // HOURS_PER_WEEK), int(np.ceil(horizon_h / HOURS_PER_WEEK))
    weeks = np.arange(w0, max(w1, w0 + 1))
    lo = np.clip(weeks * HOURS_PER_WEEK, warmup_h, horizon_h)
    hi = np.clip((weeks + 1) * HOURS_PER_WEEK, warmup_h, horizon_h)
    nw = len(weeks)
    g = np.repeat(np.arange(people.n), nw)
    a, b = np.tile(lo, people.n), np.tile(hi, people.n)
    pool = np.repeat(np.arange(len(staff)), staff["units"].to_numpy(dtype=np.int64) * nw)
    return pd.DataFrame({
        "site": text_series(staff["site"].to_numpy(dtype=object)[pool]),
        "role": text_series(staff["name"].to_numpy(dtype=object)[pool]),
        "unit": np.concatenate([np.repeat(np.arange(int(u)), nw) for u in staff["units"]]).astype(np.int64),
        "week": np.tile(weeks, people.n), "hours": b - a,
        "employed_h": (b - a) - vacant.within(g, a, b),
        "worked_h": (b - a) - off.within(g, a, b),
    })


def held_rows(log: Log, horizon_h: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(seize rows, start_h, end_h) of every holding of a unit (see :func:`held_intervals`)."""
    keys = _replication_keys(log, ["patient", "site", "resource", "unit"])
    return pair_times(log, ("seize", "release"), keys, None, horizon_h)


def on_duty_hours(events: pd.DataFrame | Log, resources: pd.DataFrame, horizon_h: float, warmup_h: float,
                  held: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> dict:
    """(site, pool) -> (on-duty unit-hours, held on-duty unit-hours) in [warmup_h, horizon_h):
    the hours its units could work (not down for any reason) and the hours they were held by a
    batch or task while on duty (a batch inside a broken unit is held, not busy). ``held``: the
    holdings as :func:`held_rows` gives them (computed when not given)."""
    log = as_log(events)
    window = horizon_h - warmup_h
    units = _Units(log, resources)
    down = _unit_down(log, units, warmup_h, horizon_h)
    down_h = down.length(units.n)
    s, a, b = held if held is not None else held_rows(log, horizon_h)
    g = units.of(s)
    m = g >= 0
    g, a, b = g[m], np.clip(a[m], warmup_h, horizon_h), np.clip(b[m], warmup_h, horizon_h)
    busy_h = np.bincount(g, weights=(b - a) - down.within(g, a, b), minlength=units.n)[:units.n]
    out: dict[tuple[str, str], tuple[float, float]] = {}
    for i, (site, name, n) in enumerate(zip(resources["site"], resources["name"], resources["units"])):
        first = units.first[i]
        on = window * int(n) - float(down_h[first:first + int(n)].sum())
        out[(site, name)] = (on, float(busy_h[first:first + int(n)].sum()))
    return out


def _first_per_patient(log: Log, rows: np.ndarray, n_patients: int, last: bool = False) -> np.ndarray:
    """For each patient 0..n-1, its first (or last) row among ``rows`` (indices), -1 if none."""
    out = np.full(n_patients, -1, dtype=np.int64)
    p = log.num["patient"][rows]
    ok = (p >= 0) & (p < n_patients)
    rows, p = rows[ok], p[ok]
    if last:
        out[p] = rows  # later assignments win
    else:
        out[p[::-1]] = rows[::-1]
    return out


def _column(values: np.ndarray, at: np.ndarray, fill=np.nan) -> np.ndarray:
    """``values[at]`` where ``at`` >= 0, else ``fill`` (float or object)."""
    out = np.full(len(at), fill, dtype=values.dtype if values.dtype == object else float)
    ok = at >= 0
    out[ok] = values[at[ok]]
    return out


def batches_table(
    events: pd.DataFrame | Log, n_patients: int, horizon_h: float, warmup_h: float, steps: list[str]
) -> pd.DataFrame:
    """One row per patient of one replication, built from its event log.

    ``steps`` are the journey's step names in order: each gets ``<step>_start_h`` and
    ``<step>_end_h`` columns (NaN where a batch never got there), so the table has the same
    columns whatever happened in the run. One assignment per column below (add a column there)."""
    log = as_log(events)
    n = n_patients
    t, patient = log.num["time_h"], log.num["patient"]
    site = log.text("site")
    rep = int(log.replication[0]) if len(log) else 0
    ref = _first_per_patient(log, np.flatnonzero(log.kind("referral")), n)
    receipt = _first_per_patient(log, np.flatnonzero(log.kind("step_start") & log.where("step", "receipt")), n)
    oc = _first_per_patient(log, np.flatnonzero(log.kind("outcome") & (patient >= 0)), n)
    col: dict[str, object] = {"replication": np.full(n, rep, dtype=np.int64), "patient": np.arange(n, dtype=np.int64)}
    col["referral_h"] = _column(t, ref)
    col["hospital"] = text_series(_column(site, ref, None))
    col["made_at"] = text_series(_column(site, receipt, None))
    marks = {}
    for edge, kind in (("start", "step_start"), ("end", "step_end")):
        rows = np.flatnonzero(log.kind(kind) & (patient >= 0) & (patient < n))
        code = log.codes["step"][rows]
        for s in steps:
            c = log.code("step", s)
            marks[f"{s}_{edge}_h"] = _column(t, _first_per_patient(log, rows[code == c], n)) if c >= 0 else np.full(
                n, np.nan)
    for s in steps:
        for edge in ("start", "end"):
            col[f"{s}_{edge}_h"] = marks[f"{s}_{edge}_h"]
    outcome = _column(log.text("detail"), oc, None)
    outcome[oc < 0] = "in_progress"
    col["outcome"] = pd.Categorical(outcome, categories=list(ALL_OUTCOMES))
    col["cause"] = text_series(np.where(oc >= 0, _column(log.text("step"), oc, None), ""))
    col["outcome_h"] = outcome_h = _column(t, oc)
    infused = np.isin(outcome, INFUSED)
    col["vein_to_vein_days"] = np.where(infused, (col["infusion_start_h"] - col["apheresis_start_h"]) / HOURS_PER_DAY,
                                        np.nan)
    col["time_in_system_h"] = np.where(np.isnan(outcome_h), horizon_h, outcome_h) - col["referral_h"]
    col["in_window"] = col["referral_h"] >= warmup_h
    ps, pa, pb = _pauses(log, outcome_h, ["patient", "step"], horizon_h)
    col["paused_h"] = np.bincount(patient[ps], weights=pb - pa, minlength=n)[:n] if len(ps) else np.zeros(n)
    meas = np.flatnonzero(log.kind("measure") & (patient >= 0))
    for res, name in (("cells", "harvest_cells"), ("viability", "harvest_viability"),
                      ("contam_cfu", "harvest_contam_cfu"), ("culture_h", "culture_h")):
        c = log.code("resource", res)
        at = _first_per_patient(log, meas[log.codes["resource"][meas] == c], n, last=True) if c >= 0 else np.full(n, -1)
        col[name] = _column(log.num["value"], at)
    dmg = np.flatnonzero(log.kind("damage") & log.where("detail", "contamination"))
    col["contaminated"] = np.isin(np.arange(n), patient[dmg]) | (np.nan_to_num(col["harvest_contam_cfu"]) > 0)
    col.update(_orchestration_columns(log, n))
    return pd.DataFrame(col)


def _orchestration_columns(log: Log, n: int) -> dict[str, np.ndarray]:
    """Per patient: ``last_apheresis_start_h`` (the attempt made last: a re-manufacture from a new
    apheresis collects again), ``released_h`` (the last ``step_end`` of the release or of a release
    stage ``release:*``: the released attempt's), ``attempts`` (manufacturing attempts: 1 +
    ``remanufacture`` rows; 0 before any), ``rebookings`` (``rebooked`` and ``infusion_rebooked``
    rows: changes to the patient's plan)."""
    t, patient = log.num["time_h"], log.num["patient"]
    mine = (patient >= 0) & (patient < n)
    step = log.cats["step"]
    release_codes = [i for i, name in enumerate(step) if name == "release" or str(name).startswith("release:")]
    ends = np.flatnonzero(log.kind("step_end") & mine & np.isin(log.codes["step"], release_codes))
    aph = np.flatnonzero(log.kind("step_start") & mine & log.where("step", "apheresis"))
    remade = patient[np.flatnonzero(log.kind("remanufacture") & mine)]
    rebooked = patient[np.flatnonzero(log.kind("rebooked", "infusion_rebooked") & mine)]
    collected = np.bincount(patient[aph], minlength=n)[:n] > 0 if len(aph) else np.zeros(n, dtype=bool)
    return {
        "last_apheresis_start_h": _column(t, _first_per_patient(log, aph, n, last=True)),
        "released_h": _column(t, _first_per_patient(log, ends, n, last=True)),
        "attempts": np.where(collected, 1 + np.bincount(remade, minlength=n)[:n], 0).astype(np.int64),
        "rebookings": np.bincount(rebooked, minlength=n)[:n].astype(np.int64),
    }


def _pauses(log: Log, outcome_h: np.ndarray, keys: list[str], horizon_h: float
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pause rows, start_h, end_h) of patients' pause/resume intervals paired on ``keys``, cut
    at each patient's outcome (``outcome_h`` by patient id; NaN: none) as :func:`until_outcome`."""
    s, a, b = pair_times(log, ("pause", "resume"), keys, log.num["patient"] >= 0, horizon_h)
    p = log.num["patient"][s]
    cut = np.full(len(s), np.inf)
    known = p < len(outcome_h)
    cut[known] = np.nan_to_num(outcome_h[p[known]], nan=np.inf)
    return s, a, np.minimum(b, np.maximum(cut, a))


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


def impacts_table(events: pd.DataFrame | Log, batches: pd.DataFrame, horizon_h: float) -> pd.DataFrame:
    """Every effect on a batch, one row each: patient, site (where it happened), step, cause,
    effect, hours (see the module docstring). Pauses come from pause/resume events, damage from
    damage events (an outage's CO2 loss in a culture, contamination, a leak), and lost/failed
    outcomes carry the cause named in their outcome (``STEP:CAUSE``; a stop past the unit's
    tolerance, ``STEP:stopped_LABEL``, is filed under ``LABEL``)."""
    log = as_log(events)
    rep = int(log.replication[0]) if len(log) else 0
    patient = log.num["patient"]
    outcome_h = np.full(int(batches["patient"].max()) + 1 if len(batches) else 0, np.nan)
    outcome_h[batches["patient"].to_numpy()] = batches["outcome_h"].to_numpy(dtype=float)
    s, a, b = _pauses(log, outcome_h, ["patient", "site", "step", "detail"], horizon_h)
    cause = np.array([_impact_cause(c) for c in log.cats["detail"]], dtype=object)
    rows = [pd.DataFrame({"patient": patient[s], "site": text_series(log.text("site", s)),
                          "step": text_series(log.text("step", s)), "cause": text_series(cause[log.codes["detail"][s]]),
                          "effect": "pause", "time_h": a, "hours": b - a})]
    d = np.flatnonzero(log.kind("damage") & (patient >= 0))
    rows.append(pd.DataFrame({"patient": patient[d], "site": text_series(log.text("site", d)),
                              "step": text_series(log.text("step", d)),
                              "cause": text_series(cause[log.codes["detail"][d]]), "effect": "damage",
                              "time_h": log.num["time_h"][d], "hours": 0.0}))
    o = batches[batches["outcome"].isin(["lost", "failed"])]
    if len(o):
        first = _first_per_patient(log, np.flatnonzero(log.kind("outcome") & (patient >= 0)), len(outcome_h))
        where = _column(log.text("site"), first[o["patient"].to_numpy()], None)
        causes = o["cause"].astype(str)
        rows.append(pd.DataFrame({"patient": o["patient"].to_numpy(),
                                  "site": text_series(np.where(pd.isna(where), "", where)),
                                  "step": [c.rpartition(":")[0] or c for c in causes],
                                  "cause": [_impact_cause(c.rpartition(":")[2]) for c in causes],
                                  "effect": o["outcome"].astype(str).to_numpy(), "time_h": o["outcome_h"].to_numpy(),
                                  "hours": 0.0}))
    out = pd.concat([r for r in rows if len(r)], ignore_index=True) if any(len(r) for r in rows) else pd.DataFrame(
        {"patient": pd.Series(dtype=np.int64), "site": pd.Series(dtype=str), "step": pd.Series(dtype=str),
         "cause": pd.Series(dtype=str), "effect": pd.Series(dtype=str), "time_h": pd.Series(dtype=float),
         "hours": pd.Series(dtype=float)})
    out.insert(0, "replication", rep)
    return out


_LOST = {"hvac": "air"}
"""The site condition an outage takes away, where it is not named as the outage's ``what``."""


def outages_table(events: pd.DataFrame | Log, impacts: pd.DataFrame, horizon_h: float) -> pd.DataFrame:
    """One row per outage occurrence (see the module docstring), from outage_start/outage_end,
    backup_start/backup_end and down/up events that carry the outage's label."""
    log = as_log(events)
    rep = int(log.replication[0]) if len(log) else 0
    site_rows = log.num["patient"] < 0
    keys = ["site", "resource", "detail"]
    occ = _interval_frame(log, ("outage_start", "outage_end"), keys, horizon_h, site_rows)
    cols = ["replication", "label", "site", "what", "start_h", "end_h", "backup", "backup_h", "lost_h",
            "knock_on", "batches_hit", "patients"]
    if occ.empty:
        return pd.DataFrame({c: pd.Series(dtype=object if c in ("label", "site", "what", "backup", "knock_on", "patients")
                                          else float) for c in cols})
    back = _interval_frame(log, ("backup_start", "backup_end"), keys, horizon_h, site_rows)
    lost = _interval_frame(log, ("down", "up"), keys, horizon_h, site_rows & (log.num["unit"] < 0))
    units = unit_down_intervals(log, horizon_h)
    units = units[units["detail"].str.startswith("outage:")].assign(detail=lambda d: d["detail"].str[7:])
    gen = np.flatnonzero(site_rows & log.kind("backup_failed"))
    failed_gen = pd.DataFrame({"site": log.text("site", gen), "detail": log.text("detail", gen),
                               "time_h": log.num["time_h"][gen]})
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


def held_intervals(events: pd.DataFrame | Log, horizon_h: float) -> pd.DataFrame:
    """Who held which unit when: one row per (seize, release) pair with replication (if the
    log has several), patient, site, resource, unit, step (the step that seized it), start_h and
    end_h (the horizon when still held). Used by utilisation, capacity checks and Gantt charts."""
    log = as_log(events)
    s, start_h, end_h = held_rows(log, horizon_h)
    out = _key_columns(log, [*_replication_keys(log, ["patient", "site", "resource", "unit"]), "step"], s)
    out["start_h"], out["end_h"] = start_h, end_h
    return pd.DataFrame(out)


def loaded_waiting_h(events: pd.DataFrame | Log, held: pd.DataFrame | tuple[np.ndarray, np.ndarray, np.ndarray],
                     horizon_h: float, warmup_h: float) -> dict:
    """Hours in the window [warmup_h, horizon_h) that device units were held by a batch doing no
    step (waiting inside for staff, or between steps), per (site, pool); ``held``: the device
    pools' holdings, as from :func:`held_intervals` (or as :func:`held_rows` gives them: seize rows,
    start_h, end_h). A unit held is either processing (some step of its batch in progress,
    pauses included) or loaded but waiting."""
    log = as_log(events)
    patient = log.num["patient"]
    s, a, b = pair_times(log, ("step_start", "step_end"), ["patient", "step"], patient >= 0, horizon_h)
    steps = union_by_group(patient[s], a, b, warmup_h, horizon_h)
    if isinstance(held, pd.DataFrame):
        who, ha, hb = (held[c].to_numpy() for c in ("patient", "start_h", "end_h"))
        site, res = held["site"].to_numpy(dtype=object), held["resource"].to_numpy(dtype=object)
    else:
        hs, ha, hb = held
        who, site, res = patient[hs], log.text("site", hs), log.text("resource", hs)
    ha, hb = np.maximum(ha.astype(float), warmup_h), np.minimum(hb.astype(float), horizon_h)
    ok = hb > ha
    idle = (hb[ok] - ha[ok]) - steps.within(who[ok].astype(np.int64), ha[ok], hb[ok])
    out: dict = {}
    for key, h in zip(zip(site[ok], res[ok]), idle):
        out[key] = out.get(key, 0.0) + float(h)
    return out
