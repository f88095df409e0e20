"""The comparison report: layouts side by side and their paired differences, from a
``twin compare`` folder."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from twin.reports.page import Section, render_page
from twin.results.kpis import HEADLINE

SIDE_BY_SIDE = ("vein_to_vein_median_days", "vein_to_vein_p90_days", "throughput_per_year",
                "dropped_out_fraction_of_resolved", "failed_fraction_of_resolved", "mean_wip")
LABELS = {k: (f"{label} ({unit})" if unit else label) for k, label, unit in HEADLINE}
LABELS.update(dropped_out_fraction_of_resolved="drop-out (fraction of resolved patients)",
              failed_fraction_of_resolved="failed (fraction of resolved patients)")


def fig_side_by_side(table: pd.DataFrame, kpis: tuple[str, ...] = SIDE_BY_SIDE):
    """One panel per KPI: each layout's mean with its 95% CI."""
    from plotly.subplots import make_subplots

    kpis = [k for k in kpis if k in set(table["kpi"])]
    layouts = list(dict.fromkeys(table["layout"]))
    cols = min(3, len(kpis))
    rows = -(-len(kpis) // cols)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[LABELS.get(k, k) for k in kpis],
                        vertical_spacing=0.18)
    colours = ["#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2"]
    for j, k in enumerate(kpis, start=1):
        sub = table[table["kpi"] == k].set_index("layout").reindex(layouts)
        fig.add_bar(x=layouts, y=sub["mean"], showlegend=False, marker_color=colours[: len(layouts)],
                    error_y=dict(type="data", array=(sub["ci_high"] - sub["mean"]).fillna(0),
                                 arrayminus=(sub["mean"] - sub["ci_low"]).fillna(0)),
                    row=(j - 1) // cols + 1, col=(j - 1) % cols + 1)
    fig.update_layout(height=330 * rows, margin=dict(l=10, r=10, t=60, b=40))
    return fig


def fig_differences(table: pd.DataFrame, kpis: tuple[str, ...] = SIDE_BY_SIDE):
    """Forest plot: each layout's paired difference from the first layout, as a percentage of
    the first layout's mean, with its 95% CI."""
    import plotly.graph_objects as go

    layouts = list(dict.fromkeys(table["layout"]))
    base = table[table["layout"] == layouts[0]].set_index("kpi")["mean"]
    fig = go.Figure()
    for name in layouts[1:]:
        sub = table[(table["layout"] == name) & table["kpi"].isin(kpis)].set_index("kpi").reindex(
            [k for k in kpis if k in set(table["kpi"])])
        scale = 100.0 / base.reindex(sub.index).abs().where(lambda v: v > 0)
        x = sub["diff_mean"] * scale
        fig.add_scatter(
            x=x, y=[LABELS.get(k, k) for k in sub.index], mode="markers", name=f"{name} − {layouts[0]}",
            marker=dict(size=10),
            error_x=dict(type="data", array=(sub["diff_ci_high"] - sub["diff_mean"]) * scale,
                         arrayminus=(sub["diff_mean"] - sub["diff_ci_low"]) * scale),
        )
    fig.add_vline(x=0, line_dash="dot")
    fig.update_xaxes(title=f"paired difference (% of {layouts[0]}'s mean)")
    fig.update_yaxes(title="KPI", autorange="reversed")
    fig.update_layout(height=max(300, 60 * len(kpis) + 120), margin=dict(l=10, r=10, t=30, b=40))
    return fig


def fig_cost_breakdown(table: pd.DataFrame):
    """Stacked bars: cost per dose by category for each layout (mean over replications)."""
    import plotly.graph_objects as go

    from twin.results.kpis import COST_CATEGORIES

    layouts = list(dict.fromkeys(table["layout"]))
    wide = table.pivot_table(index="layout", columns="kpi", values="mean", aggfunc="first").reindex(layouts)
    fig = go.Figure()
    for cat in COST_CATEGORIES:
        share = wide[f"cost.{cat}"] / wide["cost.total"] * wide["cost_per_dose"]
        fig.add_bar(x=layouts, y=share, name=cat)
    fig.update_layout(barmode="stack", height=420, margin=dict(l=10, r=10, t=30, b=40), legend_title_text="category")
    fig.update_xaxes(title="layout")
    fig.update_yaxes(title="cost per dose (currency of the scenario)")
    return fig


def compare_report(folder: Path) -> str:
    """The comparison report page for a ``twin compare`` folder (HTML string)."""
    table = pd.read_parquet(folder / "comparison.parquet")
    layouts = list(dict.fromkeys(table["layout"]))
    provs = {}
    for name in layouts:
        s = folder / "layouts" / name / "summary.json"
        if s.exists():
            provs[name] = json.loads(s.read_text())["provenance"]
    n = next(iter(provs.values()))["replications_completed"] if provs else "?"
    sections = [
        Section("Layouts side by side",
                f"Each layout's mean over {n} replications with 95% confidence intervals. All layouts saw the same "
                "patients (referral times, hospitals, durations, QC results): differences come from the layout.",
                figure=fig_side_by_side(table)),
        Section("Paired differences",
                f"Each point is a layout's difference from {layouts[0]!r}, replication by replication, as a "
                "percentage of that layout's mean; the whiskers are the 95% interval of the paired difference. A "
                "whisker that does not cross the dotted zero line is a difference the replications support.",
                figure=fig_differences(table)),
    ]
    if "cost_per_dose" in set(table["kpi"]):
        sections.append(Section(
            "Cost of goods per dose",
            "Cost over the measurement window divided by the doses infused in it, split by category: capital "
            "(device depreciation), cleanroom area, labour (paid hours, idle ones included), consumables, QC "
            "tests, courier shipments and site overhead. Fixed costs spread over fewer doses cost more per dose.",
            figure=fig_cost_breakdown(table)))
    else:
        sections.append(Section("Cost of goods per dose", "Add a costs section to the scenarios to see this.",
                                html="<p class='note'>These scenarios have no costs section.</p>"))
    title = f"celltwin comparison: {' vs '.join(layouts)}"
    subtitle = f"{len(layouts)} layouts, {n} replications each, common random numbers"
    footer = " · ".join(f"{k}: scenario hash {v['scenario_hash'][:12]}, seed {v['root_seed']}" for k, v in provs.items())
    return render_page(title, subtitle, sections, footer)
