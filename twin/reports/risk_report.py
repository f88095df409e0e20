"""The risk report: the ranked vulnerabilities, a risk matrix (frequency against severity, with
interval whiskers), what each backup buys, and the batches each occurrence of the top
vulnerabilities hit, from a ``twin risk`` folder."""

from __future__ import annotations

import html
import json
import math
from pathlib import Path

import pandas as pd

from twin.reports.page import Section, render_page

METRIC_LABELS = {
    "patients_not_infused": "patients not infused",
    "batches_lost": "batches lost or failed",
    "extra_v2v_median_days": "extra days on the median vein-to-vein",
    "extra_v2v_p90_days": "extra days on the p90 vein-to-vein",
    "contaminated_infused": "contaminated infusions",
    "cost": "cost",
    "batches_hit": "batches hit",
    "lost_h": "hours lost",
    "backup_h": "hours on backup",
}


def _num(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.3g}"


def _iv(r: pd.Series, prefix: str, m: str) -> str:
    mean, lo, hi = r.get(f"{prefix}.{m}"), r.get(f"{prefix}_ci_low.{m}"), r.get(f"{prefix}_ci_high.{m}")
    if mean is None or mean != mean:
        return ""
    return f"{_num(mean)} [{_num(lo)}, {_num(hi)}]" if lo == lo and hi == hi else _num(mean)


def ranking_html(ranking: pd.DataFrame, rank_by: str) -> str:
    """The ranked table: frequency, where it came from, the backup, and per metric the expected
    annual impact with its 95% interval (and the impact per occurrence)."""
    heads = ["#", "vulnerability", "per year", "source", "backup",
             f"{METRIC_LABELS[rank_by]} a year [95% CI]", f"{METRIC_LABELS[rank_by]} per occurrence",
             "extra p90 days a year [95% CI]", "batches lost a year [95% CI]", "batches hit per occurrence"]
    body = []
    for _, r in ranking.iterrows():
        if r["status"] != "ok":
            cells = [str(int(r["rank"])), r["id"], _num(r["frequency_per_year"]), r["source"], r["backup"],
                     f"not applicable: {r['status']}", "", "", "", ""]
        else:
            cells = [str(int(r["rank"])), r["id"], _num(r["frequency_per_year"]), r["source"], r["backup"] or "none",
                     _iv(r, "annual", rank_by), _iv(r, "per_occurrence", rank_by), _iv(r, "annual", "extra_v2v_p90_days"),
                     _iv(r, "annual", "batches_lost"), _num(r.get("per_occurrence.batches_hit"))]
        body.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>")
    head = "".join(f"<th>{html.escape(h)}</th>" for h in heads)
    return f'<div class="tablewrap"><table class="kpi"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


def fig_risk_matrix(ranking: pd.DataFrame, rank_by: str):
    """Frequency (a year, log scale) against severity (``rank_by`` per occurrence), one point per
    vulnerability with its 95% interval as a whisker; lines of equal expected annual impact are
    diagonals."""
    import plotly.graph_objects as go

    ok = ranking[(ranking["status"] == "ok") & (ranking["frequency_per_year"] > 0)]
    m = f"per_occurrence.{rank_by}"
    fig = go.Figure()
    for kind, g in ok.groupby("kind", sort=True):
        fig.add_scatter(x=g["frequency_per_year"], y=g[m], mode="markers", name=str(kind), text=g["id"],
                        marker=dict(size=10),
                        error_y=dict(type="data", symmetric=False, array=g[f"per_occurrence_ci_high.{rank_by}"] - g[m],
                                     arrayminus=g[m] - g[f"per_occurrence_ci_low.{rank_by}"]),
                        hovertemplate="%{text}<br>%{x:.3g} a year<br>%{y:.3g} per occurrence<extra></extra>")
    fig.update_xaxes(title="frequency (occurrences a year, log scale)", type="log")
    fig.update_yaxes(title=f"{METRIC_LABELS[rank_by]} per occurrence")
    fig.update_layout(height=480, margin=dict(l=10, r=10, t=30, b=40))
    return fig


def fig_backups(backups: pd.DataFrame, rank_by: str):
    """Per backup: the reduction in expected annual ``rank_by`` of the vulnerabilities it covers
    when stepped up and when stepped down (bars side by side, 95% interval whiskers)."""
    import plotly.graph_objects as go

    b = backups[backups["metric"] == rank_by]
    fig = go.Figure()
    order = list(dict.fromkeys(b.sort_values("reduction")["backup"]))
    for step, g in b.groupby("step", sort=True):
        g = g.set_index("backup").reindex(order)
        labels = [f"{k} ({_num(r['from'])} → {_num(r['to'])} {r['unit']})" if r["to"] == r["to"] else k
                  for k, r in g.iterrows()]
        fig.add_bar(y=order, x=g["reduction"], orientation="h", name=f"stepped {step}", text=labels,
                    error_x=dict(type="data", symmetric=False, array=g["reduction_ci_high"] - g["reduction"],
                                 arrayminus=g["reduction"] - g["reduction_ci_low"]),
                    hovertemplate="%{text}<br>reduction %{x:.3g} a year<extra></extra>")
    fig.add_vline(x=0, line_color="#888")
    fig.update_layout(barmode="group", height=max(260, 50 * len(order) + 120), margin=dict(l=10, r=10, t=30, b=40))
    fig.update_xaxes(title=f"reduction in expected {METRIC_LABELS[rank_by]} a year (positive: better)")
    return fig


def fig_occurrences(occ: pd.DataFrame, top: list[str]):
    """The batches each occurrence of the top vulnerabilities hit, by the day it started (every
    replication's occurrences)."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for vid in top:
        g = occ[occ["vulnerability"] == vid]
        if len(g):
            fig.add_scatter(x=g["start_h"] / 24.0, y=g["batches_hit"], mode="markers", name=vid,
                            text=[f"replication {r}, occurrence {k}" for r, k in zip(g["replication"], g["occurrence"])],
                            hovertemplate="%{text}<br>day %{x:.1f}: %{y} batches<extra></extra>")
    fig.update_xaxes(title="day the occurrence started")
    fig.update_yaxes(title="batches hit (paused, damaged or lost)", rangemode="tozero")
    fig.update_layout(height=400, margin=dict(l=10, r=10, t=30, b=40))
    return fig


def risk_report(folder: Path) -> str:
    """The risk report page for a ``twin risk`` folder (HTML string)."""
    prov = json.loads((folder / "risk.json").read_text(encoding="utf-8"))
    rank_by = prov.get("rank_by", "patients_not_infused")
    ranking = pd.read_parquet(folder / "ranking.parquet")
    backups = pd.read_parquet(folder / "backups.parquet")
    occ = pd.read_parquet(folder / "occurrences.parquet")
    label = METRIC_LABELS[rank_by]
    sections = [
        Section("Vulnerabilities, most harmful first",
                f"Each vulnerability simulated against the baseline (the facility without its own outages) with the "
                f"same seeds, {prov['replications']} replications paired; ranked by the expected {label} a year "
                "(frequency x impact per occurrence), then by the expected extra p90 days. Brackets: 95% t intervals "
                "of the paired differences over replications, scaled by the frequency (which is taken as known). "
                "'source' says whether the frequency and duration came from the scenario, the device catalogue or "
                "the risk library (risks/defaults.yaml: assumptions).",
                html=ranking_html(ranking, rank_by)),
        Section("Risk matrix",
                f"One point per vulnerability: how often it happens (a year, log scale) against its {label} per "
                "occurrence, whiskers its 95% interval. Points up and right matter most; vulnerabilities with zero "
                "frequency are left out.",
                figure=fig_risk_matrix(ranking, rank_by)),
    ]
    if len(backups):
        sections.append(Section(
            "What each backup buys",
            f"For each backup, the reduction in the expected {label} a year of the vulnerabilities it covers, when "
            "it is stepped up (more backup) and down (less), each step stated in the hover text and in "
            "backups.csv; whiskers are 95% intervals of the paired reductions. Bars are side by side.",
            figure=fig_backups(backups, rank_by)))
    top = [v for v in ranking.loc[ranking["status"] == "ok", "id"] if v in set(occ["vulnerability"])][:5]
    if top:
        sections.append(Section(
            "Batches each occurrence hit (top vulnerabilities)",
            "Every scripted occurrence of the five highest-ranked outage-like vulnerabilities, in every replication: "
            "the day it started and the batches it paused, damaged or lost (from the outage log).",
            figure=fig_occurrences(occ, top)))
    title = f"celltwin risk report: {prov['scenario_name']}"
    subtitle = (f"{len(ranking)} vulnerabilities, {prov['replications']} replications, "
                f"{prov['occurrences_per_replication']} occurrences of each outage per replication")
    footer = (f"celltwin {prov['celltwin_version']} · scenario hash {prov['scenario_hash'][:16]} · seed "
              f"{prov['root_seed']} · library {prov['library']} · file {prov['scenario_file']}")
    return render_page(title, subtitle, sections, footer)
