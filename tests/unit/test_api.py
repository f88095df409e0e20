"""The Python API (``twin.load``, ``twin.run``, ``twin.compare``, ``twin.sweep``, ``twin.export``)
gives what the command line gives, and the export files read back to the same numbers."""

from __future__ import annotations

import json
import os
import runpy
import subprocess
import sys

import pandas as pd
import plotly.graph_objects as go
import pytest
from conftest import REPO, SCENARIOS, TINY

import twin
from twin.cli import main
from twin.core.errors import InputError

SHORT = ["horizon_days=90", "warmup_days=10"]


def test_import_twin_is_light_and_lists_its_api() -> None:
    """``import twin`` loads neither pandas nor SimPy nor numba (``twin --help`` stays fast), and
    ``dir(twin)`` shows the API a notebook user looks for."""
    code = ("import sys, twin; heavy = {'pandas', 'simpy', 'numba', 'plotly'} & set(sys.modules); "
            "print(sorted(heavy)); print(' '.join(sorted(set(dir(twin)))))")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    heavy, names = out.splitlines()
    assert heavy == "[]"
    assert {"load", "run", "compare", "sweep", "export", "Run", "Comparison", "Sweep"} <= set(names.split())
    with pytest.raises(AttributeError, match="no attribute 'rnu'"):
        twin.rnu  # noqa: B018


def test_run_gives_tables_and_figures_and_the_same_numbers_as_the_cli(tmp_path) -> None:
    run = twin.run(twin.load(SCENARIOS / "centralised.yaml", SHORT), replications=2, seed=7)
    assert run.result.provenance["root_seed"] == 7 and run.result.provenance["replications_completed"] == 2
    for table in (run.kpis, run.summary, run.batches, run.events, run.resources):
        assert isinstance(table, pd.DataFrame) and len(table)
    assert {"kpi", "mean", "ci_low", "ci_high"} <= set(run.summary.columns)
    assert set(run.kpis["replication"]) == {0, 1}
    assert {"utilisation", "work_in_progress", "vein_to_vein", "outcomes"} <= set(run.figures)
    assert all(isinstance(f, go.Figure) for f in run.figures.values())

    folder = run.save(tmp_path / "api")
    report = run.report()
    assert report == folder / "report.html" and report.stat().st_size > 100_000

    cli = tmp_path / "cli"
    assert main(["run", str(SCENARIOS / "centralised.yaml"), *sum((["--set", s] for s in SHORT), []),
                 "-r", "2", "--seed", "7", "--out", str(cli), "-q"]) == 0
    kpis = json.loads((cli / "summary.json").read_text())["kpis"]
    for name in ("infused", "vein_to_vein_median_days", "utilisation.device.central_factory.clinimacs_prodigy"):
        assert run.kpi(name) == pytest.approx(kpis[name]["mean"], rel=1e-12)


def test_a_seed_changes_the_patients_and_bad_input_raises() -> None:
    sc = twin.load(SCENARIOS / "centralised.yaml", SHORT)
    a, b = twin.run(sc, replications=1), twin.run(sc, replications=1, seed=sc.scenario.seed + 1)
    assert not a.batches["referral_h"].equals(b.batches["referral_h"])
    with pytest.raises(InputError, match="at least 1"):
        twin.run(sc, replications=0)
    with pytest.raises(InputError, match="rate_per_wek"):
        twin.load(SCENARIOS / "centralised.yaml", ["referrals.rate_per_wek=3"])


@pytest.fixture(scope="module")
def saved_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("run") / "baseline"
    twin.run(twin.load(SCENARIOS / "outage_co2.yaml", ["horizon_days=200", "warmup_days=30"]), replications=2).save(folder)
    return folder


def test_export_to_csv_reads_back_to_the_run_folder(saved_run, tmp_path) -> None:
    files = twin.export(saved_run, csv=tmp_path / "csv")
    assert sorted(p.name for p in files) == ["batches.csv", "kpis.csv", "outages.csv"]
    kpis = pd.read_csv(tmp_path / "csv" / "kpis.csv").set_index("kpi")
    summary = json.loads((saved_run / "summary.json").read_text())["kpis"]
    for name in ("infused", "vein_to_vein_p90_days", "dropped_out_fraction_of_resolved"):
        assert kpis.loc[name, "mean"] == pytest.approx(summary[name]["mean"])
        assert kpis.loc[name, "ci_low"] == pytest.approx(summary[name]["ci_low"])
    assert kpis.loc["vein_to_vein_p90_days", "unit"] == "days"
    assert kpis.loc["utilisation.device.central_factory.clinimacs_prodigy", "unit"] == "fraction"
    batches = pd.read_csv(tmp_path / "csv" / "batches.csv")
    stored = pd.read_parquet(saved_run / "batches.parquet")
    assert len(batches) == len(stored)
    assert batches["referral (h)"].to_numpy() == pytest.approx(stored["referral_h"].to_numpy())
    assert "vein_to_vein (days)" in batches.columns and "scenario_hash" not in batches.columns
    outages = pd.read_csv(tmp_path / "csv" / "outages.csv")
    assert "co2" in set(outages["what"]) and "lost (h)" in outages.columns


def test_costs_are_exported_in_the_scenarios_currency(tmp_path) -> None:
    run = twin.run(twin.load(SCENARIOS / "layouts" / "centralised.yaml", ["horizon_days=60", "warmup_days=10"]),
                   replications=1)
    kpis = pd.read_csv(run.save(tmp_path / "run") and run.export(csv=tmp_path / "csv")[0]).set_index("kpi")
    assert kpis.loc["cost_per_dose", "unit"] == "EUR" and kpis.loc["cost.labour", "unit"] == "EUR"
    assert kpis.loc["cost_per_dose", "mean"] == pytest.approx(run.kpi("cost_per_dose"))


def test_export_to_excel_has_a_sheet_per_table_with_units(saved_run, tmp_path) -> None:
    pytest.importorskip("openpyxl")
    assert main(["export", str(saved_run), "--xlsx", str(tmp_path / "run.xlsx")]) == 0
    sheets = pd.read_excel(tmp_path / "run.xlsx", sheet_name=None)
    assert list(sheets) == ["kpis", "batches", "outages"]
    assert {"kpi", "unit", "mean", "ci_low", "ci_high"} <= set(sheets["kpis"].columns)
    assert "apheresis_start (h)" in sheets["batches"].columns
    assert len(sheets["batches"]) == len(pd.read_parquet(saved_run / "batches.parquet"))


def test_export_refuses_what_it_cannot_do(tmp_path, capsys) -> None:
    assert main(["export", str(tmp_path / "nowhere"), "--csv", str(tmp_path / "c")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["export", str(tmp_path)]) == 2
    assert "--csv DIR" in capsys.readouterr().err
    assert main(["export", str(tmp_path), "--csv", str(tmp_path / "c")]) == 2
    assert "is not a run folder" in capsys.readouterr().err


def _tiny(tmp_path, name: str = "tiny.yaml"):
    path = tmp_path / name
    path.write_text(TINY)
    return path


def test_compare_names_same_named_layouts_for_folders_and_exports(tmp_path) -> None:
    a, b = _tiny(tmp_path, "a.yaml"), _tiny(tmp_path, "b.yaml")
    seen: list[tuple[str, int]] = []
    cmp = twin.compare([a, b], replications=2, on_replication=lambda name, rep, s: seen.append((name, rep)))
    assert cmp.names == ["tiny", "tiny-2"] and seen == [("tiny", 0), ("tiny-2", 0), ("tiny", 1), ("tiny-2", 1)]  # replication n of every layout in step
    assert (cmp.wide("diff_mean")["tiny-2"].dropna() == 0).all()  # the same layout twice
    folder = cmp.save(tmp_path / "cmp")
    assert sorted(p.name for p in (folder / "layouts").iterdir()) == ["tiny", "tiny-2"]
    tables = {p.stem: p for p in cmp.export(csv=tmp_path / "csv")}
    comparison = pd.read_csv(tables["comparison"])
    assert {"layout", "kpi", "unit", "mean", "diff_mean"} <= set(comparison.columns)
    batches = pd.read_csv(tables["batches"])
    assert set(batches["layout"]) == {"tiny", "tiny-2"} and len(batches) == 2 * 2 * 2  # 2 patients, 2 reps


SWEEP = """
name: tiny_api_sweep
base: tiny.yaml
set:
  referrals: {rate_per_week: 1}
axes:
  referrals.rate_per_week: [1, 2]
  sites.f.devices.clinimacs_prodigy.count: [1, 2]
replications: 1
targets:
  referred: {min: 0}
answer:
  demand: referrals.rate_per_week
  cost_per_unit: {sites.f.devices.clinimacs_prodigy.count: 10}
"""


def test_sweep_runs_from_python_and_exports_its_answer(tmp_path) -> None:
    _tiny(tmp_path)
    (tmp_path / "sweep.yaml").write_text(SWEEP)
    sw = twin.sweep(tmp_path / "sweep.yaml", workers=1, out=tmp_path / "store")
    assert sw.counts == {"planned": 4, "skipped": 0, "ok": 4, "failed": 0, "lost": 0}
    assert len(sw.means(["infused"])) == 4
    files = {p.stem: p for p in sw.export(csv=tmp_path / "csv")}
    answer = pd.read_csv(files["answer"])
    assert len(answer) == 2 and answer["met"].all()
    assert (answer["sites.f.devices.clinimacs_prodigy.count"] == 1).all()  # the cheaper one meets it
    summary = pd.read_csv(files["summary"])
    assert {"point_id", "kpi", "unit", "mean", "ci_low"} <= set(summary.columns) and len(summary)


def test_the_notebook_runs(tmp_path, monkeypatch) -> None:
    """docs/notebook.py (the tutorial's what-ifs in Python) runs top to bottom, quickly: one
    replication of 200 days (the CO2 failure starts on day 150)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CELLTWIN_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("CELLTWIN_QUICK", "replications=1 horizon_days=200 warmup_days=30")
    ns = runpy.run_path(str(REPO / "docs" / "notebook.py"), run_name="__main__")
    assert isinstance(ns["baseline"], twin.Run) and isinstance(ns["co2"], twin.Comparison)
    assert ns["rapid"].kpi("vein_to_vein_median_days") < ns["baseline"].kpi("vein_to_vein_median_days")
    out = tmp_path / "results" / "notebook"
    assert (out / "baseline_csv" / "kpis.csv").exists() and (out / "co2" / "report.html").exists()
