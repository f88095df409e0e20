"""twin risk: the ranking's arithmetic and what a user checks in it (issue 18). Tiny scenarios,
short horizons, a few vulnerabilities each (``only``), in this process (workers=1)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from conftest import RISK_SMALL

import twin
from twin.experiments.risk.analysis import RiskOptions, occurrence_times
from twin.scenario.loading import scenario_from_data

SMALL = RISK_SMALL



def _files(tmp_path: Path, library: dict, data: dict | None = None) -> tuple[Path, Path]:
    sc = tmp_path / "small.yaml"
    sc.write_text(yaml.safe_dump(data or yaml.safe_load(SMALL)))
    lib = tmp_path / "lib.yaml"
    lib.write_text(yaml.safe_dump(library))
    return sc, lib


def _risk(sc: Path, lib: Path, out: Path, *only: str, **kw):
    opts = RiskOptions(workers=1, backups=kw.pop("backups", False), only=only, **kw)
    return twin.risk(sc, out, lib, opts)


def _row(result, vid: str):
    return result.ranking.set_index("id").loc[vid]


def test_a_fully_covered_outage_ranks_with_zero_impact_and_zero_frequency_gives_zero(tmp_path):
    # 6-minute grid losses under a 15-minute UPS; compressed air lost 1 h with a 4-h backup, never (frequency 0)
    sc, lib = _files(tmp_path, {"utilities": {
        "power": {"frequency_per_year": 3, "duration_h": 0.1},
        "compressed_air": {"frequency_per_year": 0, "duration_h": 30}}})
    r = _risk(sc, lib, tmp_path / "out", "power@f", "compressed_air@f")
    power = _row(r, "power@f")
    for m in ("patients_not_infused", "batches_lost", "extra_v2v_median_days", "extra_v2v_p90_days", "batches_hit",
              "lost_h"):
        assert power[f"per_occurrence.{m}"] == 0.0 and power[f"annual_ci_high.{m}"] == 0.0, m
    assert power["per_occurrence.backup_h"] == pytest.approx(0.1)
    air = _row(r, "compressed_air@f")
    assert air["per_occurrence.batches_hit"] > 0  # a 30-h loss past a 4-h backup does hit batches...
    for m in ("patients_not_infused", "batches_hit", "extra_v2v_p90_days", "lost_h"):
        assert air[f"annual.{m}"] == 0.0  # ...but never happens
    occ = r.occurrences[r.occurrences["vulnerability"] == "power@f"]
    assert len(occ) == 2 * 3 and (occ["batches_hit"] == 0).all()  # 2 occurrences in each of 3 replications


def test_doubling_a_frequency_doubles_the_expected_annual_impact_exactly(tmp_path):
    long = {"dist": "fixed", "value": 48}
    sc, lib = _files(tmp_path, {"utilities": {"power": {"frequency_per_year": 2, "duration_h": long}}})
    out = tmp_path / "out"
    one = _risk(sc, lib, out, "power@f")
    lib.write_text(yaml.safe_dump({"utilities": {"power": {"frequency_per_year": 4, "duration_h": long}}}))
    two = _risk(sc, lib, out, "power@f", resume=True)  # the same simulations: only the frequency differs
    assert two.counts["skipped"] == two.counts["planned"] and two.counts["ok"] == 0
    a = one.impacts.set_index("metric")
    b = two.impacts.set_index("metric")
    assert a.loc["batches_hit", "annual"] > 0
    for col in ("annual", "annual_ci_low", "annual_ci_high"):
        assert (b[col].dropna() == 2 * a[col].dropna()).all(), col
    assert (b["per_occurrence"].dropna() == a["per_occurrence"].dropna()).all()


def test_the_dominant_vulnerability_ranks_first_with_intervals_that_separate_it(tmp_path):
    # a 3-day blackout (no generator, 15-min UPS) against a short compressed-air loss under its 4-h backup
    # and a 1-h HVAC fault
    sc, lib = _files(tmp_path, {"utilities": {
        "power": {"frequency_per_year": 2, "duration_h": 72},
        "compressed_air": {"frequency_per_year": 2, "duration_h": 0.5},
        "hvac": {"frequency_per_year": 2, "duration_h": 1}}})
    r = _risk(sc, lib, tmp_path / "out", "power@f", "compressed_air@f", "hvac@f", rank_by="batches_hit")
    rk = r.ranking.set_index("id")
    assert r.ranking.iloc[0]["id"] == "power@f"
    for other in ("compressed_air@f", "hvac@f"):
        assert rk.loc["power@f", "annual_ci_low.batches_hit"] > rk.loc[other, "annual_ci_high.batches_hit"]
        assert rk.loc["power@f", "annual_ci_low.lost_h"] > rk.loc[other, "annual_ci_high.lost_h"]


def test_common_cause_it_loss_hits_every_point_of_care_site_in_the_same_window(tmp_path):
    data = yaml.safe_load(SMALL)
    h2 = copy.deepcopy(data["sites"]["f"])
    data["sites"] = {"a": {**data["sites"]["f"], "kind": "hospital", "apheresis_chairs": 2, "infusion_slots": 2},
                     "b": {**h2, "kind": "hospital", "apheresis_chairs": 2, "infusion_slots": 2}}
    for s in data["sites"].values():
        s["devices"]["clinimacs_prodigy"]["override"]["network"] = "stop"  # the devices stop with the MES
    data["referrals"] = {"rate_per_week": 3, "hospitals": {"a": 1, "b": 1}}
    data["couriers"] = []
    data["recipe"][0].pop("transfer")
    scenario_from_data(copy.deepcopy(data), source="<test>")  # a valid point-of-care layout
    sc, lib = _files(tmp_path, {"it_common_cause": {"frequency_per_year": 0.5, "duration_h": 24}}, data)
    r = _risk(sc, lib, tmp_path / "out", "it@all")
    occ = r.occurrences
    assert len(occ) == 6
    assert (occ["sites"] == 2).all() and (occ["spread_h"] == 0).all()  # both sites lose it at once
    assert (occ["sites_hit"] == 2).any()  # and batches at both are hit by the same occurrence
    assert _row(r, "it@all")["frequency_per_year"] == 0.5


def test_occurrences_are_spread_through_the_measurable_window():
    t = occurrence_times(240.0, 2400.0, 2, 0)
    assert 240.0 + 0.25 * 2160 - 1e-9 <= t[0] < t[1] <= 2400.0 - 0.25 * 2160
    assert occurrence_times(240.0, 2400.0, 2, 1) != t  # another replication, other times of day and week


def test_twin_risk_command_prints_the_ranking_and_writes_tidy_tables(tmp_path, capsys):
    from twin.cli import main

    sc, lib = _files(tmp_path, {"utilities": {"power": {"frequency_per_year": 2, "duration_h": 24}}})
    out = tmp_path / "out"
    rc = main(["risk", str(sc), "--library", str(lib), "--only", "power@f", "--only", "leak:*", "-r", "2",
               "--out", str(out), "-w", "1", "-q"])
    assert rc == 0
    for name in ("ranking", "impacts", "occurrences", "vulnerabilities", "backups"):
        assert (out / f"{name}.csv").exists()
    assert "risk.json" in {p.name for p in out.iterdir()}
    rc = main(["risk", str(sc), "--only", "nothing*", "--out", str(tmp_path / "o2"), "-q"])
    assert rc == 2 and "matches no vulnerability" in capsys.readouterr().err


def test_compare_with_set_prints_outage_impacts_beside_the_kpis(tmp_path, capsys):
    from twin.cli import main

    data = yaml.safe_load(SMALL)
    data["outages"] = [{"name": "grid", "what": "power", "site": "f", "at_h": 800, "duration_h": 6}]
    sc = tmp_path / "s.yaml"
    sc.write_text(yaml.safe_dump(data))
    rc = main(["compare", str(sc), "--set", "sites.f.utilities.power.ups_minutes=600", "-r", "2",
               "--out", str(tmp_path / "cmp")])
    text = capsys.readouterr().out
    assert rc == 0
    assert "small-2 = small with --set sites.f.utilities.power.ups_minutes=600" in text
    hit = next(line for line in text.splitlines() if line.strip().startswith("batches hit by outages"))
    change = text.splitlines()[text.splitlines().index(hit) + 1]
    assert "change vs small" in change and change.split()[-1].startswith("-")  # a 10-h UPS covers the 6-h loss
    assert "backup hours (h)" in text
    assert main(["compare", str(sc), "--out", str(tmp_path / "c2")]) == 2


def test_a_backup_stepped_up_past_the_outage_buys_all_of_its_impact(tmp_path):
    # compressed air lost 6 h at a time; its 4-h backup doubled to 8 h covers every occurrence
    sc, lib = _files(tmp_path, {"utilities": {"compressed_air": {"frequency_per_year": 3, "duration_h": 6}}})
    r = _risk(sc, lib, tmp_path / "out", "compressed_air@f", backups=True)
    b = r.backups.set_index(["backup", "step", "metric"])
    up = b.loc[("compressed_air_backup@f", "up", "lost_h")]
    assert up["to"] == 8 and up["annual_now"] == pytest.approx(3 * 2.0) and up["annual_stepped"] == 0.0
    assert up["reduction"] == pytest.approx(6.0) and up["reduction_ci_low"] == pytest.approx(6.0)
    down = b.loc[("compressed_air_backup@f", "down", "lost_h")]
    assert down["to"] == 2 and down["reduction"] == pytest.approx(-6.0)  # half the backup: 2 h more lost each time
    assert r.counts["planned"] == 3 * (2 + 1 + 1)  # the stepped baselines are the current one: not re-run
