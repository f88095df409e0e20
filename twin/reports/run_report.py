"""The run report: what happened to every batch, device and person in a ``twin run`` folder.

Figure builders take plain tables (as stored in the run folder) so tests can call them on
small fixed tables; ``run_report`` reads the folder and assembles the page.
"""

from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from twin.core.units import HOURS_PER_DAY
from twin.core.vocab import SITE_CONDITIONS
from twin.reports.over_time import over_time_sections
from twin.reports.page import Section, render_page
from twin.results.kpis import HEADLINE
from twin.results.stats import MIN_REPLICATIONS, few_replications_warning, summarise
from twin.results.tables import held_intervals, intervals, unit_down_intervals

KIND_ORDER = {"device": 0, "staff": 1, "chair": 2, "slot": 3}
MS_PER_H = 3_600_000.0

#: Site-wide conditions logged as down/up events (patient -1, unit -1): all but air, whose loss is
#: not logged (it shows as its knock-on, grade).
LOGGED_SITE_CONDITIONS = tuple(c for c in SITE_CONDITIONS if c != "air")
CONDITION_COLOR = {"power": "#f2a900", "co2": "#8c564b", "o2": "#1f77b4", "compressed_air": "#7f7f7f",
                   "ln2": "#17becf", "grade": "#9467bd", "it": "#e377c2"}
OFF_DUTY = ("off_shift", "absent", "vacant", "training")
#: Why a unit was out of service, grouped for the Gantt: (legend name, colour, bar pattern, width).
DOWN_STYLE = {
    "off duty": ("off duty (off shift, absent, vacant, training)", "#d9d9d9", "", 0.8),
    "breakdown": ("breakdown", "#d62728", "x", 0.45),
    "maintenance/changeover": ("maintenance/changeover", "#ff9f1c", "/", 0.45),
    "outage": ("outage", "#222222", ".", 0.45),
    "other": ("other", "#8c8c8c", "", 0.45),
}
OUTAGE_COLUMNS = ["replication", "label", "site", "what", "start_h", "end_h", "backup", "backup_h", "lost_h",
                  "knock_on", "batches_hit", "patients"]


def _when(start_date: str, hours: pd.Series | np.ndarray) -> pd.Series:
    """Simulation hours -> timestamps from the scenario's start date (plotly dates), in
    microseconds: nanosecond timestamps end in April 2262, microsecond ones hold any scenario date."""
    return pd.Timestamp(start_date).as_unit("us") + pd.to_timedelta(np.asarray(hours, dtype=float), unit="h").as_unit("us")


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


def down_group(reason: str) -> str:
    """A unit's reason for being out of service as its Gantt group: ``off duty`` (off_shift,
    absent, vacant, training), ``breakdown`` (broken), ``maintenance/changeover``, ``outage``
    (``outage:LABEL``) or ``other``."""
    if reason in OFF_DUTY:
        return "off duty"
    if reason == "broken":
        return "breakdown"
    if reason in ("maintenance", "changeover"):
        return "maintenance/changeover"
    return "outage" if reason.startswith("outage:") else "other"


def site_loss_intervals(events: pd.DataFrame, horizon_h: float) -> pd.DataFrame:
    """When a site lost a condition (power, CO2, O2, compressed air, LN2, cleanroom grade, IT):
    site, resource (the condition), detail (the root cause's label), start_h, end_h; from the
    down/up events with patient and unit -1."""
    cond = events[(events["unit"] < 0) & (events["patient"] < 0) & events["kind"].isin(["down", "up"])
                  & events["resource"].astype(str).isin(LOGGED_SITE_CONDITIONS)]
    out = intervals(cond, "down", "up", ["site", "resource", "detail"], horizon_h)
    return out.sort_values("start_h", kind="stable").reset_index(drop=True)


def _rows(t: pd.DataFrame, kinds: dict) -> pd.DataFrame:
    """Holdings or down intervals with string site/resource, the pool's kind and the row label."""
    t = t.copy()
    t["site"], t["resource"] = t["site"].astype(str), t["resource"].astype(str)
    t["kind"] = [kinds.get((s, r), "device") for s, r in zip(t["site"], t["resource"])]
    t["row"] = t["resource"] + " #" + (t["unit"].astype(int) + 1).astype(str) + " @ " + t["site"]
    return t


@dataclass(frozen=True)
class Downtime:
    """What a Gantt draws besides the holdings: ``units`` out of service (as from
    :func:`twin.results.tables.unit_down_intervals`) and ``sites``' losses of a site-wide condition
    (as from :func:`site_loss_intervals`); None: not drawn."""

    units: pd.DataFrame | None = None
    sites: pd.DataFrame | None = None
    #: With the horizon (h), staff rows show when each person was on duty (the complement of
    #: their off-duty times) instead of grey off-duty bars over most of the year.
    horizon_h: float | None = None


def on_duty_bands(off: pd.DataFrame, rows: list[str], horizon_h: float) -> pd.DataFrame:
    """Per row in ``rows``: the intervals in [0, ``horizon_h``) not covered by its ``off``
    intervals (columns ``row, start_h, end_h``), i.e. when that person was on duty."""
    out = []
    by_row = {r: g for r, g in off.groupby("row")} if len(off) else {}
    for row in rows:
        t = 0.0
        g = by_row.get(row)
        for s, e in (g[["start_h", "end_h"]].sort_values("start_h").to_numpy() if g is not None else []):
            if s > t:
                out.append((row, t, min(s, horizon_h)))
            t = max(t, e)
        if t < horizon_h:
            out.append((row, t, horizon_h))
    return pd.DataFrame(out, columns=["row", "start_h", "end_h"])


@dataclass(frozen=True)
class GanttView:
    """How a Gantt is drawn: bars coloured by ``color`` (``step`` or ``patient``), at most
    ``max_rows`` rows (units) and ``max_bands`` bands of site-wide losses."""

    color: str = "step"
    max_rows: int = 150
    max_bands: int = 40


#: Phases of a batch's journey, in the order a legend lists them, each with its colour family
#: (plotly's sequential scales): steps of one phase get shades of one hue.
PHASES = {"collection": "Purples", "logistics": "Oranges", "manufacture": "Blues", "QC": "Greens",
          "release": "Reds", "infusion": "Greys", "repair": "YlOrBr"}


def step_phase(step: str) -> str:
    """The phase a step belongs to: collection (apheresis, freezing at the hospital), logistics
    (shipments, transfers, receipt), QC (``qc:TEST``), release, infusion, repair (staff repairing
    a device) or manufacture (the recipe, cryopreservation, storage)."""
    if step in ("apheresis", "freezing"):
        return "collection"
    if step.startswith(("ship_", "transfer:", "courier")) or step == "receipt":
        return "logistics"
    if step == "qc" or step.startswith("qc:"):
        return "QC"
    if step.startswith("repair"):
        return "repair"
    if step in ("release", "infusion"):
        return step
    return "manufacture"


def phase_colours(steps: list[str]) -> dict[str, str]:
    """A colour per step: the steps of a phase get distinct shades of the phase's hue, from
    mid to dark in the order given."""
    import plotly.colors as pc

    out: dict[str, str] = {}
    for phase, scale in PHASES.items():
        mine = [s for s in steps if step_phase(s) == phase]
        n = len(mine)
        points = [0.45 + 0.5 * i / (n - 1) for i in range(n)] if n > 1 else [0.7]
        out.update(zip(mine, pc.sample_colorscale(getattr(pc.sequential, scale), points)) if n else ())
    return out


def _phase_order(step: str) -> tuple[int, str]:
    return list(PHASES).index(step_phase(step)), step


def _group_legend_by_phase(fig) -> None:
    """Step traces of one phase side by side in the legend, under the phase's name."""
    names = list(PHASES)
    for tr in fig.data:
        if tr.name and getattr(tr, "legendgroup", None) in (None, "", tr.name):
            phase = step_phase(str(tr.name))
            tr.legendgroup = phase
            tr.legendgrouptitle = dict(text=phase)
            tr.legendrank = 100 + 10 * names.index(phase)


def _staff_duty(df: pd.DataFrame, dn: pd.DataFrame, order: list[str], horizon_h: float | None):
    """(the down intervals without the staff's off-duty ones, the staff's on-duty bands), or
    (``dn``, None) without a horizon."""
    if horizon_h is None:
        return dn, None
    staff = set(df.loc[df["kind"] == "staff", "row"]) | set(dn.loc[dn["kind"] == "staff", "row"])
    rows = [r for r in order if r in staff]
    if not len(dn):
        return dn, on_duty_bands(dn, rows, horizon_h)
    off_staff = (dn["kind"] == "staff") & (dn["group"] == "off duty")
    return dn[~off_staff], on_duty_bands(dn[off_staff], rows, horizon_h)


def _down_traces(dn: pd.DataFrame, duty: pd.DataFrame | None, start_date: str) -> tuple[list, list]:
    """The Gantt's bars drawn behind the holdings (staff on duty, devices off duty) and on top
    of them (breakdowns, maintenance/changeover, outages)."""
    import plotly.graph_objects as go

    behind, on_top = [], []
    if duty is not None and len(duty):
        start = _when(start_date, duty["start_h"])
        behind.append(go.Bar(
            base=start, x=(duty["end_h"] - duty["start_h"]) * MS_PER_H, y=duty["row"], orientation="h",
            width=0.8, name="on duty (staff)", marker=dict(color="#dbe9f6", line_width=0),
            customdata=np.column_stack([start.strftime("%Y-%m-%d %H:%M"), (duty["end_h"] - duty["start_h"]).round(2)]),
            hovertemplate="%{y}<br>on duty from %{customdata[0]} for %{customdata[1]} h<extra></extra>"))
    for group, (name, colour, pattern, width) in DOWN_STYLE.items():
        g = dn[dn["group"] == group] if len(dn) else dn
        if g.empty:
            continue
        start = _when(start_date, g["start_h"])
        trace = go.Bar(
            base=start, x=g["hours"] * MS_PER_H, y=g["row"], orientation="h", width=width, name=name,
            marker=dict(color=colour, line_width=0,
                        pattern=dict(shape=pattern, fillmode="overlay", fgcolor="white", size=6)),
            legendgroup="out of service", legendgrouptitle_text="out of service",
            customdata=np.column_stack([g["detail"].astype(str), start.strftime("%Y-%m-%d %H:%M"),
                                        g["hours"].round(2)]),
            hovertemplate="%{y}<br>out of service: %{customdata[0]}<br>from %{customdata[1]} for "
                          "%{customdata[2]} h<extra></extra>",
        )
        (behind if group == "off duty" else on_top).append(trace)
    return behind, on_top


def fig_gantt(held: pd.DataFrame, resources: pd.DataFrame, start_date: str, downtime: Downtime | None = None,
              view: GanttView | None = None):
    """Gantt of who held which unit when (one replication): a row per unit, a bar per holding,
    coloured by ``view.color`` (``step`` or ``patient``).

    ``downtime.units`` adds a bar per time a unit was out of service, grouped by reason
    (:func:`down_group`): off duty light grey behind the holdings, breakdowns,
    maintenance/changeover and outages as thinner patterned bars on top (a batch paused on a
    broken device stays visible around it). ``downtime.sites`` adds a translucent band across
    every row per site-wide loss (at most ``view.max_bands``). At most ``view.max_rows`` rows:
    devices first, then staff, chairs, slots."""
    import plotly.express as px

    downtime, view = downtime or Downtime(), view or GanttView()
    down, site_losses = downtime.units, downtime.sites
    color, max_rows, max_bands = view.color, view.max_rows, view.max_bands
    kinds = {(r.site, r.name): r.kind for r in resources.itertuples()}
    df = _rows(held, kinds)
    dn = _rows(down, kinds) if down is not None and len(down) else df.iloc[:0].assign(detail="")
    cols = ["kind", "site", "resource", "unit", "row"]
    order = (pd.concat([df[cols], dn[cols]]).assign(k=lambda t: t["kind"].map(KIND_ORDER).fillna(9))
             .sort_values(["k", "site", "resource", "unit"])["row"].drop_duplicates().tolist())
    n_rows = len(order)
    if n_rows > max_rows:
        order = order[:max_rows]
        df, dn = df[df["row"].isin(order)], dn[dn["row"].isin(order)]
    df["start"] = _when(start_date, df["start_h"])
    df["end"] = _when(start_date, df["end_h"])
    df["batch"] = "patient " + df["patient"].astype(str)
    df["hours"] = (df["end_h"] - df["start_h"]).round(1)
    first = df.groupby(df["step"].astype(str))["start_h"].min().to_dict()  # steps in the order they happen
    steps = sorted(first, key=lambda st: (_phase_order(st)[0], first[st], st))
    fig = px.timeline(
        df, x_start="start", x_end="end", y="row", color="step" if color == "step" else "batch",
        hover_data={"batch": True, "step": True, "hours": True, "row": False},
        category_orders={"row": order, "step": steps}, color_discrete_sequence=px.colors.qualitative.Dark24,
        color_discrete_map=phase_colours(steps) if color == "step" else {},
    )
    if color == "step":
        _group_legend_by_phase(fig)
    if len(dn):
        dn = dn.assign(group=dn["detail"].astype(str).map(down_group), hours=dn["end_h"] - dn["start_h"])
    dn, duty = _staff_duty(df, dn, order, downtime.horizon_h)
    behind, on_top = _down_traces(dn, duty, start_date)
    if behind or on_top:
        n0 = len(fig.data)
        fig.add_traces(behind + on_top)
        d = fig.data
        fig.data = d[n0:n0 + len(behind)] + d[:n0] + d[n0 + len(behind):]
    if site_losses is not None and len(site_losses):
        for i, r in enumerate(site_losses.sort_values("start_h", kind="stable").head(max_bands).itertuples()):
            colour = CONDITION_COLOR.get(str(r.resource), "#555555")
            fig.add_vrect(
                x0=_when(start_date, [r.start_h])[0].round("ms"), x1=_when(start_date, [r.end_h])[0].round("ms"),
                fillcolor=colour, opacity=0.25, line_width=1, line_color=colour,
                annotation_text=f"{r.resource} lost @ {r.site} ({r.detail}, {r.end_h - r.start_h:.1f} h)",
                annotation_position=("top left", "bottom left")[i % 2], annotation_font_size=10,
                annotation_font_color=colour, annotation_bgcolor="rgba(255,255,255,0.75)",
            )
    fig.update_yaxes(title="unit (device, person, chair or slot)", autorange="reversed",
                     categoryorder="array", categoryarray=order)
    fig.update_xaxes(title="date (simulation time from the scenario start date)")
    fig.update_layout(height=max(300, 22 * len(order) + 140), legend_title_text=color, barmode="overlay",
                      margin=dict(l=10, r=10, t=30, b=40))
    notes = [f"first {max_rows} of {n_rows} units shown"] if n_rows > max_rows else []
    if site_losses is not None and len(site_losses) > max_bands:
        notes.append(f"first {max_bands} of {len(site_losses)} site-wide losses drawn")
    if notes:
        fig.update_layout(title=dict(text="; ".join(notes), font_size=12), margin_t=40)
    return fig


def outage_segments(outages: pd.DataFrame, events: pd.DataFrame, horizon_h: float) -> pd.DataFrame:
    """What happened inside each outage occurrence (one replication), one row per interval:
    ``occurrence`` (the row's position in ``outages``), ``part`` (``backup``: a backup carried the
    load; ``lost``: the outage's own thing was lost, per unit for device and staff outages;
    ``knock-on``: another site condition it took down), ``what`` (the backup, condition or
    unit), ``start_h``, ``end_h``. Intervals belong to an occurrence as in the outages table:
    same site and label, starting from its start until the next occurrence of the same outage,
    so each occurrence's backup and lost segments add up to its ``backup_h`` and ``lost_h``."""
    cols = ["occurrence", "part", "what", "start_h", "end_h"]
    site_ev = events[events["patient"] < 0]
    back = intervals(site_ev, "backup_start", "backup_end", ["site", "resource", "detail"], horizon_h)
    cond = site_ev[(site_ev["unit"] < 0) & site_ev["kind"].isin(["down", "up"])]
    cond = intervals(cond, "down", "up", ["site", "resource", "detail"], horizon_h)
    units = unit_down_intervals(events, horizon_h)
    units = units[units["detail"].astype(str).str.startswith("outage:")]
    units = units.assign(detail=units["detail"].astype(str).str[7:],
                         resource=units["resource"].astype(str) + " #" + (units["unit"].astype(int) + 1).astype(str))
    occ = outages.reset_index(drop=True).reset_index(names="occurrence")
    occ = occ.assign(site=occ["site"].astype(str), label=occ["label"].astype(str))
    nxt = occ.sort_values("start_h", kind="stable").groupby(["site", "label"])["start_h"].shift(-1)
    occ["until_h"] = nxt.reindex(occ.index).fillna(np.inf)
    parts = []
    for r in occ.itertuples(index=False):
        def within(t: pd.DataFrame, r=r) -> pd.DataFrame:
            return t[(t["site"].astype(str) == r.site) & (t["detail"].astype(str) == r.label)
                     & (t["start_h"] >= r.start_h - 1e-9) & (t["start_h"] < r.until_h - 1e-9)]
        c = within(cond)
        own = c["resource"].astype(str) == str(r.what)
        for part, t in (("backup", within(back)), ("lost", pd.concat([c[own], within(units)])),
                        ("knock-on", c[~own])):
            if len(t):
                parts.append(pd.DataFrame({"occurrence": r.occurrence, "part": part, "what": t["resource"].astype(str),
                                           "start_h": t["start_h"], "end_h": t["end_h"]}))
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=object if c in ("part", "what") else float) for c in cols})
    return pd.concat(parts, ignore_index=True)[cols]


def _outage_rows(outages: pd.DataFrame) -> list[str]:
    """Row labels ``label @ site``, numbered ``(2)``, ``(3)``, ... when an outage recurs."""
    base = outages["label"].astype(str) + " @ " + outages["site"].astype(str)
    k = base.groupby(base).cumcount() + 1
    return [b if base.tolist().count(b) == 1 else f"{b} ({i})" for b, i in zip(base, k)]


def _outage_hover(r: Any, start_date: str) -> str:
    when = _when(start_date, [r.start_h, r.end_h]).strftime("%Y-%m-%d %H:%M")
    ids = [p for p in str(r.patients or "").split(",") if p]
    pts = "<br>  ".join(", ".join(ids[i:i + 12]) for i in range(0, len(ids), 12)) or "none"
    return (f"<b>{html.escape(str(r.label))}</b> @ {html.escape(str(r.site))}: {html.escape(str(r.what))} out<br>"
            f"{when[0]} to {when[1]} ({r.end_h - r.start_h:.2f} h)<br>"
            f"backup: {html.escape(str(r.backup or 'none'))} ({r.backup_h:.2f} h)<br>"
            f"lost: {r.lost_h:.2f} h<br>knock-on: {html.escape(str(r.knock_on or 'none'))}<br>"
            f"batches hit: {int(r.batches_hit)}<br>patients: {pts}")


#: Outage timeline parts: (legend name, colour, pattern, offset and width inside the row).
OUTAGE_PARTS = {
    "backup": ("backup carried it", "#2ca02c", "/", -0.38, 0.24),
    "lost": ("lost (unit-hours for devices and staff)", "#8b0000", "", -0.12, 0.24),
    "knock-on": ("knock-on loss (another condition)", "#9467bd", "", 0.14, 0.24),
}


def fig_outage_timeline(outages: pd.DataFrame, events: pd.DataFrame, start_date: str, horizon_h: float,
                        max_rows: int = 80):
    """Timeline of the outages of one replication: a row per occurrence (``label @ site``), a
    light bar from its start to its end, and inside it the backups that carried the load
    (hatched), what was actually lost (dark) and knock-on losses of other conditions; the end of
    each row says how many batches it hit. Hover lists backup, hours lost, knock-on losses,
    batches hit and their patient ids. At most ``max_rows`` occurrences (the first by start)."""
    import plotly.graph_objects as go

    o = outages.sort_values("start_h", kind="stable").head(max_rows).reset_index(drop=True)
    rows = _outage_rows(o)
    hover = [_outage_hover(r, start_date) for r in o.itertuples(index=False)]
    seg = outage_segments(o, events, horizon_h)
    fig = go.Figure()
    fig.add_bar(base=_when(start_date, o["start_h"]), x=(o["end_h"] - o["start_h"]) * MS_PER_H, y=rows,
                orientation="h", width=0.8, offset=-0.4, name="outage (from start to end)",
                marker=dict(color="#c6dbef", line=dict(color="#6baed6", width=1)),
                hovertext=hover, hoverinfo="text")
    for part, (name, colour, pattern, offset, width) in OUTAGE_PARTS.items():
        g = seg[seg["part"] == part]
        if g.empty:
            continue
        occ = g["occurrence"].astype(int).to_numpy()
        fig.add_bar(
            base=_when(start_date, g["start_h"]), x=(g["end_h"] - g["start_h"]) * MS_PER_H,
            y=[rows[i] for i in occ], orientation="h", width=width, offset=offset, name=name,
            marker=dict(color=colour, line_width=0, pattern=dict(shape=pattern, fillmode="overlay",
                                                                  fgcolor="white", size=6)),
            hovertext=[f"{part}: {w} {h:.2f} h<br>{hover[i]}"
                       for w, h, i in zip(g["what"], g["end_h"] - g["start_h"], occ)],
            hoverinfo="text",
        )
    ends = seg.groupby("occurrence")["end_h"].max().reindex(range(len(o))) if len(seg) else pd.Series(dtype=float)
    last = np.fmax(o["end_h"].to_numpy(float), ends.to_numpy(float) if len(seg) else o["end_h"].to_numpy(float))
    hits = o["batches_hit"].astype(int)
    fig.add_scatter(x=_when(start_date, o["start_h"]), y=rows, mode="markers", name="outage start",
                    marker=dict(symbol="diamond", size=9, color="#08519c"), hovertext=hover, hoverinfo="text")
    fig.add_scatter(x=_when(start_date, last), y=rows, mode="text", textposition="middle right",
                    text=[f"  {n} batch{'es' if n != 1 else ''} hit" for n in hits], showlegend=False,
                    name="batches hit",
                    textfont=dict(color=np.where(hits > 0, "#8b0000", "#555555").tolist()),
                    hovertext=hover, hoverinfo="text")
    fig.update_yaxes(title="outage occurrence (label @ site)", autorange="reversed",
                     categoryorder="array", categoryarray=rows)
    if len(o):  # room on the right for the "batches hit" text
        lo, hi = float(o["start_h"].min()), float(np.max(last))
        span = max(hi - lo, 1.0)
        fig.update_xaxes(range=list(_when(start_date, [lo - 0.03 * span, hi + 0.25 * span]).round("ms")))
    fig.update_xaxes(title="date (simulation time from the scenario start date)", type="date")
    fig.update_layout(height=max(260, 60 * len(rows) + 160), barmode="overlay", legend_title_text="part",
                      margin=dict(l=10, r=10, t=30, b=40))
    _zoom_buttons(fig, o, last, start_date, rows)
    return fig


#: At most this many outages get a zoom entry in the outage timeline's menu.
ZOOM_MENU_MAX = 12


def _zoom_buttons(fig, o: pd.DataFrame, last: np.ndarray, start_date: str, rows: list[str]) -> None:
    """Buttons above the outage timeline that zoom its time axis to one occurrence (from a
    little before its start to a little after its last effect), or back to all of them."""
    if len(o) < 2:
        return
    whole = fig.layout.xaxis.range
    buttons = [dict(label="all outages", method="relayout", args=[{"xaxis.range": list(whole) if whole else None}])]
    for i, r in enumerate(o.head(ZOOM_MENU_MAX).itertuples(index=False)):
        lo, hi = float(r.start_h), float(max(last[i], r.end_h))
        pad = max(0.15 * (hi - lo), 2.0)
        rng = [str(t) for t in _when(start_date, [lo - pad, hi + 2 * pad]).round("ms")]
        buttons.append(dict(label=rows[i][:28], method="relayout", args=[{"xaxis.range": rng}]))
    fig.update_layout(updatemenus=[dict(type="dropdown", direction="down", x=0, xanchor="left", y=1.02,
                                        yanchor="bottom", buttons=buttons, showactive=True)],
                      margin=dict(l=10, r=10, t=60, b=40))


def outage_table_html(outages: pd.DataFrame, max_rows: int = 100) -> str:
    """The outages table (the columns of outages.parquet) as HTML, hours to 2 decimals."""
    o = outages.sort_values(["replication", "start_h"], kind="stable") if "replication" in outages else outages
    cols = [c for c in OUTAGE_COLUMNS if c in o.columns]
    out = ["<table class='kpi outages'><tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in cols) + "</tr>"]
    for r in o.head(max_rows).itertuples(index=False):
        cells = []
        for c in cols:
            v = getattr(r, c)
            text = f"{v:,.2f}" if isinstance(v, float) else str(v)
            if c == "patients":  # wrap between ids, never inside one
                text = ", ".join(p.strip() for p in text.split(",") if p.strip())
            style = " style='text-align:left;max-width:22rem;white-space:normal;word-break:normal'" if c in (
                "label", "site", "what", "backup", "knock_on", "patients") else ""
            cells.append(f"<td{style}>{html.escape(text)}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</table>")
    if len(o) > max_rows:
        out.append(f"<p class='note'>First {max_rows} of {len(o)} outages shown; all are in outages.parquet.</p>")
    return "".join(out)


def fig_utilisation(kpi_long: pd.DataFrame):
    """Utilisation per pool: mean over replications with 95% CI error bars (percent)."""
    import plotly.graph_objects as go

    util = kpi_long[kpi_long["kpi"].str.startswith("utilisation.") & ~kpi_long["kpi"].str.contains("@", regex=False)]
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


#: How a culture ended (the ``detail`` of its ``measure`` events): (legend name, colour).
CULTURE_END = {
    "target": ("target reached (harvested at the end point's target)", "#1b9e77"),
    "max_length": ("maximum length reached (harvested below target)", "#d95f02"),
}
CULTURE_COLUMNS = ["replication", "patient", "culture_h", "harvest_cells", "harvest_viability", "harvest_contam_cfu",
                   "contaminated", "outcome", "cause", "end"]
NO_CULTURE = "No culture model in this run (no recipe step with an end_point)."


def culture_table(batches: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    """One row per batch that finished a culture (``culture_h`` not NaN): replication, patient,
    culture hours, harvest viable cells, viability and contaminants (CFU), ``contaminated``
    (organisms got in, at any point), outcome, cause and ``end``, how its last culture ended
    (the ``measure`` events' detail: ``target`` or ``max_length``; ``unknown`` without one).
    Empty when the run had no culture model."""
    b = batches
    if "culture_h" not in b:
        return pd.DataFrame(columns=CULTURE_COLUMNS)
    b = b[b["culture_h"].notna()]
    if "replication" not in b:
        b = b.assign(replication=0)
    m = events[events["kind"] == "measure"]
    if "replication" not in m:
        m = m.assign(replication=0)
    ends = (m.sort_values("time_h", kind="stable").drop_duplicates(["replication", "patient"], keep="last")
            .set_index(["replication", "patient"])["detail"].astype(str))
    key = pd.MultiIndex.from_arrays([b["replication"], b["patient"]])
    contaminated = b["contaminated"] if "contaminated" in b else b["harvest_contam_cfu"].fillna(0) > 0
    out = b.assign(end=ends.reindex(key).fillna("unknown").to_numpy(), contaminated=contaminated.astype(bool),
                   outcome=b["outcome"].astype(str), cause=b["cause"].astype(str))
    return out[CULTURE_COLUMNS].reset_index(drop=True)


def culture_specs(record: dict[str, Any]) -> dict[str, list[tuple[str, float]]]:
    """The lines the culture figures draw, from the scenario record (``scenario.json``):
    ``dose`` and ``viability``, (QC test name, spec) of each test that ``measures`` them;
    ``target``, (recipe step, end_point.target_cells) of each culture step."""
    tests = (record.get("qc") or {}).get("tests") or []
    out: dict[str, list[tuple[str, float]]] = {
        m: [(str(t.get("name")), float(t["spec"])) for t in tests if t.get("measures") == m and t.get("spec")]
        for m in ("dose", "viability")}
    out["target"] = [(str(st.get("name")), float(st["end_point"]["target_cells"])) for st in record.get("recipe") or []
                     if (st.get("end_point") or {}).get("target_cells")]
    return out


def _culture_hover(c: pd.DataFrame) -> list[str]:
    return [f"patient {r.patient} (replication {r.replication})<br>culture {r.culture_h:.1f} h, ended: {r.end}<br>"
            f"viable cells at harvest {r.harvest_cells:.3g}<br>viability {r.harvest_viability:.3f}<br>"
            f"contaminants {r.harvest_contam_cfu:.3g} CFU{' (contaminated)' if r.contaminated else ''}<br>"
            f"outcome: {html.escape(r.outcome)} "
            f"({html.escape(r.cause or 'still in process')})" for r in c.itertuples(index=False)]


def _ends(c: pd.DataFrame) -> list[str]:
    """End reasons in legend order: target, max_length, then any other."""
    found = set(c["end"])
    return [e for e in CULTURE_END if e in found] + sorted(found - set(CULTURE_END))


def fig_culture_harvest(cultures: pd.DataFrame, dose_specs: list[tuple[str, float]] = (),
                        targets: list[tuple[str, float]] = (), max_points: int = 5000):
    """Viable cells at harvest (log y) against culture length, a marker per batch of
    ``cultures`` (as from :func:`culture_table`), a trace per way the culture ended (target or
    maximum length); dashed horizontal lines for each dose spec (red) and end-point target
    (green). Hover: patient, viability, contaminants, outcome and cause. At most ``max_points``
    markers: whole replications in order (at least the first)."""
    import plotly.graph_objects as go

    c = cultures
    n_all, n_reps = len(c), c["replication"].nunique()
    if n_all > max_points:
        per = c.groupby("replication", sort=True).size()
        keep = per.index[(per.cumsum() <= max_points) | (np.arange(len(per)) == 0)]
        c = c[c["replication"].isin(keep)]
    fig = go.Figure()
    for end in _ends(c):
        g = c[c["end"] == end]
        name, colour = CULTURE_END.get(end, (end, "#7f7f7f"))
        fig.add_scatter(x=g["culture_h"], y=g["harvest_cells"], mode="markers", name=name,
                        marker=dict(color=colour, size=7, opacity=0.75, line=dict(width=0.5, color="white")),
                        hovertext=_culture_hover(g), hoverinfo="text")
    lo, hi = (float(c["culture_h"].min()), float(c["culture_h"].max())) if len(c) else (0.0, 1.0)
    pad = max(hi - lo, 1.0) * 0.03
    xs = [lo - pad, hi + pad]
    for kind, lines, colour in (("dose spec", dose_specs, "#d62728"), ("target", targets, "#2ca02c")):
        for label, y in lines:
            fig.add_scatter(x=xs, y=[y, y], mode="lines", line=dict(color=colour, dash="dash", width=2),
                            name=f"{kind}: {label} ({y:.3g} cells)", hoverinfo="name")
    fig.update_yaxes(type="log", title="viable cells at harvest (cells, log scale)")
    fig.update_xaxes(title="culture length (h)", range=xs)
    fig.update_layout(height=460, legend_title_text="how the culture ended", margin=dict(l=10, r=10, t=30, b=40))
    if len(c) < n_all:
        shown = ", ".join(str(r) for r in sorted(c["replication"].unique()))
        fig.update_layout(title=dict(text=f"replications {shown} of {n_reps} shown ({len(c)} of {n_all} batches)",
                                     font_size=12), margin_t=40)
    return fig


def fig_culture_viability(cultures: pd.DataFrame, viability_specs: list[tuple[str, float]] = ()):
    """Histogram of viability at harvest of every batch in ``cultures`` (as from
    :func:`culture_table`), stacked by how the culture ended; a dashed red line per viability spec."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for end in _ends(cultures):
        name, colour = CULTURE_END.get(end, (end, "#7f7f7f"))
        fig.add_histogram(x=cultures.loc[cultures["end"] == end, "harvest_viability"], name=name,
                          xbins=dict(start=0.0, end=1.0, size=0.01), marker_color=colour)
    for label, x in viability_specs:
        fig.add_vline(x=x, line_dash="dash", line_color="#d62728", annotation_text=f"spec {x:g} ({label})",
                      annotation_position="top left")
    fig.update_xaxes(title="viability at harvest (fraction)")
    fig.update_yaxes(title="batches")
    fig.update_layout(height=380, barmode="stack", legend_title_text="how the culture ended",
                      legend_traceorder="normal", margin=dict(l=10, r=10, t=40, b=40))
    return fig


def culture_sections(batches: pd.DataFrame, events: pd.DataFrame, record: dict[str, Any]) -> list[Section]:
    """The report's cultures section: harvest cells against culture length and the viability
    histogram, or a note when the run had no culture model."""
    c = culture_table(batches, events)
    if c.empty:
        return [Section("Cultures", "Recipe steps with a biological end point (a target dose or a maximum "
                        "length) grow each patient's cells; this run's recipe has none, so every step took its "
                        "drawn duration.", html=f"<p class='note'>{NO_CULTURE}</p>")]
    specs = culture_specs(record)
    n_reps = c["replication"].nunique()
    dose = (" The red dashed line is the QC panel's dose spec: a batch below it fails the dose test (transfers "
            "after harvest can lose a few more cells)." if specs["dose"] else " The QC panel tests no dose.")
    via = (" The red dashed line is the viability spec: batches left of it fail the viability test."
           if specs["viability"] else " The QC panel tests no viability.")
    return [
        Section(
            "Cultures: viable cells at harvest",
            f"One marker per batch that finished its culture ({len(c)} batches of {n_reps} replication(s), "
            "warm-up included): viable cells at harvest (log scale) against how long the culture ran. Green "
            "markers reached the end point's target (the green dashed line) and were harvested then; "
            "orange ones reached the maximum culture length first and were harvested below target, so "
            f"they line up at the right.{dose} Slow growers take longer; hover for the patient, "
            "viability, contaminants and what became of the batch. Click a legend entry to hide it.",
            figure=fig_culture_harvest(c, specs["dose"], specs["target"]),
        ),
        Section(
            "Cultures: viability at harvest",
            "How many batches (the same as above) had each viable fraction of cells at harvest, in bins of "
            f"0.01, stacked by how the culture ended.{via} Cultures that ran long or suffered (e.g. without "
            "CO2 in an outage) lose viability.",
            figure=fig_culture_viability(c, specs["viability"]),
        ),
    ]


def _num(v: float | None) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:,.1f}"


def kpi_table_html(summary: dict[str, Any], noted: str = "") -> str:
    """The headline KPIs as an HTML table (mean and 95% CI; "constant" where every replication
    gave the same value; each interval's warning), after the run's warnings (``summary.json``)
    but the one the page already says otherwise (``noted``)."""
    kp = summary["kpis"]
    warn = "".join(f"<p class='warning'>Warning: {html.escape(w)}</p>" for w in summary.get("warnings") or []
                   if w != noted)
    rows = [warn, "<table class='kpi'><tr><th>KPI</th><th>mean</th><th>95% CI</th><th>note</th></tr>"]
    for key, label, unit in HEADLINE:
        if key not in kp:
            continue
        k = kp[key]
        if k.get("constant"):
            ci = "constant (the same in every replication)"
        else:
            ci = f"[{_num(k['ci_low'])}, {_num(k['ci_high'])}]" if k.get("ci_low") is not None else "–"
        lab = f"{label} ({unit})" if unit else label
        note = html.escape(k.get("warning") or "")
        rows.append(f"<tr><td>{html.escape(lab)}</td><td>{_num(k['mean'])}</td><td>{ci}</td><td>{note}</td></tr>")
    rows.append("</table>")
    return "".join(rows)


def few_replications_note(n: int) -> str:
    """A warning above the key figures when ``n`` replications are too few for usable
    intervals (empty otherwise)."""
    if n >= MIN_REPLICATIONS:
        return ""
    why = ("one replication gives no confidence interval at all" if n <= 1 else
           f"with {n} replications the 95% intervals are very wide (the Student t factor alone is "
           f"{ {2: 12.7, 3: 4.3, 4: 3.18}.get(n, 2.78)} times the standard error)")
    return (f"<p class='note warning'><b>Too few replications:</b> {why}. Run at least {MIN_REPLICATIONS} "
            f"(e.g. <code>twin run FILE -r 10</code>) before reading differences from these figures.</p>")


def run_report(run_dir: Path, replication: int = 0) -> str:
    """The run report page for ``run_dir`` (HTML string)."""
    summary = json.loads((run_dir / "summary.json").read_text())
    record = json.loads((run_dir / "scenario.json").read_text())["scenario"]
    prov = summary["provenance"]
    start, horizon_h, warmup_h = prov["start_date"], prov["horizon_days"] * HOURS_PER_DAY, prov["warmup_days"] * HOURS_PER_DAY
    events = pd.read_parquet(run_dir / "events.parquet")
    batches = pd.read_parquet(run_dir / "batches.parquet")
    resources = pd.read_parquet(run_dir / "resources.parquet")
    kpi_long = pd.read_parquet(run_dir / "kpis.parquet")
    outages = (pd.read_parquet(run_dir / "outages.parquet") if (run_dir / "outages.parquet").exists()
               else pd.DataFrame(columns=OUTAGE_COLUMNS))  # written only when the run had outages

    ev = events[events["replication"] == replication]
    held = step_segments(held_intervals(ev, horizon_h), ev)
    down = unit_down_intervals(ev, horizon_h)
    losses = site_loss_intervals(ev, horizon_h)
    res = resources[resources["replication"] == replication]
    rep_outages = outages[outages["replication"] == replication]
    n = prov["replications_completed"]
    sections = [
        Section("Key figures", f"Means over {n} replication(s) with 95% confidence intervals (Student t over "
                "replications on a scale that keeps each KPI in its bounds: square root for patient counts, "
                "log for days and rates, logit for fractions). Patient counts are of patients referred after "
                "the warm-up.",
                html=few_replications_note(n) + kpi_table_html(summary, noted=few_replications_warning(n))),
        Section(
            f"Timeline of devices and staff (replication {replication})",
            "Each row is one unit: a device, a person of a staff role, an apheresis chair or an infusion "
            "slot. Each bar is one batch holding that unit, coloured by the step that took it; hover for "
            "the patient and hours. Gaps are idle time. Staff bars show hands-on hours only, on top of a pale "
            "blue band for the hours that person was on duty (not off shift, absent, vacant or in training). "
            "Times a unit was out of service are drawn on its row: light grey behind the bars when off duty (off shift, "
            "absent, vacancy, training), thinner patterned bars on top for breakdowns (red), maintenance "
            "or changeover (orange) and outages (black); a batch bar that continues around one was paused "
            "there. Translucent bands across all rows are site-wide losses (power, CO2, O2, compressed "
            "air, LN2, cleanroom grade, IT), labelled with the condition, site and root cause: every row "
            "they cross at that site lost it. Drag to zoom (a year is long: zoom in to see shifts); click "
            "a legend entry to hide it.",
            figure=fig_gantt(held, res, start, Downtime(units=down, sites=losses, horizon_h=horizon_h)),
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
    ]
    sections += over_time_sections(kpi_long, resources)
    sections += culture_sections(batches, events, record)
    if len(rep_outages):
        sections += [
            Section(
                f"Outages and the batches they hit (replication {replication})",
                "One row per outage occurrence (label @ site). The light bar runs from the outage's start "
                "(diamond) to its end; inside it, hatched green is the time backups carried the load (UPS, "
                "generator, backup bottles, tank, IT restore), dark red the hours what failed was actually "
                "lost (summed over units for device and staff outages, so bars may overlap), purple the "
                "knock-on losses of other conditions (e.g. cleanroom grade after a blackout, which can "
                "outlast the outage). The text at the end of each row counts the batches the outage "
                "paused, lost or failed; hover for the backups, hours lost and the patient ids. The same "
                "losses are drawn on the timeline of devices and staff above. With several outages, the menu "
                "above the chart zooms to one of them.",
                figure=fig_outage_timeline(rep_outages, ev, start, horizon_h),
            ),
            Section(
                "Outage log",
                f"Every outage occurrence of all {n} replication(s) (outages.parquet): hours from the "
                "scenario start; backup_h the hours backups carried the load, lost_h the hours lost "
                "(unit-hours for device and staff outages), knock_on the other conditions it took down, "
                "batches_hit and patients the batches it paused, lost or failed.",
                html=outage_table_html(outages),
            ),
        ]
    else:
        sections.append(Section(
            "Outages",
            "No outage (power, gases, LN2, IT, a device pool or a staff role) happened in this run. "
            "Breakdowns, maintenance, changeovers, shifts and absences are drawn on the timeline of "
            "devices and staff above.",
            html="<p class='note'>No outages in this run.</p>",
        ))
    title = f"celltwin run report: {record['name']}"
    subtitle = (f"{record.get('description', '').strip()} — {prov['horizon_days']:g} days from {start}, "
                f"warm-up {prov['warmup_days']:g} days, {n} replication(s)")
    footer = (f"celltwin {prov['celltwin_version']} · scenario hash {prov['scenario_hash']} · seed "
              f"{prov['root_seed']} · file {prov['scenario_file']} (sha256 {prov['scenario_file_sha256'][:12]}) · "
              f"overrides {prov.get('overrides') or 'none'} · run {prov['created_utc']}")
    return render_page(title, subtitle, sections, footer)
