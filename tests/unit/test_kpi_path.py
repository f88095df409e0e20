"""The sweep's KPI-only path (``replication_kpis``) gives exactly the KPIs of the full tables
(``replication_tables(raw).kpis``) without building the event-log table (issue 20)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from twin.model import simulate
from twin.results import columns
from twin.results.collect import replication_kpis, replication_tables
from twin.scenario.loading import load_scenario

REPO = Path(__file__).resolve().parents[2]

# Bundled scenarios that between them reach every KPI family: outages with backups and a failed
# generator (outage_power, to day 160), staff outages and absence (staff_shortage), costs and
# several sites (layouts/hybrid), a culture model without costs (academic_grex), shifts and two
# stations (tandem_shift). Shortened horizons keep the test quick; the paths are the same.
CASES = {
    "scenarios/outage_power.yaml": ["horizon_days=160"],
    "scenarios/staff_shortage.yaml": ["horizon_days=120"],
    "scenarios/layouts/hybrid.yaml": ["horizon_days=120"],
    "scenarios/academic_grex.yaml": ["horizon_days=150"],
    "scenarios/validation/tandem_shift.yaml": ["horizon_days=60"],
}


def _same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


@pytest.mark.parametrize("path", list(CASES))
def test_kpi_only_path_equals_the_full_tables(path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    raw = simulate(load_scenario(REPO / path, overrides=CASES[path]), 1)
    full = replication_tables(raw).kpis

    def no_table(self):  # the KPI-only path must not build the event-log table
        raise AssertionError("replication_kpis built the events table")

    monkeypatch.setattr(columns.Log, "frame", no_table)
    fast = replication_kpis(raw)
    assert sorted(fast) == sorted(full)
    differ = {k: (full[k], fast[k]) for k in full if not _same(full[k], fast[k])}
    assert not differ, differ
    assert len(full) > 20  # the scenario reaches resource, outcome and flow KPIs at least
