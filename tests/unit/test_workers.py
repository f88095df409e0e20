"""Replications and compared layouts on a local process pool (`--workers`): the same tables as
one worker, order included; a replication that fails in a worker stays a row of data; with
--precision the result for a final n is that of a plain run of n."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import SCENARIOS, build, centralised_data

import twin.model
from twin.cli import main
from twin.experiments.pool import worker_count
from twin.experiments.run import Precision, run_scenario

pytestmark = pytest.mark.xdist_group("pools")

SHORT = ["--set", "horizon_days=60", "--set", "warmup_days=0"]
TABLES = ("kpis", "batches", "events", "resources")


def _run(tmp_path: Path, workers: int, capsys) -> Path:
    out = tmp_path / f"w{workers}"
    argv = ["run", str(SCENARIOS / "centralised.yaml"), *SHORT, "-r", "3", "--workers", str(workers), "--out", str(out), "-q"]
    assert main(argv) == 0, capsys.readouterr().err
    return out


def _assert_same_run(a: Path, b: Path) -> None:
    for t in TABLES:
        pd.testing.assert_frame_equal(pd.read_parquet(a / f"{t}.parquet"), pd.read_parquet(b / f"{t}.parquet"))
    sa, sb = (json.loads((p / "summary.json").read_text()) for p in (a, b))
    assert sa["kpis"] == sb["kpis"] and sa["replications"] == sb["replications"]


def test_twin_run_on_two_workers_writes_the_tables_of_one(tmp_path, capsys) -> None:
    one, two = _run(tmp_path, 1, capsys), _run(tmp_path, 2, capsys)
    _assert_same_run(one, two)
    events = pd.read_parquet(two / "events.parquet")
    assert list(events["replication"].unique()) == [0, 1, 2]  # in replication order
    assert events.groupby("replication").size().nunique() > 1  # the replications differ, so order shows


def _layouts(tmp_path: Path) -> list[Path]:
    paths = []
    for name, count in (("base", None), ("more", 16)):
        data = centralised_data()
        data.update(name=name, horizon_days=60, warmup_days=0)
        if count:
            data["sites"]["central_factory"]["devices"]["clinimacs_prodigy"]["count"] = count
        data["catalogue"] = str(SCENARIOS.parent / "equipment")
        p = tmp_path / f"{name}.yaml"
        p.write_text(yaml.safe_dump(data, sort_keys=False))
        paths.append(p)
    return paths


def test_twin_compare_on_two_workers_writes_the_tables_of_one(tmp_path, capsys) -> None:
    layouts = _layouts(tmp_path)
    outs = []
    for w in (1, 2):
        out = tmp_path / f"cmp{w}"
        assert main(["compare", *map(str, layouts), "-r", "2", "--workers", str(w), "--out", str(out), "-q"]) == 0
        outs.append(out)
    pd.testing.assert_frame_equal(pd.read_parquet(outs[0] / "comparison.parquet"),
                                  pd.read_parquet(outs[1] / "comparison.parquet"))
    for name in ("base", "more"):
        _assert_same_run(outs[0] / "layouts" / name, outs[1] / "layouts" / name)


def test_a_replication_that_fails_in_a_worker_stays_a_row(monkeypatch) -> None:
    real = twin.model.simulate

    def flaky(loaded, replication=0):
        if replication == 1:
            raise RuntimeError("boom in replication 1")
        return real(loaded, replication)

    monkeypatch.setattr(twin.model, "simulate", flaky)  # forked workers inherit it
    data = centralised_data()
    data.update(horizon_days=30, warmup_days=0)
    res = run_scenario(build(data), replications=3, workers=2)
    assert [f["replication"] for f in res.failures] == [1]
    assert "boom" in res.failures[0]["error"] and "Traceback" in res.failures[0]["traceback"]
    assert list(res.batches["replication"].unique()) == [0, 2]
    assert res.provenance["replications"] == 3 and res.provenance["replications_completed"] == 2


def test_precision_in_batches_ends_with_the_tables_of_a_plain_run_of_that_n() -> None:
    data = centralised_data()
    data.update(horizon_days=45, warmup_days=0)
    loaded = build(data)
    got = run_scenario(loaded, replications=2, precision=Precision(rel=1e-6, max_replications=5), workers=2)
    n = got.precision["replications"]
    assert n == 5 and got.provenance["replications"] == 5  # batches of 2 stop at the cap, not past it
    plain = run_scenario(loaded, replications=n, workers=1)
    pd.testing.assert_frame_equal(got.kpis, plain.kpis)
    pd.testing.assert_frame_equal(got.events, plain.events)


def test_the_default_is_every_core() -> None:
    assert worker_count(None) == (os.cpu_count() or 1)
    assert worker_count(1) == 1


def test_a_worker_that_dies_fails_only_its_own_replication(monkeypatch) -> None:
    """A replication that kills its worker process every time (say, out of memory) is a failed
    replication after it ran alone MAX_DEATHS times; the replications queued with it, which the
    broken pool took down too, run again and are kept, in order."""
    real = twin.model.simulate

    def deadly(loaded, replication=0):
        if replication == 1:
            os._exit(3)
        return real(loaded, replication)

    monkeypatch.setattr(twin.model, "simulate", deadly)
    data = centralised_data()
    data.update(horizon_days=30, warmup_days=0)
    res = run_scenario(build(data), replications=4, workers=2)
    assert [f["replication"] for f in res.failures] == [1]
    assert "died" in res.failures[0]["error"]
    assert list(res.batches["replication"].unique()) == [0, 2, 3]
    monkeypatch.setattr(twin.model, "simulate", real)
    plain = run_scenario(build(data), replications=4, workers=1)
    kept = plain.batches[plain.batches["replication"] != 1].reset_index(drop=True)
    pd.testing.assert_frame_equal(res.batches.reset_index(drop=True), kept, check_dtype=False)
