"""The run report: what happened to every batch, device and person in a ``twin run`` folder.

Figure builders take plain tables (as stored in the run folder) so tests can call them on
small fixed tables; ``run_report`` reads the folder and assembles the page.
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from twin.reports.page import Section, render_page
from twin.results import HEADLINE, held_intervals, summarise

KIND_ORDER = {"device": 0, "staff": 1, "chair": 2, "slot": 3}


def _when(start_date: str, hours: pd.Series | np.ndarray) -> pd.Series:
    """Simulation hours -> timestamps from the scenario's start date (plotly dates)."""
    return pd.Timestamp(start_date) + pd.to_timedelta(np.asarray(hours, dtype=float), unit="h")


def step_segments(held: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    """Holdings split into the journey steps done while holding: a Prodigy held from selection
    to harvest becomes four bars (selection, transduction, expansion, harvest) on its row.
    Holdings with no step inside them (staff hands-on, storage) stay whole."""
    ev = events[events["kind"].isin(["step_start", "step_end"])]
    starts = ev[ev["kind"] == "step_start"][["patient", "step", "time_h"]].astype({"step": str})
    ends = ev[ev["kind"] == "step_end"][["patient", "step", "time_h"]].astype({"step": str})
    steps = starts.merge(ends, on=["patient", "step"], suffixes=("_s", "_e"))
    h = held.reset_index(drop=True).reset_index(names="hold")
    m = h.merge(steps, on="patient", suffixes=("", "_inner"))
    inside = m[(m["time_h_s"] >= m["start_h"]) & (m["time_h_e"] <= m["end_h"]) & (m["time_h_e"] > m["time_h_s"])
               & ~m["step_inner"].str.startswith(("ship_", "qc", "storage"))]
    split = inside.assign(step=inside["step_inner"], start_h=inside["time_h_s"], end_h=inside["time_h_e"])
    split = split[h.columns]
    whole = h[~h["hold"].isin(split["hold"])]
    return pd.concat([whole, split], ignore_index=True).drop(columns="hold")


def fig_gantt(held: pd.DataFrame, resources: pd.DataFrame, start_date: str, color: str = "step"):
    """Gantt of who held which unit when (one replication): a row per unit, a bar per holding,
    coloured by ``color`` (``step`` or ``patient``)."""
    import plotly.express as px

    kinds = {(r.site, r.name): r.kind for r in resources.itertuples()}
    df = held.copy()
    df["kind"] = [kinds.get((s, r), "device") for s, r in zip(df["site"], df["resource"])]
    df["row"] = df["resource"] + " #" + (df["unit"] + 1).astype(str) + " @ " + df["site"]
    df["start"] = _when(start_date, df["start_h"])
    df["end"] = _when(start_date, df["end_h"])
    df["batch"] = "patient " + df["patient"].astype(str)
    df["hours"] = (df["end_h"] - df["start_h"]).round(1)
    order = (df.assign(k=df["kind"].map(KIND_ORDER).fillna(9))
             .sort_values(["k", "site", "resource", "unit"])["row"].drop_duplicates().tolist())
    fig = px.timeline(
        df, x_start="start", x_end="end", y="row", color="step" if color == "step" else "batch",
        hover_data={"batch": True, "step": True, "hours": True, "row": False},
        category_orders={"row": order}, color_discrete_sequence=px.colors.qualitative.Dark24,
    )
    fig.update_yaxes(title="unit (device, person, chair or slot)", autorange="reversed")
    fig.update_xaxes(title="date (simulation time from the scenario start date)")
    fig.update_layout(height=max(300, 22 * len(order) + 140), legend_title_text=color,
                      margin=dict(l=10, r=10, t=30, b=40))
    return fig


def fig_utilisation(kpi_long: pd.DataFrame):
    """Utilisation per pool: mean over replications with 95% CI error bars (percent)."""
    import plotly.graph_objects as go

    util = kpi_long[kpi_long["kpi"].str.startswith("utilisation.")]
    s = summarise(util).copy()
    parts = s["kpi"].str.split(".", n=3, expand=True)
    s["kind"], s["label"] = parts[1], parts[3] + " @ " + parts[2]
    s = s.sort_values(["kind", "mean"], ascending=[True, False])
    err_hi = (s["ci_high"] - s["mean"]).fillna(0) * 100
    err_lo = (s["mean"] - s["ci_low"]).fillna(0) * 100
    fig = go.Figure()
    for kind, grp in s.groupby("kind", sort=False):
        idx = grp.index
        fig.add_bar(x=grp["label"], y=grp["mean"] * 100, name=kind,
                    error_y=dict(type="data", array=err_hi.loc[idx], arrayminus=err_lo.loc[idx]))
    fig.update_yaxes(title="utilisation (% of on-duty hours)", rangemode="tozero")
    fig.update_xaxes(title="pool (resource @ site)")
    fig.update_layout(height=420, legend_title_text="kind", margin=dict(l=10, r=10, t=30, b=40))
    return fig


def wip_series(batches: pd.DataFrame, horizon_h: float) -> pd.DataFrame:
    """Patients in the system (referred, no outcome yet) after every change: replication,
    time_h, wip."""
    rows = []
    for rep, b in batches.groupby("replication"):
        t = np.concatenate([b["referral_h"].to_numpy(), b["outcome_h"].dropna().to_numpy()])
        d = np.concatenate([np.ones(len(b)), -np.ones(b["outcome_h"].notna().sum())])
        order = np.lexsort((d, t))
        rows.append(pd.DataFrame({"replication": rep, "time_h": t[order], "wip": np.cumsum(d[order])}))
    out = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=["replication", "time_h", "wip"])
    return out[out["time_h"] <= horizon_h]


def fig_wip(batches: pd.DataFrame, start_date: str, horizon_h: float, warmup_h: float):
    """Work in progress over time, one line per replication, the warm-up shaded."""
    import plotly.graph_objects as go

    w = wip_series(batches, horizon_h)
    fig = go.Figure()
    for rep, g in w.groupby("replication"):
        fig.add_scatter(x=_when(start_date, g["time_h"]), y=g["wip"], mode="lines", line_shape="hv",
                        name=f"replication {rep}", opacity=0.8)
    if warmup_h > 0:
        fig.add_vrect(x0=_when(start_date, [0])[0], x1=_when(start_date, [warmup_h])[0],
                      fillcolor="grey", opacity=0.15, line_width=0, annotation_text="warm-up")
    fig.update_yaxes(title="patients in process (referred, no outcome yet)", rangemode="tozero")
    fig.update_xaxes(title="date")
    fig.update_layout(height=380, margin=dict(l=10, r=10, t=30, b=40))
    return fig


def fig_vein_to_vein(batches: pd.DataFrame):
    """Histogram of vein-to-vein days of infused patients referred after warm-up (all
    replications pooled), median and p90 marked."""
    import plotly.graph_objects as go

    v = batches.loc[batches["in_window"] & (batches["outcome"] == "infused"), "vein_to_vein_days"].dropna()
    fig = go.Figure()
    fig.add_histogram(x=v, nbinsx=40, name="patients", marker_color="#4c78a8")
    if len(v):
        for q, label, dash in ((0.5, "median", "solid"), (0.9, "p90", "dash")):
            x = float(np.quantile(v, q))
            fig.add_vline(x=x, line_dash=dash, line_color="#d62728",
                          annotation_text=f"{label} {x:.1f} d", annotation_position="top")
    fig.update_xaxes(title="vein-to-vein time (days, apheresis start to infusion start)")
    fig.update_yaxes(title="patients")
    fig.update_layout(height=380, showlegend=False, margin=dict(l=10, r=10, t=40, b=40))
    return fig


def outcome_table(batches: pd.DataFrame) -> pd.DataFrame:
    """Patients referred after warm-up by outcome and cause, mean per replication."""
    cohort = batches[batches["in_window"]]
    n_reps = max(batches["replication"].nunique(), 1)
    t = cohort.groupby(["outcome", "cause"], observed=True).size().rename("patients").reset_index()
    t["patients"] = t["patients"] / n_reps
    t["cause"] = t["cause"].replace({"": "(still in process)"})
    return t.sort_values("patients", ascending=False)


def fig_outcomes(batches: pd.DataFrame):
    """Bar chart of outcomes by cause (mean patients per replication)."""
    import plotly.express as px

    t = outcome_table(batches)
    t["label"] = t["outcome"].astype(str) + ": " + t["cause"].astype(str)
    fig = px.bar(t, x="patients", y="label", color="outcome", orientation="h")
    fig.update_xaxes(title="patients per replication (referred after warm-up)")
    fig.update_yaxes(title="outcome: cause", autorange="reversed")
    fig.update_layout(height=max(260, 36 * len(t) + 120), margin=dict(l=10, r=10, t=30, b=40))
    return fig


def _num(v: float | None) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:,.1f}"


def kpi_table_html(summary: dict[str, Any]) -> str:
    """The headline KPIs as an HTML table (mean and 95% CI)."""
    kp = summary["kpis"]
    rows = ["<table class='kpi'><tr><th>KPI</th><th>mean</th><th>95% CI</th></tr>"]
    for key, label, unit in HEADLINE:
        if key not in kp:
            continue
        k = kp[key]
        ci = f"[{_num(k['ci_low'])}, {_num(k['ci_high'])}]" if k.get("ci_low") is not None else "–"
        lab = f"{label} ({unit})" if unit else label
        rows.append(f"<tr><td>{html.escape(lab)}</td><td>{_num(k['mean'])}</td><td>{ci}</td></tr>")
    rows.append("</table>")
    return "".join(rows)


def run_report(run_dir: Path, replication: int = 0) -> str:
    """The run report page for ``run_dir`` (HTML string)."""
    summary = json.loads((run_dir / "summary.json").read_text())
    record = json.loads((run_dir / "scenario.json").read_text())["scenario"]
    prov = summary["provenance"]
    start, horizon_h, warmup_h = prov["start_date"], prov["horizon_days"] * 24, prov["warmup_days"] * 24
    events = pd.read_parquet(run_dir / "events.parquet")
    batches = pd.read_parquet(run_dir / "batches.parquet")
    resources = pd.read_parquet(run_dir / "resources.parquet")
    kpi_long = pd.read_parquet(run_dir / "kpis.parquet")

    ev = events[events["replication"] == replication]
    held = step_segments(held_intervals(ev, horizon_h), ev)
    res = resources[resources["replication"] == replication]
    n = prov["replications_completed"]
    sections = [
        Section("Key figures", f"Means over {n} replication(s) with 95% confidence intervals (Student t). "
                "Patient counts are of patients referred after the warm-up.", html=kpi_table_html(summary)),
        Section(
            f"Timeline of devices and staff (replication {replication})",
            "Each row is one unit: a device, a person of a staff role, an apheresis chair or an infusion "
            "slot. Each bar is one batch holding that unit, coloured by the step that took it; hover for "
            "the patient and hours. Gaps are idle time. Staff bars show hands-on hours only. Drag to zoom.",
            figure=fig_gantt(held, res, start),
        ),
        Section(
            "Utilisation per device type and staff role",
            "Held unit-hours over available unit-hours in the measurement window, mean over replications "
            "with 95% CI whiskers. Above about 85% queues grow quickly; a pool near 100% is the bottleneck.",
            figure=fig_utilisation(kpi_long),
        ),
        Section(
            "Work in progress over time",
            "Patients referred and not yet infused, failed, dropped out or lost, one line per replication. "
            "The shaded band is the warm-up, excluded from the KPIs; a line that keeps rising means demand "
            "exceeds capacity.",
            figure=fig_wip(batches, start, horizon_h, warmup_h),
        ),
        Section(
            "Vein-to-vein time",
            "Days from apheresis to infusion of every infused patient referred after the warm-up, all "
            "replications pooled; the red lines mark the pooled median and 90th percentile (the key "
            "figures above average the per-replication values instead).",
            figure=fig_vein_to_vein(batches),
        ),
        Section(
            "Batch outcomes by cause",
            "What became of the patients referred after the warm-up, per replication on average: infused, "
            "failed (cause: the QC test that failed), dropped out while waiting, lost, or still in process "
            "at the horizon.",
            figure=fig_outcomes(batches),
        ),
        Section(
            "Outages",
            "This run has no outage model yet: utilities, device breakdowns, IT and staff outages will be "
            "drawn on the timeline above, with the batches each one hit, when the facility model has them.",
            html="<p class='note'>No outages in this run.</p>",
        ),
    ]
    title = f"celltwin run report: {record['name']}"
    subtitle = (f"{record.get('description', '').strip()} — {prov['horizon_days']:g} days from {start}, "
                f"warm-up {prov['warmup_days']:g} days, {n} replication(s)")
    footer = (f"celltwin {prov['celltwin_version']} · scenario hash {prov['scenario_hash']} · seed "
              f"{prov['root_seed']} · file {prov['scenario_file']} (sha256 {prov['scenario_file_sha256'][:12]}) · "
              f"overrides {prov.get('overrides') or 'none'} · run {prov['created_utc']}")
    return render_page(title, subtitle, sections, footer)
