"""Pools of units: device units, people of a site, apheresis chairs, infusion slots.

A pool holds units; each unit has ``slots`` places (batches a device holds at once, 1 for a
person). A unit takes new work only while it is *available*: no down reason on it (broken,
maintenance, changeover, off shift, absent, vacant, training, an outage) and every condition of
the pool up (the site's power for a device that draws it, ...). Requests are served first come,
first served, each by the lowest-numbered available unit that can take it — for people, one
qualified for the step (``skills``) whose shift lasts the whole hands-on time.

A down reason is *hard* (the unit stops at once, with whatever is inside: a breakdown) or *soft*
(it takes effect when the unit is empty: a person finishes the task in hand before going off
shift; maintenance waits for the batch inside to leave). A unit waiting for a soft reason takes
no new work. Every change of a unit's availability is logged (``down`` / ``up``, detail: reason),
so on-duty time and the outage log come from the event log.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import simpy

from twin.model.conditions import Condition

INF = float("inf")


@dataclass(frozen=True)
class PoolSpec:
    """What a pool is: where, what, how many. Also recorded in the run's resource table.

    For people, a site has one pool per role (``name`` = role) for the tables, and the model
    serves requests from all roles of the site together (see :class:`StaffDesk`)."""

    site: str
    name: str
    kind: str  # device | staff | chair | slot
    units: int
    slots_per_unit: int = 1

    @property
    def capacity(self) -> int:
        """Places in the pool (batches or people that can hold it at once)."""
        return self.units * self.slots_per_unit


class Unit:
    """One device unit, chair, slot or person."""

    __slots__ = ("down", "holders", "index", "name", "pending", "running", "shift_end", "skills", "slots")

    def __init__(self, name: str, index: int, slots: int, running: Condition | None,
                 skills: frozenset[str] | None = None) -> None:
        self.name = name  # the pool (or role) name in the log
        self.index = index  # unit number within it
        self.slots = slots
        self.holders = 0
        self.down: dict[str, int] = {}  # effective down reasons
        self.pending: list[tuple[str, float | None]] = []  # soft reasons waiting for the unit to empty
        self.running = running  # hard stop condition (devices), None for people and places
        self.skills = skills  # steps a person is qualified for; None: any (not a person)
        self.shift_end = INF  # a person's end of the current shift (hours)

    def available(self) -> bool:
        """Takes new work now (ignoring the pool's conditions)."""
        return not self.down and not self.pending and self.holders < self.slots


class Request(simpy.Event):
    """A request for a unit; succeeds with the :class:`Unit` granted."""

    __slots__ = ("need_h", "skill", "unit")

    def __init__(self, env: simpy.Environment, skill: str | None, need_h: float) -> None:
        super().__init__(env)
        self.skill = skill
        self.need_h = need_h
        self.unit: Unit | None = None


LogFn = Callable[[Unit, str, str], None]  # (unit, kind "down"/"up", reason)


class UnitPool:
    """A first-come-first-served pool of units with availability (see the module docstring)."""

    def __init__(self, env: simpy.Environment, units: list[Unit], log: LogFn,
                 conditions: list[Condition] | None = None) -> None:
        self.env = env
        self.units = units
        self.queue: list[Request] = []
        self.log = log
        self.conditions = conditions or []
        for c in self.conditions:
            c.on_change.append(lambda is_up: self.dispatch() if is_up else None)
        self.on_empty: Callable[[Unit], None] | None = None  # e.g. start a changeover

    # -- requests --------------------------------------------------------------------------
    def request(self, skill: str | None = None, need_h: float = 0.0) -> Request:
        """Join the queue; the request succeeds with a unit when one can take it."""
        req = Request(self.env, skill, need_h)
        self.queue.append(req)
        self.dispatch()
        return req

    def cancel(self, req: Request) -> None:
        """Withdraw a request (not yet granted) from the queue."""
        if req in self.queue:
            self.queue.remove(req)

    def release(self, req: Request) -> None:
        """Let go of a granted request's unit; soft reasons waiting on it take effect."""
        u = req.unit
        assert u is not None
        u.holders -= 1
        if u.holders == 0:
            pending, u.pending = u.pending, []
            for reason, duration in pending:
                self._take_down(u, reason, duration)
            if not u.down and self.on_empty is not None:
                self.on_empty(u)
        self.dispatch()

    def _fits(self, u: Unit, req: Request, now: float) -> bool:
        if not u.available():
            return False
        if req.skill is not None and u.skills is not None and req.skill not in u.skills:
            return False
        return u.shift_end - now >= req.need_h - 1e-9

    def dispatch(self) -> None:
        """Grant waiting requests, first come first served, while units can take them."""
        if not self.queue:
            return
        for c in self.conditions:
            if c.reasons:
                return
        now = self.env.now
        if not any(u.available() for u in self.units):
            return
        i = 0
        while i < len(self.queue):
            req = self.queue[i]
            unit = next((u for u in self.units if self._fits(u, req, now)), None)
            if unit is None:
                i += 1
                continue
            self.queue.pop(i)
            unit.holders += 1
            req.unit = unit
            req.succeed(unit)
            if not any(u.available() for u in self.units):
                return

    # -- availability ----------------------------------------------------------------------
    def set_down(self, u: Unit, reason: str, hard: bool = False, duration: float | None = None) -> None:
        """Take ``u`` out of service for ``reason`` (for ``duration`` hours, or until
        :meth:`set_up`). Hard: now, stopping what is inside; soft: once the unit is empty."""
        if hard or u.holders == 0:
            self._take_down(u, reason, duration, hard)
        else:
            u.pending.append((reason, duration))

    def _take_down(self, u: Unit, reason: str, duration: float | None, hard: bool = False) -> None:
        first = reason not in u.down
        u.down[reason] = u.down.get(reason, 0) + 1
        if first:
            self.log(u, "down", reason)
        if hard and u.running is not None:
            u.running.down(reason)
        if duration is not None:
            self.env.process(self._back_after(u, reason, duration, hard))

    def _back_after(self, u: Unit, reason: str, duration: float, hard: bool):
        yield self.env.timeout(duration)
        self.set_up(u, reason, hard)

    def set_up(self, u: Unit, reason: str, hard: bool = False) -> None:
        """Clear one hold of ``reason`` on ``u`` (or drop it if it was still pending)."""
        for k, (r, _) in enumerate(u.pending):
            if r == reason:
                del u.pending[k]
                self.dispatch()
                return
        n = u.down.get(reason, 0)
        if n == 0:
            return
        if n == 1:
            del u.down[reason]
            self.log(u, "up", reason)
        else:
            u.down[reason] = n - 1
        if hard and u.running is not None:
            u.running.clear(reason)
        self.dispatch()

    def busy_units(self) -> list[Unit]:
        """Units holding at least one batch or task."""
        return [u for u in self.units if u.holders]
