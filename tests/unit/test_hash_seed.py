"""The same seed gives the same event log, row for row, in any Python process: nothing in the
model may iterate in an order that PYTHONHASHSEED changes (a set of strings). The back-test sorts
rows before hashing, so it would not see such an order change; this test compares the raw log."""

from __future__ import annotations

import os
import subprocess
import sys

from conftest import REPO

PROGRAM = """
import hashlib, sys
from twin.model import simulate
from twin.scenario.loading import load_scenario
loaded = load_scenario(sys.argv[1], overrides=["horizon_days=200", "warmup_days=0"])
rec = simulate(loaded, 0)
h = hashlib.sha256()
cols = rec.events
for name in sorted(cols):
    h.update(name.encode())
    h.update(repr(list(cols[name])).encode())
print(len(cols["time_h"]), h.hexdigest())
"""


def _digest(seed: str) -> str:
    env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", PROGRAM, str(REPO / "scenarios" / "outage_co2.yaml")],
                          capture_output=True, text=True, env=env, check=True, timeout=300)
    return done.stdout.strip()


def test_the_raw_event_log_does_not_depend_on_the_hash_seed() -> None:
    """outage_co2: several batches lose their CO2 at one instant; their rows keep one order."""
    assert _digest("1") == _digest("2")
