"""The back-test: every bundled scenario reproduces its committed fingerprint.

A refactor or a speed change must leave every fingerprint as it is. A behaviour change
regenerates them (``python tests/backtest/fingerprint.py``) in a commit that says which
behaviour changed and why. See ``fingerprint.py`` for what is hashed.
"""

from __future__ import annotations

import math

import pytest
from fingerprint import REPLICATIONS, bundled_scenarios, fingerprint, read_expected

EXPECTED_EVENTS, EXPECTED_KPIS = read_expected()
CASES = [(p, r) for p in bundled_scenarios() for r in REPLICATIONS]


def test_every_bundled_scenario_is_pinned():
    """A scenario added to scenarios/ without a fingerprint (or a fingerprint left for a removed
    one) fails here, so no bundled file escapes the back-test."""
    assert sorted(EXPECTED_EVENTS) == sorted(CASES)


@pytest.mark.parametrize(("path", "replication"), CASES, ids=[f"{p}#{r}" for p, r in CASES])
def test_fingerprint_unchanged(path: str, replication: int):
    n, digest, kpis = fingerprint(path, replication)
    want_n, want_digest = EXPECTED_EVENTS[(path, replication)]
    want_kpis = EXPECTED_KPIS[(path, replication)]
    assert sorted(kpis) == sorted(want_kpis), "the set of KPIs changed"
    changed = {
        k: (want_kpis[k], v)
        for k, v in kpis.items()
        if not (v == want_kpis[k] or math.isclose(float(v), float(want_kpis[k]), rel_tol=1e-9, abs_tol=1e-12))
    }
    assert not changed, f"KPIs changed (expected, got): {dict(list(changed.items())[:10])}"
    assert (n, digest) == (want_n, want_digest), f"event log changed: {n} events (expected {want_n})"
