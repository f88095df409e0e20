"""Fingerprints of every bundled scenario: the back-test's measure and its regeneration.

A fingerprint of one replication is the SHA-256 of its event log's content plus its KPIs. The
event log is hashed row by row after rounding every float to :data:`DECIMALS` places (hours and
measured values; 1e-6 h is 3.6 ms) and sorting the rows, so that a change which only reorders
events of the same instant, or moves a float in its last bits, leaves the fingerprint alone, and
any change of what happens, to whom, where or when does not.

Regenerate (only in a commit that says which behaviour changed and why)::

    python tests/backtest/fingerprint.py

This writes ``tests/backtest/expected/events.csv`` (scenario, replication, event count, hash)
and ``tests/backtest/expected/kpis.csv`` (scenario, replication, kpi, value).
"""

from __future__ import annotations

import csv
import hashlib
import math
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EXPECTED = Path(__file__).resolve().parent / "expected"
SCENARIO_DIRS = ("scenarios", "scenarios/layouts", "scenarios/validation")
REPLICATIONS = (0, 1)
"""The fixed-seed replications fingerprinted for each scenario (the scenario's own seed)."""
DECIMALS = 6
"""Floats are rounded to this many decimal places before hashing."""
KPI_DIGITS = 12
"""KPIs are stored and compared to this many significant digits."""


def bundled_scenarios() -> list[str]:
    """Every bundled scenario file (sweep files excluded: they are not scenarios), as paths
    relative to the repository root, sorted."""
    out: list[str] = []
    for d in SCENARIO_DIRS:
        out += sorted(p.relative_to(REPO).as_posix() for p in (REPO / d).glob("*.yaml"))
    return out


def _cell(v: object) -> str:
    if isinstance(v, float):
        return "nan" if math.isnan(v) else repr(round(v, DECIMALS) + 0.0)
    return str(v)


def events_hash(columns: dict[str, list]) -> tuple[int, str]:
    """(row count, SHA-256 hex) of an event log given as equal-length column lists."""
    names = sorted(columns)
    rows = sorted("\x1f".join(_cell(v) for v in row) for row in zip(*(columns[c] for c in names)))
    h = hashlib.sha256("\x1f".join(names).encode())
    for r in rows:
        h.update(b"\n")
        h.update(r.encode())
    return len(rows), h.hexdigest()


def kpi_text(v: float) -> str:
    """A KPI value as stored in kpis.csv."""
    return "nan" if math.isnan(v) else f"{v:.{KPI_DIGITS}g}"


def fingerprint(path: str, replication: int) -> tuple[int, str, dict[str, str]]:
    """(event count, event-log hash, {kpi: value text}) of one replication of a bundled
    scenario (path relative to the repository root)."""
    from twin.model import simulate
    from twin.results.collect import replication_tables
    from twin.scenario.loading import load_scenario

    raw = simulate(load_scenario(REPO / path), replication)
    n, digest = events_hash(raw.events)
    kpis = replication_tables(raw).kpis
    return n, digest, {k: kpi_text(float(v)) for k, v in sorted(kpis.items())}


def read_expected() -> tuple[dict[tuple[str, int], tuple[int, str]], dict[tuple[str, int], dict[str, str]]]:
    """The committed fingerprints: {(scenario, replication): (count, hash)} and KPIs."""
    events: dict[tuple[str, int], tuple[int, str]] = {}
    kpis: dict[tuple[str, int], dict[str, str]] = {}
    with open(EXPECTED / "events.csv", newline="") as f:
        for r in csv.DictReader(f):
            events[(r["scenario"], int(r["replication"]))] = (int(r["events"]), r["sha256"])
    with open(EXPECTED / "kpis.csv", newline="") as f:
        for r in csv.DictReader(f):
            kpis.setdefault((r["scenario"], int(r["replication"])), {})[r["kpi"]] = r["value"]
    return events, kpis


def regenerate() -> None:
    """Recompute every fingerprint and write the expected tables."""
    EXPECTED.mkdir(parents=True, exist_ok=True)
    with open(EXPECTED / "events.csv", "w", newline="") as fe, open(EXPECTED / "kpis.csv", "w", newline="") as fk:
        we, wk = csv.writer(fe, lineterminator="\n"), csv.writer(fk, lineterminator="\n")
        we.writerow(["scenario", "replication", "events", "sha256"])
        wk.writerow(["scenario", "replication", "kpi", "value"])
        for path in bundled_scenarios():
            for rep in REPLICATIONS:
                n, digest, kp = fingerprint(path, rep)
                we.writerow([path, rep, n, digest])
                for k, v in kp.items():
                    wk.writerow([path, rep, k, v])
                print(f"{path} #{rep}: {n} events {digest[:12]}", file=sys.stderr)


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    regenerate()
