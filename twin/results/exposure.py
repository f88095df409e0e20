"""What a risk analysis measures in one replication beyond the KPIs: each named outage's
occurrences (batches hit, hours lost, hours a backup carried) and the exposures of per-event
vulnerabilities (connections made of a type, shipments sent on a lane) in the window."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd


def risk_measures(outages: pd.DataFrame, events: pd.DataFrame, wanted: Iterable[str],
                  window: tuple[float, float]) -> dict[str, float]:
    """``risk.*`` measures of one replication.

    Args:
        outages: its :func:`twin.results.tables.outages_table`.
        events: its events table.
        wanted: ``outage:LABEL_PREFIX`` (occurrences whose label starts with it, in time order:
            ``risk.occ.K.start_h``, ``.batches_hit``, ``.lost_h``, ``.backup_h``, and their totals
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
            occ = outages[outages["label"].astype(str).str.startswith(name)].sort_values("start_h")
            for k, r in enumerate(occ.itertuples(index=False)):
                out.update({f"risk.occ.{k}.start_h": float(r.start_h), f"risk.occ.{k}.batches_hit": float(r.batches_hit),
                            f"risk.occ.{k}.lost_h": float(r.lost_h), f"risk.occ.{k}.backup_h": float(r.backup_h)})
            out["risk.batches_hit"] = float(occ["batches_hit"].sum()) if len(occ) else 0.0
            out["risk.lost_h"] = float(occ["lost_h"].sum()) if len(occ) else 0.0
            out["risk.backup_h"] = float(occ["backup_h"].sum()) if len(occ) else 0.0
        else:
            ev = events[(events["time_h"] >= lo) & (events["time_h"] < hi) & (events["patient"] >= 0)]
            if kind == "transfers":
                hit = (ev["kind"] == "step_end") & (ev["detail"] == name) & ev["step"].astype(str).str.startswith(
                    "transfer:")
            else:
                hit = (ev["kind"] == "step_start") & (ev["resource"] == name)
            out[f"risk.exposures.{w}"] = float(hit.sum())
    return out
