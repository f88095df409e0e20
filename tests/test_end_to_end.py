"""End to end: every bundled scenario runs from the CLI and leaves a complete run folder."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from conftest import SCENARIOS

from twin import __version__
from twin.cli import main

BUNDLED = sorted([*SCENARIOS.glob("*.yaml"), *SCENARIOS.glob("layouts/*.yaml")])


def test_there_are_bundled_scenarios() -> None:
    assert any(p.name == "centralised.yaml" for p in BUNDLED)


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.stem)
def test_bundled_scenario_runs(path, tmp_path, capsys) -> None:
    out = tmp_path / "run"
    assert main(["validate", str(path)]) == 0
    assert main(["run", str(path), "--out", str(out), "--replications", "2"]) == 0
    printed = capsys.readouterr().out
    assert "vein-to-vein median (days)" in printed and "throughput" in printed

    events = pd.read_parquet(out / "events.parquet")
    batches = pd.read_parquet(out / "batches.parquet")
    summary = json.loads((out / "summary.json").read_text())
    scenario = json.loads((out / "scenario.json").read_text())

    prov = summary["provenance"]
    assert prov["celltwin_version"] == __version__
    assert len(prov["scenario_hash"]) == 64 and len(prov["scenario_file_sha256"]) == 64
    assert prov["replications_completed"] == 2
    assert scenario["scenario"]["name"] == path.stem
    for table in (events, batches):
        assert set(table["scenario_hash"].astype(str)) == {prov["scenario_hash"]}
        assert set(table["celltwin_version"].astype(str)) == {__version__}
        assert set(table["replication"]) == {0, 1}
    for col in ("time_h", "patient", "site", "step", "resource", "kind"):
        assert col in events
    for col in ("referral_h", "apheresis_start_h", "infusion_start_h", "vein_to_vein_days", "outcome"):
        assert col in batches
    k = summary["kpis"]
    for name in ("referred", "infused", "dropped_out", "failed", "in_progress",
                 "vein_to_vein_median_days", "vein_to_vein_p90_days", "throughput_per_year", "mean_wip"):
        assert k[name]["n"] == 2 and k[name]["ci_low"] <= k[name]["mean"] <= k[name]["ci_high"]
    assert any(name.startswith("utilisation.device.") for name in k)
    for c in summary["conservation_all_patients"].values():
        assert c["entered"] == sum(c[o] for o in ("infused", "failed", "dropped_out", "lost", "in_progress"))


def test_same_seed_same_summary_through_the_cli(tmp_path) -> None:
    path = SCENARIOS / "centralised.yaml"
    for name in ("a", "b"):
        assert main(["run", str(path), "--out", str(tmp_path / name), "-r", "1", "-q"]) == 0
    ka = json.loads((tmp_path / "a" / "summary.json").read_text())["kpis"]
    kb = json.loads((tmp_path / "b" / "summary.json").read_text())["kpis"]
    assert ka == kb
