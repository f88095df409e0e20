"""The run report's "Over time" section: per-period KPIs (``<kpi>@<period>``, a scenario's
``periods``) as demand and capacity, vein-to-vein and drop-out, and utilisation by period."""

from __future__ import annotations

import pandas as pd

from twin.reports.page import Section
from twin.results.stats import summarise


def period_summary(kpi_long: pd.DataFrame) -> pd.DataFrame:
    """Means and 95% intervals over replications of the per-period KPIs: kpi (the KPI's name
    without the period), period (``2027``, ``2027Q1``), mean, ci_low, ci_high; in period order
    (empty when the run has none)."""
    per = kpi_long[kpi_long["kpi"].str.contains("@", regex=False)]
    if per.empty:
        return pd.DataFrame(columns=["kpi", "period", "mean", "ci_low", "ci_high"])
    s = summarise(per)
    parts = s["kpi"].str.rsplit("@", n=1, expand=True)
    return (pd.DataFrame({"kpi": parts[0], "period": parts[1], "mean": s["mean"], "ci_low": s["ci_low"],
                          "ci_high": s["ci_high"]}).sort_values(["kpi", "period"]).reset_index(drop=True))


def _line(fig, s: pd.DataFrame, name: str, row: int, scale: float = 1.0) -> None:
    """One KPI over the periods, with its 95% interval as whiskers."""
    fig.add_scatter(x=s["period"], y=s["mean"] * scale, name=name, mode="lines+markers", row=row, col=1,
                    error_y=dict(type="data", array=(s["ci_high"] - s["mean"]).fillna(0) * scale,
                                 arrayminus=(s["mean"] - s["ci_low"]).fillna(0) * scale))


def fig_demand_capacity(ps: pd.DataFrame, resources: pd.DataFrame):
    """Referrals a week by period (top) and each device pool's available units (units x
    availability over the period; bottom)."""
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08)
    _line(fig, ps[ps["kpi"] == "referral_rate_per_week"], "referrals a week", 1)
    units = {f"availability.device.{r.site}.{r.name}": r.units for r in resources.itertuples() if r.kind == "device"}
    for kpi, s in ps[ps["kpi"].isin(list(units))].groupby("kpi"):
        _, _, site, name = kpi.split(".", 3)
        _line(fig, s, f"{name} @ {site} (available units)", 2, float(units[kpi]))
    fig.update_yaxes(title="referrals a week", rangemode="tozero", row=1, col=1)
    fig.update_yaxes(title="available units", rangemode="tozero", row=2, col=1)
    fig.update_xaxes(title="period", row=2, col=1)
    fig.update_layout(height=520, margin=dict(l=10, r=10, t=30, b=40))
    return fig


def fig_v2v_dropout(ps: pd.DataFrame):
    """Vein-to-vein median and p90 (days; top) and the drop-out fraction of the resolved
    (percent; bottom) of each period's referrals."""
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08)
    for kpi, name in (("vein_to_vein_median_days", "vein-to-vein median"), ("vein_to_vein_p90_days", "vein-to-vein p90")):
        _line(fig, ps[ps["kpi"] == kpi], name, 1)
    _line(fig, ps[ps["kpi"] == "dropped_out_fraction_of_resolved"], "dropped out (% of resolved)", 2, 100.0)
    fig.update_yaxes(title="days", rangemode="tozero", row=1, col=1)
    fig.update_yaxes(title="% of resolved", rangemode="tozero", row=2, col=1)
    fig.update_xaxes(title="period of referral", row=2, col=1)
    fig.update_layout(height=520, margin=dict(l=10, r=10, t=30, b=40))
    return fig


def fig_utilisation_by_period(ps: pd.DataFrame):
    """Each device pool's utilisation (percent of on-duty hours) by period."""
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=1)
    for kpi, s in ps[ps["kpi"].str.startswith("utilisation.device.")].groupby("kpi"):
        _, _, site, name = kpi.split(".", 3)
        _line(fig, s, f"{name} @ {site}", 1, 100.0)
    fig.update_yaxes(title="utilisation (% of on-duty hours)", rangemode="tozero")
    fig.update_xaxes(title="period")
    fig.update_layout(height=420, margin=dict(l=10, r=10, t=30, b=40))
    return fig


def over_time_sections(kpi_long: pd.DataFrame, resources: pd.DataFrame) -> list[Section]:
    """The report's "Over time" sections, or none when the run has no per-period KPIs."""
    ps = period_summary(kpi_long)
    if ps.empty:
        return []
    res = resources[resources["replication"] == resources["replication"].min()]
    return [
        Section("Over time: demand and capacity",
                "Per calendar period of the window (the scenario's `periods`): referrals a week (top) and each "
                "device pool's units available for work (units x the fraction of the period they were up and on "
                "duty; bottom), means over replications with 95% CI whiskers.",
                figure=fig_demand_capacity(ps, res)),
        Section("Over time: vein-to-vein and drop-out by period",
                "Of the patients referred in each period: vein-to-vein median and p90 (days; top) and the "
                "fraction of those with an outcome that dropped out while waiting (bottom). A period near the "
                "horizon has patients still in progress, whose vein-to-vein is not yet known.",
                figure=fig_v2v_dropout(ps)),
        Section("Over time: utilisation by period",
                "Each device pool's held unit-hours over its on-duty unit-hours in each period: a pool that "
                "climbs towards 100% is the one that breaks first as demand grows.",
                figure=fig_utilisation_by_period(ps)),
    ]
