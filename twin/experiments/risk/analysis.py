"""The criticality ranking: each vulnerability simulated against the baseline with common random
numbers, its impact per occurrence and its expected annual impact with 95% intervals, and what
each backup buys.

How an impact is measured. The *baseline* is the scenario with its own ``outages:`` removed (their
frequencies and durations are what the analysis measures). For an outage-like vulnerability, each
replication r of the variant has :attr:`RiskOptions.occurrences` scripted occurrences of it (an
``outages:`` entry with ``at_h``; durations drawn per occurrence), placed deterministically:
evenly through the part of the window whose patients are both referred after the warm-up and
resolved by the horizon, offset per replication by a golden-ratio sequence so that the times of
day and week are covered. For a per-event vulnerability (a connection's contamination or leak, a
courier lane's delay or loss) the variant raises its probability by a probe; as every draw is the
patient's own (:meth:`twin.model.world.World.u`), exactly the patients whose draw falls in the
raised band are hit, and the occurrences are the probe times the connections made or shipments
sent. Replication r of the variant and of the baseline share their seeds (common random numbers),
so the paired difference per replication divided by that replication's occurrences is one
estimate of the impact per occurrence; the mean and 95% t interval are over replications
(:func:`twin.results.stats.paired_interval`). The expected annual impact is the frequency (a year)
times that, interval included, so doubling a frequency doubles it exactly. The simulations run
through the sweep executor (:mod:`twin.experiments.sweep.execute`: local processes, resumable).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from twin.core.units import HOURS_PER_DAY
from twin.experiments.risk.vulnerabilities import Vulnerability
from twin.experiments.sweep.spec import Plan, SweepSpec, Task
from twin.results.exposure import OCCURRENCE_MEASURES
from twin.results.stats import paired_interval
from twin.scenario.loading import LoadedScenario

#: The impact measures, per occurrence (and, times the frequency, a year), with their units.
METRICS = {
    "patients_not_infused": "patients",
    "batches_lost": "batches (lost or failed)",
    "extra_v2v_median_days": "days on the window's median vein-to-vein",
    "extra_v2v_p90_days": "days on the window's p90 vein-to-vein",
    "contaminated_infused": "patients infused with undetected contamination",
    "cost": "currency (cost.total)",
    "batches_hit": "batches paused, damaged or lost by it",
    "lost_h": "hours the supply or unit was lost",
    "backup_h": "hours a backup carried the load",
}

LEAD_DAYS = 40.0
"""Occurrences start at least this long after the warm-up (days; assumption: longer than a
vein-to-vein time, so the batches in process then belong to the measured window's patients)."""
TAIL_DAYS = 60.0
"""...and end this long before the horizon (days; assumption: time for a delayed batch to reach
its outcome, so a delay is not counted as a patient not infused)."""
GOLDEN = 0.6180339887498949


@dataclass(frozen=True)
class RiskOptions:
    """How the analysis runs: ``replications`` (default: the scenario's), ``occurrences`` of an
    outage-like vulnerability per replication, local ``workers`` (None: all cores), ``resume`` an
    interrupted folder, ``replace`` an earlier result, ``backups`` (also measure what each backup
    buys), ``rank_by`` (the annual metric that orders the table), ``only`` (shell-style patterns of
    the vulnerability ids to measure, e.g. ``power@*``; default: all), ``on_result(row, done, total)``."""

    replications: int | None = None
    occurrences: int = 2
    workers: int | None = None
    resume: bool = False
    replace: bool = False
    backups: bool = True
    rank_by: str = "patients_not_infused"
    only: tuple[str, ...] = ()
    on_result: Callable[[dict[str, Any], int, int], None] | None = None


@dataclass
class Context:
    """One facility the vulnerabilities are measured in: the scenario as it is (``current``) or
    with one backup stepped up or down; its baseline data and the vulnerabilities to measure."""

    name: str
    data: dict[str, Any]
    vulns: list[Vulnerability]
    baseline_of: str = ""
    """The context whose baseline this one shares ("" for its own): a backup that acts only
    during an outage (a UPS, a generator, a bottle bank, a restore time) leaves the baseline,
    which has no outage, exactly as it is, so it is not simulated again."""


def _hash(obj: Any) -> str:
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def occurrence_times(warmup_h: float, horizon_h: float, count: int, replication: int) -> list[float]:
    """Start times (hours) of ``count`` occurrences in ``replication``: evenly spaced through the
    window less its lead and tail (:data:`LEAD_DAYS`, :data:`TAIL_DAYS`, each at most a quarter
    of the window), offset by the golden-ratio sequence (deterministic: no random stream)."""
    window = horizon_h - warmup_h
    lead = min(LEAD_DAYS * HOURS_PER_DAY, 0.25 * window)
    tail = min(TAIL_DAYS * HOURS_PER_DAY, 0.25 * window)
    span = window - lead - tail
    u = (0.5 + replication * GOLDEN) % 1.0
    return [round(warmup_h + lead + span * (k + u) / count, 6) for k in range(count)]


def baseline_data(loaded: LoadedScenario) -> dict[str, Any]:
    """The scenario as plain data (its file with its overrides, else its dump), outages removed."""
    from twin.scenario.overrides import apply_overrides
    from twin.scenario.yamlio import load_yaml

    if loaded.source and Path(loaded.source).is_file():
        raw, _ = load_yaml(loaded.source, "scenario")
        data = apply_overrides(raw, list(loaded.overrides))
    else:
        data = loaded.scenario.model_dump(mode="json", by_alias=True, exclude_none=True)
    data["outages"] = []
    return data


def variant_data(base: dict[str, Any], v: Vulnerability, replication: int, occurrences: int) -> dict[str, Any]:
    """``base`` with vulnerability ``v`` in it, for ``replication``."""
    import copy

    from twin.scenario.overrides import set_path, split_path

    data = copy.deepcopy(base)
    if v.outage is not None:
        warm, horizon = float(data.get("warmup_days", 0.0)) * HOURS_PER_DAY, float(data["horizon_days"]) * HOURS_PER_DAY
        data["outages"] = [{**v.outage, "name": f"risk_{k}", "at_h": t}
                           for k, t in enumerate(occurrence_times(warm, horizon, occurrences, replication))]
    for path, value in v.probe.items():
        set_path(data, split_path(path), value, path)
    return data


def _check(data: dict[str, Any], base_dir: Path) -> str:
    """"" when ``data`` is a valid scenario, else why not (the vulnerability does not apply)."""
    from twin.core.errors import InputError
    from twin.scenario.loading import scenario_from_data

    try:
        scenario_from_data(data, source="<risk variant>", base_dir=base_dir)
    except InputError as err:
        return str(getattr(err, "message", err))
    return ""


def build_plan(name: str, contexts: list[Context], reps: int, occurrences: int, base_dir: Path) -> tuple[Plan, list[dict]]:
    """The sweep plan of every context's baseline and vulnerabilities (a point each), and the
    points (context, vulnerability id or ``baseline``, status)."""
    tasks: list[Task] = []
    points: list[dict[str, Any]] = []
    exposures = tuple(sorted({v.exposure for c in contexts for v in c.vulns if v.exposure}))
    for c in contexts:
        entries: list[tuple[str, Vulnerability | None]] = [("baseline", None), *[(v.id, v) for v in c.vulns]]
        if c.baseline_of:
            points.append({"point_id": _hash([c.baseline_of, "baseline"]), "context": c.name,
                           "vulnerability": "baseline", "status": "ok"})
            entries = entries[1:]
        for vid, v in entries:
            pid = _hash([c.name, vid])
            datas = [c.data if v is None else variant_data(c.data, v, r, occurrences) for r in range(reps)]
            why = _check(datas[0], base_dir)
            points.append({"point_id": pid, "context": c.name, "vulnerability": vid, "status": why or "ok"})
            if why:
                continue
            measure = exposures if v is None else (("outage:risk_",) if v.outage is not None else (v.exposure,))
            for r, d in enumerate(datas):
                tasks.append(Task(_hash([d, r, measure]), pid, r, d, str(base_dir), measure))
    spec = SweepSpec(name=name, base="<risk>", axes={"vulnerability": [p["vulnerability"] for p in points]},
                     replications=reps)
    sweep_hash = _hash([name, [t.scenario_id for t in tasks]])
    return Plan(spec, "<risk>", sweep_hash, points, tasks, ""), points


def wide_by_point(runs: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Per point: replication x KPI values."""
    ok = runs[runs["status"] == "ok"]
    return {str(pid): g.pivot_table(index="replication", columns="kpi", values="value", aggfunc="first")
            for pid, g in ok.groupby("point_id")}


def _col(df: pd.DataFrame, name: str, reps: pd.Index) -> pd.Series:
    return df[name].reindex(reps) if name in df else pd.Series(0.0 if name.startswith(("risk.", "lost", "failed"))
                                                                else math.nan, index=reps)


def per_occurrence(base: pd.DataFrame, var: pd.DataFrame, v: Vulnerability) -> pd.DataFrame:
    """Per replication: each :data:`METRICS` value per occurrence (paired differences from the
    baseline divided by the replication's occurrences), and ``occurrences``."""
    reps = base.index.intersection(var.index)
    b, x = (lambda n: _col(base, n, reps)), (lambda n: _col(var, n, reps))
    if v.outage is not None:
        n = pd.Series([float(sum(1 for c in var.columns if c.startswith("risk.occ.") and c.endswith(".start_h")
                                 and not math.isnan(var.at[r, c]))) for r in reps], index=reps)
        hit, lost_h, backup_h = x("risk.batches_hit"), x("risk.lost_h"), x("risk.backup_h")
    else:
        n = v.probe_step * x(f"risk.exposures.{v.exposure}")
        hit, lost_h, backup_h = n, pd.Series(0.0, index=reps), pd.Series(0.0, index=reps)
    n = n.where(n > 0)
    diff = {
        "patients_not_infused": b("infused") - x("infused"),
        "batches_lost": (x("lost") + x("failed")) - (b("lost") + b("failed")),
        "extra_v2v_median_days": x("vein_to_vein_median_days") - b("vein_to_vein_median_days"),
        "extra_v2v_p90_days": x("vein_to_vein_p90_days") - b("vein_to_vein_p90_days"),
        "contaminated_infused": x("contaminated_infused") - b("contaminated_infused"),
        "cost": x("cost.total") - b("cost.total"),
        "batches_hit": hit, "lost_h": lost_h, "backup_h": backup_h,
    }
    out = pd.DataFrame({k: s / n for k, s in diff.items()})
    out["occurrences"] = n
    return out


def frequency(v: Vulnerability, base: pd.DataFrame, window_years: float) -> float:
    """Occurrences a year: the vulnerability's own, or for a per-event one its probability times
    the baseline's mean exposures a year."""
    if not v.per_event:
        return v.frequency_per_year
    col = f"risk.exposures.{v.exposure}"
    return float(v.probability * base[col].mean() / window_years) if col in base else math.nan


@dataclass
class RiskResult:
    """A finished risk analysis.

    Attributes:
        folder: the run folder.
        vulnerabilities: one row per vulnerability: id, kind, site, frequency_per_year, source,
            backup, status ("ok", or why it does not apply).
        impacts: long: vulnerability, metric, n, per occurrence mean / ci_low / ci_high, annual
            mean / ci_low / ci_high (frequency x per occurrence), method.
        ranking: one row per vulnerability, most harmful first (by the annual ``rank_by``).
        occurrences: per vulnerability, replication and occurrence: start_h, batches_hit, lost_h, backup_h.
        backups: per backup and step: the reduction in expected annual impact, and per unit of cost.
        counts: the executor's counts (planned, skipped, ok, failed, lost).
    """

    folder: Path
    vulnerabilities: pd.DataFrame
    impacts: pd.DataFrame
    ranking: pd.DataFrame
    occurrences: pd.DataFrame
    backups: pd.DataFrame
    counts: dict[str, int] = field(default_factory=dict)


def impacts_table(ctx: Context, wide: dict[str, pd.DataFrame], points: list[dict], window_years: float) -> tuple[
        pd.DataFrame, dict[str, pd.DataFrame], dict[str, float]]:
    """Long impacts of one context, the per-replication per-occurrence frames and frequencies."""
    pid = {p["vulnerability"]: p["point_id"] for p in points if p["context"] == ctx.name}
    base = wide.get(pid["baseline"], pd.DataFrame())
    rows, frames, freqs = [], {}, {}
    for v in ctx.vulns:
        var = wide.get(pid[v.id])
        if var is None or base.empty:
            continue
        per = per_occurrence(base, var, v)
        f = frequency(v, base, window_years)
        frames[v.id], freqs[v.id] = per, f
        for m in METRICS:
            iv = paired_interval(per[m].to_numpy())
            rows.append({"vulnerability": v.id, "metric": m, "n": iv.n, "per_occurrence": iv.mean,
                         "per_occurrence_ci_low": iv.low, "per_occurrence_ci_high": iv.high,
                         "frequency_per_year": f, "annual": f * iv.mean, "annual_ci_low": f * iv.low,
                         "annual_ci_high": f * iv.high, "method": iv.method, "warning": iv.warning})
    return pd.DataFrame(rows), frames, freqs


def ranking_table(vulns: pd.DataFrame, impacts: pd.DataFrame, rank_by: str) -> pd.DataFrame:
    """One row per vulnerability: its description and, per metric, the annual mean and interval
    and the per-occurrence mean; sorted by annual ``rank_by`` (then annual p90 delay), most first."""
    if impacts.empty:
        return vulns.assign(rank=np.nan)
    w = impacts.pivot_table(index="vulnerability", columns="metric",
                            values=["per_occurrence", "annual", "annual_ci_low", "annual_ci_high",
                                    "per_occurrence_ci_low", "per_occurrence_ci_high"], aggfunc="first")
    w.columns = [f"{stat}.{m}" for stat, m in w.columns]
    out = vulns.merge(w.reset_index().rename(columns={"vulnerability": "id"}), on="id", how="left")
    keys = [f"annual.{rank_by}", "annual.extra_v2v_p90_days", "annual.batches_hit"]
    keys = [k for k in dict.fromkeys(keys) if k in out]
    out = out.sort_values(keys, ascending=False, na_position="last", kind="stable").reset_index(drop=True)
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    return out


def occurrences_table(ctx: Context, wide: dict[str, pd.DataFrame], points: list[dict]) -> pd.DataFrame:
    """Per outage-like vulnerability, replication and occurrence: when it started (h), the
    batches it hit, hours lost and hours a backup carried, the sites it struck and hit
    (:data:`twin.results.exposure.OCCURRENCE_MEASURES`)."""
    pid = {p["vulnerability"]: p["point_id"] for p in points if p["context"] == ctx.name}
    rows = []
    for v in ctx.vulns:
        var = wide.get(pid[v.id])
        if var is None or v.outage is None:
            continue
        for r, rec in var.iterrows():
            k = 0
            while f"risk.occ.{k}.start_h" in rec and not math.isnan(rec[f"risk.occ.{k}.start_h"]):
                rows.append({"vulnerability": v.id, "replication": int(r), "occurrence": k,
                             **{m: float(rec.get(f"risk.occ.{k}.{m}", math.nan)) for m in OCCURRENCE_MEASURES}})
                k += 1
    return pd.DataFrame(rows, columns=["vulnerability", "replication", "occurrence", *OCCURRENCE_MEASURES])
