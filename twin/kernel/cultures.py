"""The container of cultures the simulation ticks: preallocated arrays, one slot per culture,
advanced together by the numba kernel."""

from __future__ import annotations

import heapq
import math

import numpy as np

from twin.kernel.compiled import advance, advance_parallel
from twin.kernel.params import KernelParams


class Cultures:
    """Cultures in devices, stored as preallocated arrays (one slot per culture).

    ``add(...)`` returns a slot index that stays valid until ``remove(slot)``; freed slots are
    reused lowest first, so live slots stay packed at the front and :meth:`advance` runs the
    kernel over ``[0, high)`` (the highest live slot + 1) without gathering. Free slots inside that
    range hold an empty, sterile culture and cost a few nanoseconds per hour. Arrays grow (doubling)
    when full. Set the environment per slot before a tick, e.g. ``c.powered[slot] = 0``.

    Units as in the module docstring: cells, CFU, h, °C, %, 1/h.
    """

    STATE = ("cells", "dead", "contam", "age_h", "temp_c", "co2_pct", "stress_h")
    PARAMS = ("mu_per_h", "lag_h", "capacity_cells", "doubling_contam_h", "target_cells")
    ENV = ("powered", "co2_supply", "perfused")

    def __init__(self, capacity: int = 64, params: KernelParams | None = None) -> None:
        self.params = params or KernelParams()
        self.params_vec = self.params.as_array()
        self._n = 0
        self.high = 0
        self._free: list[int] = []
        self._alloc(max(1, int(capacity)))

    def _empty_values(self) -> dict[str, float]:
        p = self.params
        return {"cells": 0.0, "dead": 0.0, "contam": 0.0, "age_h": 0.0, "temp_c": p.temp_set_c,
                "co2_pct": p.co2_set_pct, "stress_h": 0.0, "mu_per_h": 0.0, "lag_h": 0.0, "capacity_cells": 1.0,
                "doubling_contam_h": 1.0, "target_cells": math.inf, "powered": 1, "co2_supply": 1, "perfused": 1}

    def _alloc(self, capacity: int) -> None:
        old = self._n
        empty = self._empty_values()
        for name in self.STATE + self.PARAMS + self.ENV:
            dtype = np.uint8 if name in self.ENV else np.float64
            arr = np.full(capacity, empty[name], dtype=dtype)
            if old:
                arr[:old] = getattr(self, name)
            setattr(self, name, arr)
        active = np.zeros(capacity, dtype=bool)
        if old:
            active[:old] = self.active
        self.active = active
        self._free.extend(range(old, capacity))
        heapq.heapify(self._free)
        self._n = capacity

    def __len__(self) -> int:
        """Number of live cultures."""
        return int(self.active[: self.high].sum())

    def add(self, cells: float, mu_per_h: float, lag_h: float, capacity_cells: float, doubling_contam_h: float = 1.0,
            *, dead: float = 0.0, contam: float = 0.0, target_cells: float = math.inf, age_h: float = 0.0,
            temp_c: float | None = None, co2_pct: float | None = None) -> int:
        """Start a culture; returns its slot. Chamber starts at setpoint unless given."""
        if not self._free:
            self._alloc(2 * self._n)
        slot = heapq.heappop(self._free)
        values = dict(cells=cells, dead=dead, contam=contam, age_h=age_h,
                      temp_c=self.params.temp_set_c if temp_c is None else temp_c,
                      co2_pct=self.params.co2_set_pct if co2_pct is None else co2_pct, stress_h=0.0,
                      mu_per_h=mu_per_h, lag_h=lag_h, capacity_cells=capacity_cells,
                      doubling_contam_h=doubling_contam_h, target_cells=target_cells, powered=1, co2_supply=1,
                      perfused=1)
        for name, v in values.items():
            getattr(self, name)[slot] = v
        self.active[slot] = True
        self.high = max(self.high, slot + 1)
        return slot

    def remove(self, slot: int) -> None:
        """End the culture in ``slot`` (read its state first); the slot is reused later."""
        if not (0 <= slot < self.high and self.active[slot]):
            raise KeyError(f"slot {slot} holds no culture")
        for name, v in self._empty_values().items():
            getattr(self, name)[slot] = v
        self.active[slot] = False
        heapq.heappush(self._free, slot)
        while self.high > 0 and not self.active[self.high - 1]:
            self.high -= 1

    def advance(self, hours: float, parallel: bool = False) -> None:
        """Advance every live culture by ``hours`` (h) with the numba kernel."""
        h = self.high
        kernel = advance_parallel if parallel else advance
        kernel(float(hours), *(getattr(self, name)[:h] for name in self.STATE + self.PARAMS[:4] + self.ENV),
               self.params_vec)
