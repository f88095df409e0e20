"""One replication's record -> its tables and KPIs (everything computed from the event log)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from twin.results.kpis import Window, cost_kpis, kpis
from twin.results.tables import batches_table, events_table, impacts_table, outages_table, resources_table

if TYPE_CHECKING:
    from twin.core.record import ReplicationRecord


@dataclass
class ReplicationTables:
    """The tables and KPIs of one replication, all computed from its event log."""

    events: pd.DataFrame
    batches: pd.DataFrame
    resources: pd.DataFrame
    kpis: dict[str, float]
    outages: pd.DataFrame
    impacts: pd.DataFrame


def replication_tables(raw: ReplicationRecord) -> ReplicationTables:
    """Event log -> events, batches, resources, outages and impacts tables and KPIs of one
    replication."""
    e = events_table(raw)
    b = batches_table(e, raw.n_patients, raw.horizon_h, raw.warmup_h, raw.steps)
    r = resources_table(raw)
    imp = impacts_table(e, b, raw.horizon_h)
    out = outages_table(e, imp, raw.horizon_h)
    window = Window(raw.warmup_h, raw.horizon_h)
    k = kpis(e, b, r, window, imp)
    if raw.cost_inputs is not None:
        k.update(cost_kpis(e, r, raw.cost_inputs, window, k["throughput_per_year"]))
    return ReplicationTables(e, b, r, k, out, imp)
