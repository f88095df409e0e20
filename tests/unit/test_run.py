"""The run layer: replications, failure isolation, the run folder and its provenance."""

from __future__ import annotations

import json

import pandas as pd
from conftest import SCENARIOS, build, tiny_data

import twin.model
from twin.cli import main
from twin.experiments.run import run_scenario, write_run
from twin.scenario.loading import load_scenario


def test_a_failing_replication_is_recorded_and_the_others_kept(monkeypatch, tmp_path, capsys) -> None:
    """A replication that raises becomes a row in failures; the rest are computed and written,
    and the CLI exits 1 with the tables on disk."""
    real = twin.model.simulate

    def flaky(loaded, replication=0):
        if replication == 1:
            raise RuntimeError("boom in replication 1")
        return real(loaded, replication)

    monkeypatch.setattr(twin.model, "simulate", flaky)
    res = run_scenario(build(tiny_data()), replications=3)
    assert [f["replication"] for f in res.failures] == [1]
    assert "boom" in res.failures[0]["error"]
    assert set(res.batches["replication"]) == {0, 2}
    assert res.provenance["replications_completed"] == 2

    out = tmp_path / "run"
    path = tmp_path / "tiny.yaml"
    from conftest import TINY

    path.write_text(TINY.replace("name: tiny", f"name: tiny\ncatalogue: {SCENARIOS.parent / 'equipment'}"))
    assert main(["run", str(path), "--out", str(out), "-r", "3", "-q"]) == 1
    assert "replication 1 failed: RuntimeError: boom" in capsys.readouterr().err
    assert set(pd.read_parquet(out / "batches.parquet")["replication"]) == {0, 2}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["failed_replications"][0]["replication"] == 1
    assert "Traceback" in (out / "failures.txt").read_text()


def test_scenario_hash_is_semantic_and_seed_override_is_recorded(tmp_path) -> None:
    """Reformatting a file keeps its scenario hash (the file hash changes); a changed number
    changes it. --seed is what the provenance records."""
    text = (SCENARIOS / "centralised.yaml").read_text()
    a = tmp_path / "a.yaml"
    b = tmp_path / "b.yaml"
    c = tmp_path / "c.yaml"
    a.write_text(text)
    b.write_text("# a comment that changes nothing\n" + text)
    c.write_text(text.replace("rate_per_week: 6", "rate_per_week: 7"))
    la, lb, lc = (load_scenario(p) for p in (a, b, c))
    assert la.scenario_hash == lb.scenario_hash != lc.scenario_hash
    assert la.file_sha256 != lb.file_sha256
    data = tiny_data()
    data["seed"] = 99
    res = run_scenario(build(data), replications=1)
    assert res.provenance["root_seed"] == 99
    out = write_run(res, tmp_path / "run")
    ev = pd.read_parquet(out / "events.parquet")
    assert set(ev["root_seed"]) == {99}
    assert not any(p.name.startswith(".") for p in out.iterdir()), "temporary files left behind"
