"""Routing that estimates what it claims (issue 16, item 6): least_expected_v2v weighs each
site's expected wait with the hold the biology gives a culture and the time busy units have left."""

from __future__ import annotations

import yaml
from conftest import SCENARIOS, build

from twin.model import simulate
from twin.model.world import World
from twin.results.collect import replication_tables


def _hybrid_with_choice() -> dict:
    """The bundled hybrid layout, with the coast hospital linked to the regional hub too and
    every hospital routed by least expected vein-to-vein."""
    d = yaml.safe_load((SCENARIOS / "layouts" / "hybrid.yaml").read_text())
    lane = {"dist": "triangular", "low": 2, "mode": 4, "high": 8}
    d["couriers"] += [{"from": "coast_hospital", "to": "regional_hub", "transit_h": lane},
                      {"from": "regional_hub", "to": "coast_hospital", "transit_h": lane}]
    d["routing"] = {"policy": "least_expected_v2v"}
    return d


def test_the_first_device_hold_counts_the_culture():
    """A batch holds the Prodigy from selection to harvest, culture included: about 310 h at the
    mean patient, not the 80 h the steps' own durations add up to (a culture step's duration_h is
    not used)."""
    w = World(build(_hybrid_with_choice()), 0)
    for site in ("regional_hub", "coast_hospital"):
        assert 280 <= w.first_hold_h[site] <= 360


def test_a_small_cell_does_not_keep_its_patients_while_the_hub_has_room():
    """With busy units' remaining runs counted, the coast cell's patients wait no longer for a
    Prodigy than the hub's (replication 0: 14.9 h against 15.8 h; counting queue length alone they
    waited 29.8 h there against the hub's 15.8 h)."""
    k = replication_tables(simulate(build(_hybrid_with_choice()), 0)).kpis
    coast = k["wait_h_mean.device.coast_hospital.clinimacs_prodigy"]
    hub = k["wait_h_mean.device.regional_hub.clinimacs_prodigy"]
    assert coast <= hub + 3.0, (coast, hub)
