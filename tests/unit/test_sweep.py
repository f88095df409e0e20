"""Sweeps: expansion, validation, executors, resume, failure isolation, the planner's answer."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from conftest import SCENARIOS

import twin.model
from twin.cli import main
from twin.core.errors import InputError
from twin.experiments.sweep.answer import planners_answer, point_summary, wide
from twin.experiments.sweep.execute import execute
from twin.experiments.sweep.spec import load_sweep
from twin.experiments.sweep.store import SweepStore

SWEEP = f"""
name: tiny_sweep
base: {SCENARIOS / 'centralised.yaml'}
set:
  horizon_days: 150
  warmup_days: 30
axes:
  referrals.rate_per_week: [3, 6]
  sites.central_factory.devices.clinimacs_prodigy.count: {{range: [6, 12, 6]}}
replications: 2
targets:
  vein_to_vein_p90_days: {{max: 40}}
answer:
  demand: referrals.rate_per_week
  cost_per_unit:
    sites.central_factory.devices.clinimacs_prodigy.count: 100
"""


def write(tmp_path, text: str = SWEEP, name: str = "sweep.yaml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def table(store: SweepStore) -> pd.DataFrame:
    """The stored results, in a canonical order, without timing columns."""
    df = store.read().drop(columns=["wall_s"])
    df["point_id"] = df["point_id"].astype(str)
    return df.sort_values(["scenario_id", "kpi"]).reset_index(drop=True)


def run(plan, root, **kw) -> SweepStore:
    store = SweepStore(root)
    store.open(plan.manifest(), {"points": plan.points}, resume=kw.pop("resume", False))
    execute(plan, store, **kw)
    return store


def test_grid_expands_every_combination_with_stable_ids(tmp_path) -> None:
    plan = load_sweep(write(tmp_path))
    assert len(plan.points) == 4 and len(plan.tasks) == 8
    assert {(p["referrals.rate_per_week"], p["sites.central_factory.devices.clinimacs_prodigy.count"])
            for p in plan.points} == {(3, 6), (3, 12), (6, 6), (6, 12)}
    again = load_sweep(write(tmp_path, name="again.yaml"))
    assert [t.scenario_id for t in plan.tasks] == [t.scenario_id for t in again.tasks]
    assert len({t.scenario_id for t in plan.tasks}) == 8


def test_lhs_puts_one_sample_in_each_stratum(tmp_path) -> None:
    text = SWEEP.replace("  referrals.rate_per_week: [3, 6]\n", "  referrals.rate_per_week: {range: [2, 12]}\n")
    text = text.replace("{range: [6, 12, 6]}", "[8, 10, 12, 14]").replace("replications: 2", "design: lhs\nsamples: 10\nreplications: 1")
    plan = load_sweep(write(tmp_path, text))
    rates = sorted(p["referrals.rate_per_week"] for p in plan.points)
    assert len(rates) == 10
    # Latin hypercube: exactly one sample in each tenth of [2, 12].
    assert sorted(int((r - 2) // 1.0) for r in rates) == list(range(10))


@pytest.mark.parametrize(
    "old,new,words",
    [
        ("[3, 6]", "[3, -6]", ("referrals.rate_per_week=-6", "greater than 0")),
        ("clinimacs_prodigy.count: {range: [6, 12, 6]}", "clinimacs_prodigy.count: [6, 2.5]", ("2.5", "integer")),
        ("horizon_days: 150", "horizon_dayz: 150", ("'set'", "did you mean 'horizon_days'")),
        ("demand: referrals.rate_per_week", "demand: seed", ("not an axis",)),
        # a misspelt target would never be met: refused before anything runs
        ("vein_to_vein_p90_days: {max: 40}", "v2v_p90: {max: 40}",
         ("targets.v2v_p90", "did you mean 'vein_to_vein_p90_days'")),
        ("horizon_days: 150", "horizon_days.x: 150", ("set.horizon_days.x", "not a mapping")),
    ],
)
def test_a_bad_axis_fails_before_anything_runs(tmp_path, capsys, old, new, words) -> None:
    path = write(tmp_path, SWEEP.replace(old, new))
    assert main(["sweep", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err and str(path) in err
    for w in words:
        assert w in err, err
    assert re.search(rf"{re.escape(str(path))}:\d+:\d+: ", err), err  # file, line and column
    assert not (tmp_path / "out").exists()


def test_base_is_read_relative_to_the_sweep_file_and_a_missing_one_names_base(tmp_path, monkeypatch) -> None:
    study = tmp_path / "study"
    study.mkdir()
    (study / "base.yaml").write_text((SCENARIOS / "centralised.yaml").read_text())
    sweep = write(study, SWEEP.replace(str(SCENARIOS / "centralised.yaml"), "base.yaml"))
    monkeypatch.chdir(tmp_path)  # not the sweep file's folder
    assert load_sweep(sweep).points
    copied = write(tmp_path, sweep.read_text(), "copied.yaml")  # the copy's base: no longer resolves
    with pytest.raises(InputError) as err:
        load_sweep(copied)
    msg = str(err.value)
    assert msg.startswith(f"{copied}:") and "base: base scenario not found" in msg and "relative to the sweep file" in msg


def test_an_unmet_demand_level_says_which_target_the_nearest_point_missed_and_by_how_much(tmp_path) -> None:
    plan = load_sweep(write(tmp_path))
    dev = "sites.central_factory.devices.clinimacs_prodigy.count"
    rows = [{**p, "kpi": "vein_to_vein_p90_days", "mean": 41.0 if p[dev] == 12 else 45.0} for p in plan.points]
    answer = planners_answer(plan, pd.DataFrame(rows))
    assert not answer["met"].any()
    assert set(answer["missed"]) == {"vein_to_vein_p90_days 41 > max 40 (by 1) at clinimacs_prodigy.count=12"}


@pytest.mark.xdist_group("pools")  # starts its own worker processes: one such test at a time
def test_results_do_not_depend_on_executor_or_workers(tmp_path) -> None:
    """One process, two processes and a Dask LocalCluster give identical result tables."""
    plan = load_sweep(write(tmp_path))
    one = table(run(plan, tmp_path / "w1", workers=1))
    two = table(run(plan, tmp_path / "w2", workers=2))
    pd.testing.assert_frame_equal(one, two)
    assert set(one["status"]) == {"ok"} and one["scenario_id"].nunique() == 8

    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        dask = table(run(plan, tmp_path / "dask", scheduler=client))
    pd.testing.assert_frame_equal(one, dask)


@pytest.mark.xdist_group("pools")  # starts its own worker processes: one such test at a time
def test_resume_after_interruption_runs_every_id_exactly_once(tmp_path) -> None:
    plan = load_sweep(write(tmp_path))
    store = SweepStore(tmp_path / "s")
    store.open(plan.manifest(), {}, resume=False)

    def interrupt_after_three(row, done, total):
        if done == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        execute(plan, store, workers=2, on_result=interrupt_after_three)
    assert len(store.done_ids()) == 3
    # A half-written file from the killed process must not count or break the read.
    stray = next(store.runs.glob("point_id=*")) / ".deadbeef.parquet.tmp"
    stray.write_bytes(b"PAR1 half written")
    with pytest.raises(InputError):
        store.open(plan.manifest(), {}, resume=False)  # no silent overwrite
    store.open(plan.manifest(), {}, resume=True)
    counts = execute(plan, store, workers=2)
    assert counts == {"planned": 8, "skipped": 3, "ok": 5, "failed": 0, "lost": 0}
    got = table(store)
    assert got.groupby("scenario_id")["kpi"].apply(lambda k: k.is_unique).all()
    assert sorted(got["scenario_id"].unique()) == sorted(t.scenario_id for t in plan.tasks)
    pd.testing.assert_frame_equal(got, table(run(plan, tmp_path / "straight", workers=1)))


def test_resume_refuses_a_changed_sweep(tmp_path) -> None:
    plan = load_sweep(write(tmp_path))
    run(plan, tmp_path / "s", workers=1)
    changed = load_sweep(write(tmp_path, SWEEP.replace("horizon_days: 150", "horizon_days: 151"), "b.yaml"))
    store = SweepStore(tmp_path / "s")
    with pytest.raises(InputError, match="sweep_hash"):
        store.open(changed.manifest(), {}, resume=True)


@pytest.mark.xdist_group("pools")  # starts its own worker processes: one such test at a time
def test_a_failing_scenario_is_recorded_and_the_others_finish(tmp_path, monkeypatch) -> None:
    real = twin.model.simulate
    plan = load_sweep(write(tmp_path))
    bad = plan.tasks[2]

    def flaky(loaded, replication=0):
        if loaded.scenario.referrals.rate_per_week == bad.data["referrals"]["rate_per_week"] and \
                loaded.scenario.sites["central_factory"].devices["clinimacs_prodigy"].count == \
                bad.data["sites"]["central_factory"]["devices"]["clinimacs_prodigy"]["count"] and \
                replication == bad.replication:
            raise RuntimeError("poisoned scenario")
        return real(loaded, replication)

    monkeypatch.setattr(twin.model, "simulate", flaky)
    store = run(plan, tmp_path / "s", workers=2)  # fork: workers see the patched function
    got = store.read()
    failed = got[got["status"] == "failed"]
    assert list(failed["scenario_id"].unique()) == [bad.scenario_id]
    assert "RuntimeError: poisoned scenario" in failed["error"].iloc[0]
    assert got.loc[got["status"] == "ok", "scenario_id"].nunique() == 7
    summary = point_summary(plan, got)
    assert summary.loc[summary["point_id"] == bad.point_id, "failed_tasks"].eq(1).all()


def test_point_summary_and_planners_answer(tmp_path) -> None:
    """The summary's mean and CI are those of the replications; the answer is, per demand level,
    the cheapest point meeting the target (checked by brute force on the summary)."""
    plan = load_sweep(write(tmp_path))
    store = run(plan, tmp_path / "s", workers=1)
    runs = store.read()
    summary = point_summary(plan, runs)
    p0 = plan.points[0]["point_id"]
    v = runs[(runs["point_id"] == p0) & (runs["kpi"] == "vein_to_vein_p90_days")]["value"]
    row = summary[(summary["point_id"] == p0) & (summary["kpi"] == "vein_to_vein_p90_days")].iloc[0]
    assert row["mean"] == pytest.approx(v.mean()) and row["n"] == 2
    assert row["ci_low"] <= row["mean"] <= row["ci_high"]

    answer = planners_answer(plan, summary)
    w = wide(summary, plan, ["vein_to_vein_p90_days"])
    dev = "sites.central_factory.devices.clinimacs_prodigy.count"
    for level, grp in w.groupby("referrals.rate_per_week"):
        ok = grp[grp["vein_to_vein_p90_days"] <= 40]
        got = answer[answer["referrals.rate_per_week"] == level].iloc[0]
        if ok.empty:
            assert not got["met"]
        else:
            assert got["met"] and got[dev] == ok[dev].min() and got["cost"] == 100 * ok[dev].min()


@pytest.mark.xdist_group("pools")  # starts its own worker processes: one such test at a time
def test_sweep_cli_end_to_end(tmp_path, capsys) -> None:
    path = write(tmp_path)
    out = tmp_path / "out"
    assert main(["sweep", str(path), "--out", str(out), "--workers", "2"]) == 0
    printed = capsys.readouterr().out
    assert "Cheapest configuration" in printed
    assert (out / "summary.parquet").exists() and (out / "answer.csv").exists()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["tasks"] == 8
    # Resuming a finished sweep runs nothing and gives the same summary.
    before = pd.read_parquet(out / "summary.parquet")
    assert main(["sweep", str(path), "--out", str(out), "--resume", "-q"]) == 0
    pd.testing.assert_frame_equal(before, pd.read_parquet(out / "summary.parquet"))


@pytest.mark.parametrize("name", ["scale_up", "outage_stress"])
def test_bundled_sweeps_validate(name) -> None:
    plan = load_sweep(SCENARIOS / "sweeps" / f"{name}.yaml")
    assert len(plan.tasks) >= 40
    assert np.all([t.data["horizon_days"] == 365 for t in plan.tasks])


@pytest.mark.xdist_group("pools")  # starts its own worker processes: one such test at a time
def test_a_task_that_kills_its_worker_is_lost_alone_and_retried_by_resume(tmp_path, monkeypatch) -> None:
    """A scenario that crashes its worker process (not an exception: the process dies) is lost to
    infrastructure, not failed: after the pool breaks each unfinished task runs alone, the killer
    is retried on its own up to MAX_DEATHS times and then reported lost, not stored; every other
    task is stored ok once, and --resume runs the lost one again."""
    import os

    from twin.experiments.pool import MAX_DEATHS

    real = twin.model.simulate
    plan = load_sweep(write(tmp_path))
    poison = plan.tasks[5]
    deaths = tmp_path / "deaths"
    deaths.mkdir()

    def deadly(loaded, replication=0):
        if loaded.scenario_hash and replication == poison.replication and \
                loaded.scenario.sites["central_factory"].devices["clinimacs_prodigy"].count == \
                poison.data["sites"]["central_factory"]["devices"]["clinimacs_prodigy"]["count"] and \
                loaded.scenario.referrals.rate_per_week == poison.data["referrals"]["rate_per_week"]:
            (deaths / str(os.getpid())).touch()
            os._exit(3)
        return real(loaded, replication)

    monkeypatch.setattr(twin.model, "simulate", deadly)
    store = run(plan, tmp_path / "s", workers=2)
    got = store.read()
    assert set(got["scenario_id"]) == {t.scenario_id for t in plan.tasks} - {poison.scenario_id}
    assert got["status"].eq("ok").all()  # no neighbour failed with it
    assert len(list(deaths.iterdir())) == 1 + MAX_DEATHS  # once in the pool, then alone each time
    monkeypatch.setattr(twin.model, "simulate", real)  # the machine is fine again
    store.open(plan.manifest(), {}, resume=True)
    counts = execute(plan, store, workers=2)
    assert counts == {"planned": 8, "skipped": 7, "ok": 1, "failed": 0, "lost": 0}
    assert poison.scenario_id in store.done_ids()


def test_answer_by_cost_kpi_picks_the_lowest_cost_per_dose_meeting_targets(tmp_path) -> None:
    text = f"""
name: cost_sweep
base: {SCENARIOS / 'layouts' / 'centralised.yaml'}
set: {{horizon_days: 200, warmup_days: 40}}
axes:
  referrals.rate_per_week: [4, 6]
  sites.central_factory.devices.clinimacs_prodigy.count: [8, 12, 16]
replications: 1
targets:
  vein_to_vein_p90_days: {{max: 40}}
answer:
  demand: referrals.rate_per_week
  cost_kpi: cost_per_dose
"""
    plan = load_sweep(write(tmp_path, text))
    store = run(plan, tmp_path / "s", workers=2)
    summary = point_summary(plan, store.read())
    answer = planners_answer(plan, summary)
    w = wide(summary, plan, ["vein_to_vein_p90_days", "cost_per_dose"])
    for level, grp in w.groupby("referrals.rate_per_week"):
        ok = grp[grp["vein_to_vein_p90_days"] <= 40]
        got = answer[answer["referrals.rate_per_week"] == level].iloc[0]
        assert got["met"] == (not ok.empty)
        if not ok.empty:
            assert got["cost"] == pytest.approx(ok["cost_per_dose"].min())


def test_answer_needs_exactly_one_cost(tmp_path, capsys) -> None:
    text = SWEEP.replace("  cost_per_unit:\n    sites.central_factory.devices.clinimacs_prodigy.count: 100\n",
                         "  cost_kpi: cost_per_dose\n  cost_per_unit:\n    sites.central_factory.devices.clinimacs_prodigy.count: 100\n")
    assert main(["sweep", str(write(tmp_path, text)), "--out", str(tmp_path / "o")]) == 2
    assert "exactly one of cost_kpi or cost_per_unit" in capsys.readouterr().err


def test_a_target_on_a_renamed_kpi_is_refused_with_its_new_name(tmp_path, capsys) -> None:
    """dropped_out_fraction (over all referred) became dropped_out_fraction_of_resolved: a
    target on the old name would never be met, silently."""
    path = write(tmp_path, SWEEP.replace("vein_to_vein_p90_days: {max: 40}", "dropped_out_fraction: {max: 0.1}"))
    assert main(["sweep", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "dropped_out_fraction_of_resolved" in err and "Traceback" not in err


def test_the_sweep_knows_every_kpi_a_run_reports() -> None:
    """The names a sweep target may use are the names runs report: a KPI added to the results
    and not to kpi_names would be refused as a misspelling."""
    from conftest import build, centralised_data

    from twin.experiments.sweep.spec import OPEN_FAMILIES, kpi_names
    from twin.model import simulate
    from twin.results.collect import replication_tables

    loaded = build(centralised_data())
    reported = set(replication_tables(simulate(loaded, 0)).kpis)
    unknown = {k for k in reported if k not in kpi_names(loaded) and not k.startswith(OPEN_FAMILIES)}
    assert not unknown
