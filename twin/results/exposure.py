"""What a risk analysis measures in one replication beyond the KPIs: each named outage's
occurrences (batches hit, hours lost, hours a backup carried) and the exposures of per-event
vulnerabilities (connections made of a type, shipments sent on a lane) in the window."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

#: What is recorded of each occurrence: its start (h, the earliest site's), the spread of its start
#: times over the sites it hit (h), batches hit, hours lost and carried by a backup (summed over
#: sites), the sites it struck and the sites where it hit a batch.
OCCURRENCE_MEASURES = ("start_h", "spread_h", "batches_hit", "lost_h", "backup_h", "sites", "sites_hit")


def risk_measures(outages: pd.DataFrame, events: pd.DataFrame, wanted: Iterable[str],
                  window: tuple[float, float]) -> dict[str, float]:
    """``risk.*`` measures of one replication.

    Args:
        outages: its :func:`twin.results.tables.outages_table`.
        events: its events table.
        wanted: ``outage:LABEL_PREFIX`` (occurrences whose label starts with it, in time order:
            ``risk.occ.K.M`` for each M of :data:`OCCURRENCE_MEASURES`, and their totals
            ``risk.batches_hit``, ``risk.lost_h``, ``risk.backup_h``), ``transfers:TYPE``
            (connections of that type completed in the window) or ``lane:A->B`` (shipments sent on
            the lane in the window), as ``risk.exposures.transfers:TYPE`` or ``risk.exposures.lane:A->B``.
        window: (warmup_h, horizon_h), hours.
    """
    out: dict[str, float] = {}
    lo, hi = window
    for w in wanted:
        kind, _, name = w.partition(":")
        if kind == "outage":
            occ = outages[outages["label"].astype(str).str.startswith(name)]
            # one occurrence is one label; an outage at every site has a row per site
            per = occ.groupby("label", sort=False).agg(
                start_h=("start_h", "min"), spread_h=("start_h", lambda t: float(t.max() - t.min())),
                batches_hit=("batches_hit", "sum"), lost_h=("lost_h", "sum"), backup_h=("backup_h", "sum"),
                sites=("site", "nunique"), sites_hit=("batches_hit", lambda b: float((b > 0).sum())),
            ).sort_values("start_h") if len(occ) else pd.DataFrame()
            for k, r in enumerate(per.itertuples(index=False)):
                out.update({f"risk.occ.{k}.{m}": float(getattr(r, m)) for m in OCCURRENCE_MEASURES})
            for m in ("batches_hit", "lost_h", "backup_h"):
                out[f"risk.{m}"] = float(per[m].sum()) if len(per) else 0.0
        else:
            ev = events[(events["time_h"] >= lo) & (events["time_h"] < hi) & (events["patient"] >= 0)]
            if kind == "transfers":
                hit = (ev["kind"] == "step_end") & (ev["detail"] == name) & ev["step"].astype(str).str.startswith(
                    "transfer:")
            else:
                hit = (ev["kind"] == "step_start") & (ev["resource"] == name)
            out[f"risk.exposures.{w}"] = float(hit.sum())
    return out
