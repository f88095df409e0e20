"""The sweep report: KPI heatmaps over two axes, the sensitivity the design allows (random and
Latin-hypercube designs: standardised regression and partial rank correlation coefficients with
intervals; one-at-a-time: a tornado from the base point; grid: main effects), and the
capacity-versus-demand frontier, from a ``twin sweep`` folder's summary."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from twin.reports.page import Section, render_page
from twin.results.sensitivity import oat_table, sensitivity

KPI_LABELS = {
    "vein_to_vein_p90_days": "vein-to-vein p90 (days)",
    "vein_to_vein_median_days": "vein-to-vein median (days)",
    "dropped_out_fraction_of_resolved": "drop-out (fraction of resolved patients)",
    "failed_fraction_of_resolved": "failed (fraction of resolved patients)",
    "throughput_per_year": "throughput (infusions/yr)",
    "mean_wip": "mean work in progress (patients)",
    "cost_per_dose": "cost per dose",
}


def label(kpi: str) -> str:
    """A KPI's display name with its unit (``<kpi>@<period>``: the KPI's, "in" the period)."""
    kpi, _, period = kpi.partition("@")
    within = f" in {period}" if period else ""
    if kpi.startswith("utilisation."):
        _, kind, site, name = kpi.split(".", 3)
        return f"utilisation of {name} @ {site}{within} (fraction)"
    text = KPI_LABELS.get(kpi, kpi)
    return f"{text}{within}" if not period or "(" not in text else text.replace(" (", f"{within} (", 1)


def short(axis: str) -> str:
    """The last two parts of an axis path (``clinimacs_prodigy.count``)."""
    return ".".join(axis.replace("[", ".").replace("]", "").split(".")[-2:])


def means(summary: pd.DataFrame, axes: list[str], kpi: str) -> pd.DataFrame:
    """Points' mean of ``kpi`` with their axis values."""
    s = summary[summary["kpi"] == kpi]
    return s[[*axes, "mean"]].rename(columns={"mean": kpi})


def tick(v) -> str:
    """An axis value as a tick label: whole numbers without a decimal point (``8``, not ``8.0``)."""
    if isinstance(v, (int, float, np.integer, np.floating)) and float(v).is_integer():
        return str(int(v))
    return f"{v:g}" if isinstance(v, (float, np.floating)) else str(v)


def meets_all(summary: pd.DataFrame, x: str, y: str, axes: list[str], targets: dict[str, dict]) -> pd.DataFrame:
    """Per (y, x) cell (averaged over the other axes, as the heatmaps are): whether the means
    of every target KPI meet their ``{max, min}`` bounds. Cells where a target KPI is missing
    do not meet it."""
    ok = None
    for kpi, t in targets.items():
        m = means(summary, axes, kpi).groupby([y, x])[kpi].mean().unstack(x)
        good = m.notna()
        if t.get("max") is not None:
            good &= m <= t["max"]
        if t.get("min") is not None:
            good &= m >= t["min"]
        ok = good if ok is None else (ok & good.reindex_like(ok).fillna(False))
    return ok if ok is not None else pd.DataFrame()


def fig_heatmap(summary: pd.DataFrame, x: str, y: str, kpi: str, axes: list[str]):
    """Mean ``kpi`` over a grid of two axes (averaged over the other axes), its value written in
    each cell (:func:`outline_cells` marks the cells meeting the targets)."""
    import plotly.graph_objects as go

    m = means(summary, axes, kpi).groupby([y, x])[kpi].mean().unstack(x)
    xs, ys = [tick(v) for v in m.columns], [tick(v) for v in m.index]
    fig = go.Figure(go.Heatmap(z=m.to_numpy(), x=xs, y=ys, colorscale="Viridis", colorbar=dict(title=label(kpi)),
                               texttemplate="%{z:.3g}", textfont=dict(size=12),
                               hovertemplate=f"{short(x)}=%{{x}}<br>{short(y)}=%{{y}}<br>{kpi}=%{{z:.3g}}<extra></extra>"))
    fig.update_xaxes(title=x, type="category")
    fig.update_yaxes(title=y, type="category")
    fig.update_layout(height=420, margin=dict(l=10, r=10, t=30, b=40))
    return fig


def outline_cells(fig, ok: pd.DataFrame):
    """Outline, on a :func:`fig_heatmap` of the same grid, the cells where ``ok`` (from
    :func:`meets_all`) is true; returns the figure."""
    if not len(ok):
        return fig
    ys, xs = [tick(v) for v in ok.index], [tick(v) for v in ok.columns]
    heat = fig.data[0]
    for yv, row in zip(ys, ok.to_numpy()):
        for xv, good in zip(xs, row):
            if bool(good) and xv in heat.x and yv in heat.y:
                j, i = list(heat.x).index(xv), list(heat.y).index(yv)
                fig.add_shape(type="rect", x0=j - 0.5, x1=j + 0.5, y0=i - 0.5, y1=i + 0.5,
                              line=dict(color="#ff3b30", width=3), fillcolor="rgba(0,0,0,0)")
    return fig


def tornado_table(summary: pd.DataFrame, axes: list[str], kpi: str) -> pd.DataFrame:
    """Per axis: the KPI mean (averaged over the other axes) at the axis's lowest and highest
    value, and the swing between them, largest swing first."""
    m = means(summary, axes, kpi)
    rows = []
    for a in axes:
        by = m.groupby(a)[kpi].mean().sort_index()
        if len(by) < 2:
            continue
        rows.append({"axis": a, "low_value": by.index[0], "high_value": by.index[-1],
                     "kpi_at_low": by.iloc[0], "kpi_at_high": by.iloc[-1],
                     "swing": abs(by.iloc[-1] - by.iloc[0])})
    return pd.DataFrame(rows).sort_values("swing", ascending=True) if rows else pd.DataFrame(
        columns=["axis", "low_value", "high_value", "kpi_at_low", "kpi_at_high", "swing"])


def fig_tornado(summary: pd.DataFrame, axes: list[str], kpi: str):
    """Tornado: how far the KPI moves as each axis goes from its lowest to its highest value."""
    import plotly.graph_objects as go

    t = tornado_table(summary, axes, kpi)
    base = float(means(summary, axes, kpi)[kpi].mean())
    fig = go.Figure()
    ylab = [f"{short(r.axis)} ({r.low_value:g} → {r.high_value:g})" for r in t.itertuples()]
    # side by side (grouped), so a short bar is never drawn under a longer one on the same side
    fig.add_bar(y=ylab, x=t["kpi_at_low"] - base, base=base, orientation="h", name="axis at its lowest")
    fig.add_bar(y=ylab, x=t["kpi_at_high"] - base, base=base, orientation="h", name="axis at its highest")
    fig.add_vline(x=base, line_dash="dot", annotation_text="mean of all points")
    fig.update_layout(barmode="group", height=max(260, 60 * len(t) + 120), margin=dict(l=10, r=10, t=40, b=40))
    fig.update_xaxes(title=label(kpi))
    fig.update_yaxes(title="axis (lowest → highest value)")
    return fig


def fig_oat_tornado(summary: pd.DataFrame, axes: list[str], kpi: str):
    """One-at-a-time tornado: from the KPI at the base point, how far it moves with each axis
    alone at its lowest and at its highest value (bars side by side, largest swing on top)."""
    import plotly.graph_objects as go

    w = means(summary, axes, kpi)
    t = oat_table(w, axes, kpi)
    fig = go.Figure()
    if t.empty:
        return fig
    base = float(t["kpi_at_base"].iloc[0])
    ylab = [f"{short(r.axis)} ({tick(r.low_value)} / {tick(r.base_value)} / {tick(r.high_value)})" for r in t.itertuples()]
    fig.add_bar(y=ylab, x=t["kpi_at_low"] - base, base=base, orientation="h", name="axis alone at its lowest")
    fig.add_bar(y=ylab, x=t["kpi_at_high"] - base, base=base, orientation="h", name="axis alone at its highest")
    fig.add_vline(x=base, line_dash="dot", annotation_text="base point")
    fig.update_layout(barmode="group", height=max(260, 60 * len(t) + 120), margin=dict(l=10, r=10, t=40, b=40))
    fig.update_xaxes(title=label(kpi))
    fig.update_yaxes(title="axis (lowest / base / highest value)")
    return fig


def sensitivity_of(summary: pd.DataFrame, axes: list[str], kpi: str, seed: int = 0) -> pd.DataFrame:
    """SRC and PRCC of ``kpi`` on the axes (see :mod:`twin.results.sensitivity`), from the points' means."""
    return sensitivity(means(summary, axes, kpi), axes, kpi, seed=seed)


def fig_coefficients(sens: pd.DataFrame, kpi: str):
    """Standardised regression coefficients and partial rank correlation coefficients per axis,
    side by side, with their 95% bootstrap intervals as whiskers; the axis that matters most on top."""
    import plotly.graph_objects as go

    fig = go.Figure()
    order = list(dict.fromkeys(sens["axis"]))[::-1]
    for measure, name in (("SRC", "standardised regression coefficient"), ("PRCC", "partial rank correlation")):
        d = sens[sens["measure"] == measure].set_index("axis").reindex(order)
        fig.add_bar(y=[short(a) for a in order], x=d["value"], orientation="h", name=name,
                    error_x=dict(type="data", symmetric=False, array=d["ci_high"] - d["value"],
                                 arrayminus=d["value"] - d["ci_low"]))
    fig.add_vline(x=0, line_color="#888")
    fig.update_layout(barmode="group", height=max(260, 60 * len(order) + 120), margin=dict(l=10, r=10, t=40, b=40))
    fig.update_xaxes(title=f"effect on {label(kpi)} (per standard deviation of the axis; -1 to 1)")
    fig.update_yaxes(title="axis")
    return fig


def _sensitivity_section(summary: pd.DataFrame, varying: list[str], kpi: str, spec: dict) -> Section:
    """The sensitivity section the design allows (see :func:`sweep_report`)."""
    design = spec.get("design", "grid")
    if design in ("random", "lhs"):
        sens = sensitivity_of(summary, varying, kpi, seed=int(spec.get("sample_seed", 0)))
        r2 = float(sens["r2"].iloc[0]) if len(sens) else float("nan")
        return Section(
            f"Sensitivity of {label(kpi)}",
            f"For a {design} design each axis's lowest or highest value is a single point, where the other axes are "
            "anywhere, so no bar here is 'the KPI at the axis's extreme'. Instead, per axis: the standardised "
            f"regression coefficient (how many standard deviations {label(kpi)} moves per standard deviation of "
            "the axis, the other axes held fixed, from a least-squares fit on every point's mean; the fit's R² is "
            f"{r2:.2f}) and the partial rank correlation coefficient (needs only a monotone effect), each with "
            "its 95% bootstrap interval; the axis that matters most is on top. Bars are side by side.",
            figure=fig_coefficients(sens, kpi))
    if design == "oat":
        return Section(
            f"Sensitivity of {label(kpi)} (one at a time)",
            f"From {label(kpi)} at the base point (every axis at its middle value), the bars run to its value "
            "with one axis alone at its lowest and at its highest value; the largest swing is on top.",
            figure=fig_oat_tornado(summary, varying, kpi))
    return Section(
        f"Sensitivity of {label(kpi)}",
        f"For each axis, the bars run from the mean of all points to {label(kpi)} when that axis is at its "
        "lowest (and highest) value, averaged over the other axes of the full grid (a main effect); the "
        "longest bars are the axes that matter most. Bars are side by side.",
        figure=fig_tornado(summary, varying, kpi))


def fig_frontier(answer: pd.DataFrame, demand: str, capacity_axes: list[str]):
    """Capacity versus demand: per demand level, the cheapest capacity meeting the targets. The
    demand axis ticks at the sweep's demand levels only (no level in between is drawn as if
    it had been simulated), a marker per level, joined by steps."""
    import plotly.graph_objects as go

    ok = answer[answer["met"].astype(bool)]
    fig = go.Figure()
    for a in capacity_axes:
        if a in ok:
            fig.add_scatter(x=ok[demand], y=ok[a], mode="lines+markers", name=short(a), line_shape="hv")
    missed = answer[~answer["met"].astype(bool)]
    if len(missed):
        fig.add_scatter(x=missed[demand], y=np.zeros(len(missed)), mode="markers", name="no point meets the targets",
                        marker=dict(symbol="x", size=12, color="#d62728"))
    levels = sorted(answer[demand].dropna().unique())
    fig.update_xaxes(title=demand, tickmode="array", tickvals=levels, ticktext=[tick(v) for v in levels])
    fig.update_yaxes(title="capacity needed (units of each axis)", rangemode="tozero", tickformat="d")
    fig.update_layout(height=380, margin=dict(l=10, r=10, t=30, b=40))
    return fig


def _plain(v) -> str:
    """A number as a planner reads it: whole numbers with thousands separators, others to 3
    significant figures; text as it is; nothing for NaN."""
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return ""
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (int, float, np.integer, np.floating)):
        f = float(v)
        if f.is_integer():
            return f"{int(f):,}"
        return f"{f:,.1f}" if abs(f) >= 100 else f"{f:.3g}"
    return str(v)


def answer_table_html(answer: pd.DataFrame, spec: dict, currency: str = "") -> str:
    """The planner's answer as a table: per demand level, whether the targets are met, the
    configuration (each capacity axis), its cost with the unit it is in, each target KPI's mean,
    and what the nearest point missed where none meets them."""
    import html

    ans = spec["answer"]
    demand = ans["demand"]
    cost_kpi = ans.get("cost_kpi")
    if cost_kpi:
        cost_head = f"{label(cost_kpi)} ({currency})" if currency else label(cost_kpi)
    else:
        cost_head = "cost (sum of the sweep file's unit costs)"
    caps = [c for c in answer.columns if c not in (demand, "met", "cost", "missed", *spec.get("targets", {}))]
    cols = [(demand, short(demand)), ("met", "targets met"), *[(c, short(c)) for c in caps], ("cost", cost_head),
            *[(k, label(k)) for k in spec.get("targets", {}) if k in answer], ("missed", "nearest point missed")]
    cols = [(c, h) for c, h in cols if c in answer]
    head = "".join(f"<th>{html.escape(h)}</th>" for _, h in cols)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_plain(r[c]))}</td>" for c, _ in cols) + "</tr>"
                   for _, r in answer.iterrows())
    return f'<table class="kpi"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def sweep_report(sweep_dir: Path) -> str:
    """The sweep report page for ``sweep_dir`` (HTML string)."""
    manifest = json.loads((sweep_dir / "manifest.json").read_text())
    plan = json.loads((sweep_dir / "plan.json").read_text())
    spec = plan.get("spec", {})
    summary = pd.read_parquet(sweep_dir / "summary.parquet")
    axes = manifest["axes"]
    varying = [a for a in axes if summary[a].nunique() > 1]
    kpis = [k for k in [*spec.get("targets", {}), "vein_to_vein_p90_days", "dropped_out_fraction_of_resolved",
                        "throughput_per_year"] if k in set(summary["kpi"])]
    kpis = list(dict.fromkeys(kpis))
    sections: list[Section] = []
    if len(varying) >= 2:
        x, y = varying[0], varying[1]
        rest = [short(a) for a in varying[2:]]
        for k in kpis:
            sections.append(Section(
                f"{label(k)} over {short(x)} and {short(y)}",
                f"Each cell is the mean over replications of {label(k)} at one combination of the two axes"
                + (f", averaged over the other axes ({', '.join(rest)})" if rest else "")
                + ", written in the cell; brighter is higher."
                + (" A red outline marks the cells where every target is met." if spec.get("targets") else ""),
                figure=outline_cells(fig_heatmap(summary, x, y, k, axes),
                                     meets_all(summary, x, y, axes, spec.get("targets", {})))))
    if varying and kpis:
        sections.append(_sensitivity_section(summary, varying, kpis[0], spec))
    answer_path = sweep_dir / "answer.csv"
    if answer_path.exists() and spec.get("answer"):
        answer = pd.read_csv(answer_path)
        demand = spec["answer"]["demand"]
        caps = [a for a in (spec["answer"].get("cost_per_unit") or axes) if a != demand]
        targets = ", ".join(f"{k} {'≤' if v.get('max') is not None else '≥'} "
                            f"{v.get('max') if v.get('max') is not None else v.get('min')}"
                            for k, v in spec.get("targets", {}).items())
        sections.append(Section(
            "The planner's answer",
            f"For each demand level, the cheapest configuration on the sweep's axes that meets every target "
            f"({targets}, on means over replications), its cost and the target KPIs there; where no point "
            "meets them, which target the nearest point missed and by how much.",
            html=answer_table_html(answer, spec, plan.get("currency", ""))))
        sections.append(Section(
            "Capacity versus demand",
            f"For each demand level, the capacity of the cheapest point on the sweep's axes that meets every "
            f"target ({targets}, on means over replications). A red cross marks a demand level no point meets.",
            figure=fig_frontier(answer, demand, caps)))
    sections += _over_time_sections(sweep_dir, spec, plan.get("currency", ""))
    title = f"celltwin sweep report: {manifest['sweep']}"
    subtitle = (f"{spec.get('description', '').strip()} — {manifest['points']} points, {manifest['tasks']} "
                f"scenarios, axes: {', '.join(axes)}")
    footer = f"celltwin {manifest['celltwin_version']} · sweep hash {manifest['sweep_hash']} · file {manifest['sweep_file']}"
    return render_page(title, subtitle, sections, footer)


def _over_time_sections(sweep_dir: Path, spec: dict, currency: str) -> list[Section]:
    """The planner's answer over time (``answer_by_period.csv``, ``first_failure.csv``), if any."""
    import html

    by_period, first = sweep_dir / "answer_by_period.csv", sweep_dir / "first_failure.csv"
    if not by_period.exists() or not first.exists():
        return []
    answer = pd.read_csv(by_period, dtype={"period": str})
    points = pd.read_csv(first, dtype={"first_failure": str}).fillna({"first_failure": "", "missed": ""})
    per_period = answer_table_html(answer, {**spec, "answer": {**spec["answer"], "demand": "period"}}, currency)
    cols = [c for c in points.columns if c != "point_id"]
    head = "".join(f"<th>{html.escape(short(c) if c in spec.get('axes', {}) else c.replace('_', ' '))}</th>"
                   for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_plain(r[c]))}</td>" for c in cols) + "</tr>"
                   for _, r in points.iterrows())
    return [
        Section("The planner's answer over time",
                "For each period, the cheapest plan on the sweep's axes that meets every target in every period up "
                "to and including it (per-period KPIs, on means over replications); where none does, what the "
                "nearest plan missed in that period.", html=per_period),
        Section("When each plan fails",
                "Each plan's cost and the first period where it misses a target (blank: it meets them all), with "
                "what it missed there.",
                html=f'<table class="kpi"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'),
    ]
