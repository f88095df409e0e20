"""One replication's record -> its tables and KPIs (everything computed from the event log).

Both paths read the log once into column arrays (:class:`twin.results.columns.Log`);
:func:`replication_kpis` computes the same KPIs as :func:`replication_tables` without building the
event-log and outage tables (what a sweep keeps of a replication)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from twin.results.columns import Log
from twin.results.kpis import Window, cost_kpis, kpis, period_kpis
from twin.results.tables import batches_table, impacts_table, outages_table, resources_table

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


def _kpis(raw: ReplicationRecord, log: Log, batches: pd.DataFrame, resources: pd.DataFrame,
          impacts: pd.DataFrame) -> dict[str, float]:
    """The KPIs of one replication from its log's columns and its batch, resource and impact tables."""
    window = Window(raw.warmup_h, raw.horizon_h)
    k = kpis(log, batches, resources, window, impacts)
    if raw.cost_inputs is not None:
        k.update(cost_kpis(log, resources, raw.cost_inputs, window, k["throughput_per_year"]))
    if raw.periods:
        k.update(period_kpis(log, batches, resources, raw.periods))
    return k


def replication_tables(raw: ReplicationRecord) -> ReplicationTables:
    """Event log -> events, batches, resources, outages and impacts tables and KPIs of one
    replication."""
    log = Log.from_record(raw)
    b = batches_table(log, raw.n_patients, raw.horizon_h, raw.warmup_h, raw.steps)
    r = resources_table(raw)
    imp = impacts_table(log, b, raw.horizon_h)
    out = outages_table(log, imp, raw.horizon_h)
    return ReplicationTables(log.frame(), b, r, _kpis(raw, log, b, r, imp), out, imp)


def replication_kpis(raw: ReplicationRecord) -> dict[str, float]:
    """The KPIs of one replication, equal to ``replication_tables(raw).kpis``, without building
    the event-log and outage tables (a sweep's path: only KPIs are kept)."""
    log = Log.from_record(raw)
    b = batches_table(log, raw.n_patients, raw.horizon_h, raw.warmup_h, raw.steps)
    r = resources_table(raw)
    return _kpis(raw, log, b, r, impacts_table(log, b, raw.horizon_h))
