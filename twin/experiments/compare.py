"""Compare layouts with common random numbers: the same patients in every layout.

Each layout runs the same replications with the same seed, and every random draw is indexed by
patient (see :meth:`twin.model.world.World.u`), so replication r of layout A and of layout B
see the same referral times, hospitals, durations and QC results; what differs comes from the
layout alone. For each KPI the comparison gives each layout's mean and 95% CI (bounded as in
:func:`twin.results.stats.interval`) and the paired difference (layout minus the first layout)
per replication with its own plain t interval (a difference may be negative), which is far
narrower than the difference of two independent intervals.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from twin.core.errors import InputError
from twin.experiments.run import Precision, Replications, RunResult, add_in_step, extend_to_precision
from twin.results.stats import SUMMARY_COLUMNS, complete_kpis, paired_interval, summarise
from twin.scenario.loading import LoadedScenario

#: Fields that must match for the layouts to share their patients.
SHARED = ("seed", "horizon_days", "warmup_days", "start_date", "referrals", "dropout",
          "apheresis", "infusion")


@dataclass
class Comparison:
    """Runs of every layout and the comparison table (long: layout, kpi, statistics)."""

    names: list[str]
    runs: list[RunResult]
    table: pd.DataFrame


def check_shared(layouts: list[LoadedScenario]) -> None:
    """Refuse layouts that do not share their patient population (no common random numbers)."""
    first = layouts[0].scenario
    for other in layouts[1:]:
        for f in SHARED:
            a, b = getattr(first, f), getattr(other.scenario, f)
            if a != b:
                raise InputError(
                    f"{other.source}: field {f!r} differs from {layouts[0].source}; layouts compared with "
                    f"common random numbers must share {', '.join(SHARED)}"
                )


def layout_names(layouts: list[LoadedScenario]) -> list[str]:
    """Display names: scenario names, made unique with -2, -3 ... (each names a folder, so no
    character a ``file://`` link or a shell would trip on)."""
    names: list[str] = []
    for ld in layouts:
        base, k = ld.scenario.name, 1
        name = base
        while name in names:
            k += 1
            name = f"{base}-{k}"
        names.append(name)
    return names


def _tagged(callback: Callable[[str, int, float], None] | None, name: str) -> Callable[[int, float], None] | None:
    """``callback`` with the layout's name bound as its first argument (None stays None)."""
    if callback is None:
        return None
    return lambda rep, secs: callback(name, rep, secs)


def paired_differences(kpis_a: pd.DataFrame, kpis_b: pd.DataFrame) -> pd.DataFrame:
    """Per KPI: mean of (B - A) over replications present in both, with its 95% t interval.

    Args:
        kpis_a, kpis_b: long KPI tables (replication, kpi, value).
    """
    if "kpi" not in kpis_a or "kpi" not in kpis_b:  # a layout with no completed replication
        return pd.DataFrame(columns=["kpi", "diff_n", "diff_mean", "diff_ci_low", "diff_ci_high"])
    names = set(kpis_a["kpi"]) | set(kpis_b["kpi"])
    kpis_a, kpis_b = complete_kpis(kpis_a, names), complete_kpis(kpis_b, names)
    m = kpis_a.merge(kpis_b, on=["replication", "kpi"], suffixes=("_a", "_b"))
    m["diff"] = m["value_b"] - m["value_a"]
    rows = []
    for kpi, g in m.groupby("kpi", sort=False):
        iv = paired_interval(g["diff"].to_numpy(dtype=float))
        rows.append({"kpi": kpi, "diff_n": iv.n, "diff_mean": iv.mean, "diff_ci_low": iv.low, "diff_ci_high": iv.high})
    return pd.DataFrame(rows)


#: The outage impacts a comparison adds beside the KPIs, per replication (see :func:`outage_kpis`).
OUTAGE_KPIS = ("outages.batches_hit", "outages.lost_h", "outages.delay_h", "outages.backup_h")


def outage_kpis(run: RunResult) -> pd.DataFrame:
    """Per replication of ``run`` (long: replication, kpi, value): the batches its outages hit
    (``outages.batches_hit``, summed over occurrences), the hours supplies or units were lost
    (``outages.lost_h``), the hours batches were paused by any cause (``outages.delay_h``, the sum of
    the ``delay_h.*`` KPIs) and the hours backups carried a load (``outages.backup_h``, the sum of
    ``backup_h.*``); 0 where nothing happened."""
    reps = sorted(set(run.kpis["replication"])) if len(run.kpis) else []
    o = run.outages
    rows = []
    for r in reps:
        k = run.kpis[run.kpis["replication"] == r]
        mine = o[o["replication"] == r] if len(o) else o
        rows += [
            {"replication": r, "kpi": "outages.batches_hit", "value": float(mine["batches_hit"].sum()) if len(mine) else 0.0},
            {"replication": r, "kpi": "outages.lost_h", "value": float(mine["lost_h"].sum()) if len(mine) else 0.0},
            {"replication": r, "kpi": "outages.delay_h", "value": float(k.loc[k["kpi"].str.startswith("delay_h."), "value"].sum())},
            {"replication": r, "kpi": "outages.backup_h", "value": float(k.loc[k["kpi"].str.startswith("backup_h."), "value"].sum())},
        ]
    return pd.DataFrame(rows, columns=["replication", "kpi", "value"])


def compare(
    layouts: list[LoadedScenario],
    replications: int | None = None,
    on_replication: Callable[[str, int, float], None] | None = None,
    precision: Precision | None = None,
    workers: int | None = 1,
) -> Comparison:
    """Run every layout with the same replications and build the comparison table;
    ``on_replication(layout, replication, wall_seconds)`` is called after each replication.

    With ``precision``, replications are added to every layout in step (replication n to each,
    so common random numbers hold) until every layout's main KPIs meet it, or its cap; each
    layout's ``precision`` record says where it stands.

    ``workers`` local processes (None: all cores; 1: in this process) share the replications of
    every layout; the tables are the same whatever the number (see
    :func:`twin.experiments.run.add_in_step`).
    """
    if len(layouts) < 2:
        raise InputError("compare needs at least two scenario files")
    check_shared(layouts)
    n = replications or layouts[0].scenario.replications
    names = layout_names(layouts)
    reps = [Replications(ld, _tagged(on_replication, name), workers) for ld, name in zip(layouts, names)]
    add_in_step(reps, range(n))
    status = extend_to_precision(reps, precision) if precision else [None] * len(reps)
    runs = [r.result(s) for r, s in zip(reps, status)]
    parts = []
    kpis = [pd.concat([r.kpis, outage_kpis(r)], ignore_index=True) if len(r.kpis) else r.kpis for r in runs]
    every = set().union(*(set(k["kpi"]) for k in kpis if len(k)))
    for name, run, kp in zip(names, runs, kpis):
        s = summarise(complete_kpis(kp, every)) if len(run.kpis) else pd.DataFrame(columns=SUMMARY_COLUMNS)
        d = paired_differences(kpis[0], kp)
        parts.append(s.merge(d, on="kpi", how="left").assign(layout=name))
    table = pd.concat(parts, ignore_index=True)
    cols = ["layout", "kpi", "n", "mean", "ci_low", "ci_high", "method", "constant", "warning", "diff_n", "diff_mean", "diff_ci_low", "diff_ci_high"]
    return Comparison(names, runs, table[cols])
