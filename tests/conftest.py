"""Shared test helpers: the repository paths and small scenarios built from YAML text."""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import settings

from twin.scenario.loading import LoadedScenario, scenario_from_data

# Hypothesis profiles. On CI (the environment variable CI set, as CI runs do with CI=true) every
# run draws the same examples, so a red build is reproducible (CI=true python -m pytest ...) and
# does not depend on the luck of the draw; print_blob prints how to replay a failure, and no
# deadline (each test sets deadline=None already; a loaded CI runner must not turn into a flaky
# DeadlineExceeded). Locally the search stays random, so developers keep finding new examples.
# Neither profile changes max_examples (each test's own @settings keep the suite fast).
# --hypothesis-profile=NAME still overrides (the plugin loads it after this file).
settings.register_profile("twin-ci", parent=settings.get_profile("default"), derandomize=True, print_blob=True,
                          deadline=None)
settings.register_profile("twin-dev", parent=settings.get_profile("default"), derandomize=False)


def hypothesis_profile(environ: Mapping[str, str]) -> str:
    """The profile for this environment: 'twin-ci' when CI is set (not empty, 0, false or no)."""
    return "twin-ci" if environ.get("CI", "").strip().lower() not in ("", "0", "false", "no") else "twin-dev"


settings.load_profile(hypothesis_profile(os.environ))

REPO = Path(__file__).resolve().parents[1]
SCENARIOS = REPO / "scenarios"

TINY = """
name: tiny
start_date: 2027-01-04
horizon_days: 30
seed: 1
sites:
  h: {kind: hospital, apheresis_chairs: 1, infusion_slots: 1}
  f:
    kind: factory
    devices: {clinimacs_prodigy: {count: 1}, controlled_rate_freezer: {count: 1}, ln2_storage: {count: 1}}
    staff:   # on duty around the clock, no rota: an idealisation, so that the event list is derived by hand
      op: {count: 1, always_on_duty: true}
      qc: {count: 1, always_on_duty: true}
      qp: {count: 1, always_on_duty: true}
referrals: {times_h: [0, 1]}
apheresis: {duration_h: 4}
receipt: {duration_h: 1, role: op, hands_on_h: 1}
recipe:
  - {name: expansion, device: clinimacs_prodigy, duration_h: 100, role: op, hands_on_h: 2}
cryopreservation: {device: controlled_rate_freezer, duration_h: 3, role: op, hands_on_h: 1}
storage: {device: ln2_storage}
qc: {role: qc, tests: [{name: sterility, duration_h: 48, hands_on_h: 1}]}
release: {role: qp, duration_h: 2, hands_on_h: 1}
infusion: {duration_h: 1}
couriers: [{from: h, to: f, transit_h: 10}, {from: f, to: h, transit_h: 10}]
"""
"""A fully deterministic two-patient scenario whose event list can be derived by hand."""


def centralised_data() -> dict[str, Any]:
    """The bundled centralised scenario as plain data (a fresh copy each call)."""
    return copy.deepcopy(yaml.safe_load((SCENARIOS / "centralised.yaml").read_text()))


IDEAL = {"failure": None, "maintenance": None, "changeover_h": None}
"""Device overrides for tests that need devices that never break, need no maintenance and no
changeover (the bundled catalogue gives the Prodigy all three)."""


def ideal_devices(data: dict[str, Any]) -> dict[str, Any]:
    """Make every device pool of ``data`` ideal (see IDEAL); returns ``data``."""
    for site in data["sites"].values():
        for pool in site.get("devices", {}).values():
            pool["override"] = {**pool.get("override", {}), **IDEAL}
    return data


def fixed_expansion(data: dict[str, Any], hours: float = 228.0) -> dict[str, Any]:
    """The centralised recipe without the culture model: expansion takes a fixed time and QC
    tests fail only by their fail_probability (for tests of other mechanisms that need exact
    step times)."""
    for st in data["recipe"]:
        if st.pop("end_point", None) is not None:
            st["duration_h"] = hours
    for t in data["qc"]["tests"]:
        for k in ("measures", "spec", "sample_fraction", "false_negative"):
            t.pop(k, None)
    data.pop("biology", None)
    return data


def no_leaks(data: dict[str, Any]) -> dict[str, Any]:
    """Connections that never leak (for tests that count losses from one other cause)."""
    data["connections"] = {k: {"leak_probability": 0.0} for k in ("sterile_weld", "aseptic_connector", "open")}
    return data


def tiny_data() -> dict[str, Any]:
    """The TINY scenario as plain data (a fresh copy each call), with ideal devices."""
    return ideal_devices(yaml.safe_load(TINY))


def build(data: dict[str, Any]) -> LoadedScenario:
    """Validate scenario data (raises ScenarioError on bad input)."""
    return scenario_from_data(data, source="<test>", base_dir=SCENARIOS)


@pytest.fixture
def centralised() -> dict[str, Any]:
    return centralised_data()


def multisite_data(policy: str = "fixed") -> dict[str, Any]:
    """The centralised recipe with three hospitals (north, south, west) and two plants: a
    central factory 20 h away from every hospital and a regional hub 4 h from north and south
    (not linked to west)."""
    d = centralised_data()
    hospital = d["sites"].pop("city_hospital")
    for name in ("north", "south", "west"):
        d["sites"][name] = copy.deepcopy(hospital)
    d["sites"]["hub"] = copy.deepcopy(d["sites"]["central_factory"])
    d["sites"]["hub"]["devices"]["clinimacs_prodigy"]["count"] = 2
    d["referrals"]["hospitals"] = {"north": 3, "south": 2, "west": 1}
    lanes = []
    for h in ("north", "south", "west"):
        for a, b in ((h, "central_factory"), ("central_factory", h)):
            lanes.append({"from": a, "to": b, "transit_h": {"dist": "triangular", "low": 16, "mode": 20, "high": 30}})
    for h in ("north", "south"):
        for a, b in ((h, "hub"), ("hub", h)):
            lanes.append({"from": a, "to": b, "transit_h": {"dist": "triangular", "low": 3, "mode": 4, "high": 6}})
    d["couriers"] = lanes
    d["routing"] = {"policy": policy}
    return d


def max_concurrent(held) -> int:
    """Most holdings open at once in a table of (start_h, end_h) holdings; a release and a
    seize at the same instant do not overlap."""
    import numpy as np

    t = np.concatenate([held["start_h"].to_numpy(), held["end_h"].to_numpy()])
    d = np.concatenate([np.ones(len(held)), -np.ones(len(held))])
    return int(np.cumsum(d[np.lexsort((d, t))]).max()) if len(held) else 0


@pytest.fixture(autouse=True)
def _one_worker_unless_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    """`twin run` and `twin compare` default to a process pool of all cores; a test runs its
    replications in its own process unless it asks for workers (tests that start pools are
    marked ``xdist_group("pools")``), so the suite does not fork pools in every CLI test."""
    import twin.experiments.run

    monkeypatch.setattr(twin.experiments.run, "worker_count", lambda workers: 1 if workers is None else workers)


RISK_SMALL = """
name: small
start_date: 2027-01-04
horizon_days: 100
warmup_days: 10
seed: 7
replications: 3
sites:
  h: {kind: hospital, apheresis_chairs: 2, infusion_slots: 2}
  f:
    kind: factory
    devices:
      clinimacs_prodigy: {count: 3, override: {failure: null, maintenance: null, changeover_h: null}}
      controlled_rate_freezer: {count: 1}
      ln2_storage: {count: 1}
    staff:
      op: {count: 2, always_on_duty: true}
      qc: {count: 1, always_on_duty: true}
      qp: {count: 1, always_on_duty: true}
    utilities:
      power: {ups_minutes: 15}
      compressed_air: {backup_h: 4}
referrals: {rate_per_week: 2}
apheresis: {duration_h: 4}
receipt: {duration_h: 1, role: op, hands_on_h: 1}
recipe:
  - {name: expansion, device: clinimacs_prodigy, duration_h: 200, role: op, hands_on_h: 2, transfer: sterile_weld}
cryopreservation: {device: controlled_rate_freezer, duration_h: 3, role: op, hands_on_h: 1}
storage: {device: ln2_storage}
qc: {role: qc, tests: [{name: sterility, duration_h: 48, hands_on_h: 1}]}
release: {role: qp, duration_h: 2, hands_on_h: 1}
infusion: {duration_h: 1}
couriers: [{from: h, to: f, transit_h: 10}, {from: f, to: h, transit_h: 10}]
"""
"""A small facility for risk-analysis tests: one hospital, a factory with three ideal Prodigies, a UPS
and a compressed-air backup, about 2 referrals a week over 100 days."""
