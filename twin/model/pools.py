"""Pools of identical units: device units, staff of a role, apheresis chairs, infusion slots.

A pool is a FIFO ``simpy.Resource`` with ``units * slots_per_unit`` places plus the bookkeeping
that says *which* unit a holder got (lowest-numbered free unit first), so the event log can show
that no unit ever holds more batches than it has slots.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import simpy


@dataclass(frozen=True)
class PoolSpec:
    """What a pool is: where, what, how many. Also recorded in the run's resource table."""

    site: str
    name: str
    kind: str  # device | staff | chair | slot
    units: int
    slots_per_unit: int = 1

    @property
    def capacity(self) -> int:
        """Places in the pool (batches or people that can hold it at once)."""
        return self.units * self.slots_per_unit


class Pool:
    """A FIFO pool of units. Use :meth:`request` / :meth:`take` / :meth:`give_back`."""

    def __init__(self, env: simpy.Environment, spec: PoolSpec) -> None:
        self.spec = spec
        self.resource = simpy.Resource(env, capacity=max(spec.capacity, 1))
        self._free: list[int] = [u for u in range(spec.units) for _ in range(spec.slots_per_unit)]
        heapq.heapify(self._free)

    def request(self) -> simpy.resources.resource.Request:
        """Join the queue; the returned event fires when a place is granted."""
        return self.resource.request()

    def take(self) -> int:
        """After a granted request: the unit this holder occupies."""
        return heapq.heappop(self._free)

    def give_back(self, req: simpy.resources.resource.Request, unit: int) -> None:
        """Release a granted request and its unit."""
        heapq.heappush(self._free, unit)
        self.resource.release(req)
