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


TABLE_COSTS = ("cost_per_dose", "cost.total", "cost.capital", "cost.cleanroom", "cost.labour", "cost.consumables",
               "cost.qc", "cost.courier", "cost.overhead")


def _cell(mean: float, low: float, high: float, sign: bool = False) -> str:
    """``mean [low, high]``; the mean alone when the interval has no width (a fixed cost)."""
    if mean != mean:
        return "–"

    def num(v: float) -> str:
        return f"{v:,.0f}" if abs(v) >= 1000 or float(v).is_integer() else f"{v:,.2f}" if abs(v) < 100 else f"{v:,.1f}"

    text = ("+" if sign and mean > 0 else "") + num(mean)
    if low == low and high == high and high - low > 1e-9 * max(1.0, abs(mean)):
        text += f" [{num(low)}, {num(high)}]"
    return text


def comparison_table_html(table: pd.DataFrame, currency: str = "") -> str:
    """The comparison as numbers: per KPI (rows) each layout's mean [95% CI] and, for every
    layout after the first, the paired change from the first [its own 95% CI]."""
    import html

    layouts = list(dict.fromkeys(table["layout"]))
    by = {(r.layout, r.kpi): r for r in table.itertuples(index=False)}
    present = set(table["kpi"])
    cur = f" ({currency})" if currency else ""
    labels = {**LABELS, "cost_per_dose": f"cost per dose{cur}", "cost.total": f"cost in the window{cur}",
              **{f"cost.{c}": f"&nbsp;&nbsp;{c}" for c in ("capital", "cleanroom", "labour", "consumables", "qc",
                                                              "courier", "overhead")}}
    keys = [k for k in (*LABELS, *TABLE_COSTS) if k in present]
    head = "<th>KPI</th>" + "".join(f"<th>{html.escape(n)}</th>" for n in layouts) + "".join(
        f"<th>{html.escape(n)} − {html.escape(layouts[0])}</th>" for n in layouts[1:])
    rows = []
    for k in keys:
        cells = [_cell(r.mean, r.ci_low, r.ci_high) if (r := by.get((n, k))) else "–" for n in layouts]
        cells += [_cell(r.diff_mean, r.diff_ci_low, r.diff_ci_high, sign=True) if (r := by.get((n, k))) else "–"
                  for n in layouts[1:]]
        label = labels.get(k, html.escape(k))  # labels are trusted text (the &nbsp; indents)
        rows.append(f"<tr><td>{label}</td>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    return (f'<table class="kpi" style="white-space: nowrap"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>")


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
    record = folder / "layouts" / layouts[0] / "scenario.json"
    costs = json.loads(record.read_text())["scenario"].get("costs") if record.exists() else None
    sections = [
        Section("Key figures",
                f"Each layout's mean over {n} replications [95% confidence interval], and each layout's paired "
                f"change from {layouts[0]!r} replication by replication [its own 95% interval]. A cost that is the "
                "same in every replication (capital, cleanroom, labour, overhead) has no interval.",
                html=comparison_table_html(table, (costs or {}).get("currency", ""))),
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
