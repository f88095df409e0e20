"""What one replication hands from the model to the results: plain Python data, no SimPy and
no pandas, so the results layer never imports the model."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class PoolSpec:
    """What a pool is: where, what, how many. Also recorded in the run's resource table.

    For people, a site has one pool per role (``name`` = role) for the tables, and the model
    serves requests from all roles of the site together."""

    site: str
    name: str
    kind: str  # device | staff | chair | slot
    units: int
    slots_per_unit: int = 1

    @property
    def capacity(self) -> int:
        """Places in the pool (batches or people that can hold it at once)."""
        return self.units * self.slots_per_unit


@dataclass
class ReplicationRecord:
    """What one replication produces, as plain Python data.

    Attributes:
        replication: replication index (0-based).
        events: the event log's columns (see :mod:`twin.model.eventlog`).
        pools: every pool's spec (site, name, kind, units, slots per unit).
        n_patients: patients referred (ids 0..n-1).
        horizon_h: end of the simulation (hours).
        warmup_h: start of the measurement window (hours).
        steps: every journey step in order (the batch table has a start and end column for each,
            whether or not any batch reached it).
        cost_inputs: plain cost parameters (see ``LoadedScenario.cost_inputs``), or None.
        periods: the calendar periods KPIs are also given for, as (label, start_h, end_h) within
            the window (none: window KPIs only).
    """

    replication: int
    events: dict[str, list]
    pools: list[PoolSpec]
    n_patients: int
    horizon_h: float
    warmup_h: float
    steps: list[str]
    cost_inputs: dict[str, Any] | None = None
    periods: list[tuple[str, float, float]] = field(default_factory=list)
