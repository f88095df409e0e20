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

import math
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from twin.core.errors import InputError
from twin.experiments.run import Precision, Replications, RunResult, add_in_step, extend_to_precision
from twin.results.stats import SUMMARY_COLUMNS, complete_kpis, summarise, t_quantile_975
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
        d = g["diff"].dropna().to_numpy(dtype=float)
        n = len(d)
        mean = float(d.mean()) if n else math.nan
        half = t_quantile_975(n - 1) * float(d.std(ddof=1)) / math.sqrt(n) if n > 1 else math.nan
        rows.append({"kpi": kpi, "diff_n": n, "diff_mean": mean, "diff_ci_low": mean - half, "diff_ci_high": mean + half})
    return pd.DataFrame(rows)


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
    every = set().union(*(set(r.kpis["kpi"]) for r in runs if len(r.kpis)))
    for name, run in zip(names, runs):
        s = summarise(complete_kpis(run.kpis, every)) if len(run.kpis) else pd.DataFrame(columns=SUMMARY_COLUMNS)
        d = paired_differences(runs[0].kpis, run.kpis)
        parts.append(s.merge(d, on="kpi", how="left").assign(layout=name))
    table = pd.concat(parts, ignore_index=True)
    cols = ["layout", "kpi", "n", "mean", "ci_low", "ci_high", "method", "constant", "warning", "diff_n", "diff_mean", "diff_ci_low", "diff_ci_high"]
    return Comparison(names, runs, table[cols])
