"""The culture ticker: one SimPy process that advances every culture in every device each hour
with the numba kernel (:mod:`twin.kernel`) and triggers the events the journeys wait on.

A journey starts a culture with :meth:`Ticker.start` when the batch enters a culture step (a
recipe step with an ``end_point``) and waits on the returned event, which the ticker succeeds
with ``"target"`` (viable cells reached the end point's target), ``"max_length"`` (the step's
maximum culture time passed) or ``"removed"`` (the journey took the culture out). Each hour on
the clock the ticker sets every culture's conditions from the model's state, each condition for
what it physically does (see :class:`Chamber`): a device that stops (power lost where neither
UPS nor generator carries it, a breakdown, a device outage) loses heating, perfusion and gas
control (``powered = perfused = 0``); compressed air lost stops the pneumatic valves and pumps,
and a network stop pauses the process program, so only the feed stops (``perfused = 0``; the
chamber keeps its temperature and gas while powered); the site's CO2 lost lets the gas relax
(``co2_supply = 0``); grade and other conditions of the step do nothing to the chamber. Then it
advances all cultures of a device type in one kernel call. A culture started between two ticks
is first advanced alone to the next tick, so every culture's clock is exact.

The hourly tick is kept as the clock (a bare timeout each hour, so events at the same instant keep
their order), but the biology is advanced lazily, in the kernel (:func:`twin.kernel.compiled.
advance_hours`), hour by hour exactly as above: only up to the next hour in which a culture has
a check due or reaches its end point (found ahead on copies of the state), and whenever a
culture's conditions change, one starts or one is taken out (first through the hours already
ticked, with the conditions as they were). The state, checks and end points are therefore
bit-identical to advancing every hour.

In-process checks are sampled at each multiple of the check interval of culture age: a load at
or above the limit of detection is found unless the draw says false negative; the result is
known ``result_h`` later (see :class:`twin.scenario.biology.InProcessCheck`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

import numpy as np
import simpy

from twin.model.conditions import Condition

Proc = Generator[simpy.Event, Any, Any]


@dataclass(frozen=True)
class CultureSpec:
    """A culture to start: what is seeded, how it grows, what it aims for and how it is checked.

    Attributes:
        cells: viable cells seeded (cells).
        mu_per_h: growth rate (per hour).
        lag_h: lag before growth (h).
        capacity_cells: the device's capacity for one batch (cells).
        target_cells: viable cells at which the end point is reached (cells).
        contam_cfu: contaminant load seeded with the cells (CFU).
        doubling_contam_h: the contaminant's doubling time (h).
        max_h: the step's maximum culture length (h).
        check_every_h: hours between in-process checks, in culture age (inf: none).
        on_check: called with the contaminant load (CFU) at each check (None: no checks).
    """

    cells: float
    mu_per_h: float
    lag_h: float
    capacity_cells: float
    target_cells: float
    contam_cfu: float
    doubling_contam_h: float
    max_h: float
    check_every_h: float = math.inf
    on_check: Callable[[float], None] | None = None


@dataclass(frozen=True)
class Chamber:
    """What each condition a culture's device depends on does to its chamber (see the module
    docstring).

    Attributes:
        stops: conditions whose loss stops the whole device: heating, perfusion and gas control
            (``powered = perfused = 0``): the unit running, the site's power.
        unfed: conditions whose loss stops only the medium feed (``perfused = 0``): compressed
            air (pneumatic valves and pumps), the network for a device that stops without it
            (the process program pauses; chamber control goes on).
        co2: the site's CO2 supply (None: the device draws none); its loss lets the gas relax.
        on_co2_lost: called with the cause (``outage:LABEL``) each time the culture loses its
            CO2 supply (None: nobody is told), so the journey can log the damage.
    """

    stops: tuple[Condition, ...] = ()
    unfed: tuple[Condition, ...] = ()
    co2: Condition | None = None
    on_co2_lost: Callable[[str], None] | None = None

    def conditions(self) -> list[Condition]:
        """Every condition that changes the chamber."""
        return [*self.stops, *self.unfed, *([self.co2] if self.co2 is not None else [])]


@dataclass
class Culture:
    """Bookkeeping for one culture: where its state lives and what to tell whom."""

    pid: int
    group: str  # the device type (one kernel call per type)
    slot: int
    done: simpy.Event
    gates: list[Condition]  # what must be up for the step to progress (the journey pauses on them)
    chamber: Chamber  # what each condition does to the chamber
    max_h: float
    check_every_h: float  # inf: no in-process checks
    on_check: Callable[[float], None] | None  # called with the contaminant load at each check
    started_at: float = 0.0  # hours; advanced alone up to the first tick after it


LOOK_AHEAD_H = 48
"""Hours the ticker looks ahead for the next check or end point (a longer look saves wake-ups
where nothing happens; a shorter one wastes less when conditions change; assumption, measured on
the bundled centralised year)."""


class Ticker:
    """All cultures of one replication (see the module docstring)."""

    def __init__(self, env: simpy.Environment, params_by_group: dict[str, Any]) -> None:
        from twin.kernel.compiled import advance_hours  # numba: imported only by scenarios that culture
        from twin.kernel.cultures import Cultures

        self.advance_hours = advance_hours
        self.env = env
        self.groups = {g: Cultures(capacity=16, params=p) for g, p in params_by_group.items()}
        self.cultures: dict[tuple[str, int], Culture] = {}
        # Per group and slot: maximum culture hours, in-process check interval (inf: none),
        # whether the end event has fired, and the last hour (ending at that tick) in which the
        # slot is not advanced (it started during that hour); sized with the group's arrays.
        self.max_h = {g: np.full(16, np.inf) for g in self.groups}
        self.every = {g: np.full(16, np.inf) for g in self.groups}
        self.ended = {g: np.ones(16, dtype=bool) for g in self.groups}
        self.from_h = {g: np.full(16, -np.inf) for g in self.groups}
        # condition id -> cultures it affects, in the order they started watching it (a dict, not a
        # set: a set of str keys iterates in an order that changes with PYTHONHASHSEED, and so would
        # the order of the rows those cultures log at one instant)
        self.dependents: dict[int, dict[tuple[str, int], None]] = {}
        self.ticked = -math.inf  # the hour of the last tick
        self.done_h = -math.inf  # the hour through which every culture's state is advanced
        self.due: float | None = None  # the next tick with something to fire (None: look again)
        self._wake: simpy.Event | None = None
        env.process(self._run())

    # -- journeys' side ------------------------------------------------------------------------
    def start(self, pid: int, group: str, spec: CultureSpec, gates: list[Condition], chamber: Chamber) -> Culture:
        """Start patient ``pid``'s culture ``spec`` now in a device of type ``group``; the step
        progresses while every one of ``gates`` is up, and ``chamber`` says what each condition
        does to the culture's chamber; returns its :class:`Culture` (wait on ``.done``)."""
        now = self.env.now
        if not self.cultures:  # the ticker sleeps: its next tick is the first hour after now
            self.ticked = self.done_h = float(math.ceil(now + 1e-12) - 1)
        self._catch_up()
        cul = self.groups[group]
        slot = cul.add(spec.cells, spec.mu_per_h, spec.lag_h, spec.capacity_cells, spec.doubling_contam_h,
                       contam=spec.contam_cfu, target_cells=spec.target_cells)
        max_h, check_every_h, on_check = spec.max_h, spec.check_every_h, spec.on_check
        if slot >= len(self.max_h[group]):
            n = len(cul.cells)
            for arrs, fill in ((self.max_h, np.inf), (self.every, np.inf), (self.ended, True),
                               (self.from_h, -np.inf)):
                grown = np.full(n, fill, dtype=arrs[group].dtype)
                grown[: len(arrs[group])] = arrs[group]
                arrs[group] = grown
        self.max_h[group][slot] = max_h
        self.every[group][slot] = check_every_h if on_check is not None else np.inf
        self.ended[group][slot] = False
        # Not advanced in the hours whose tick is less than an hour after the start (the start
        # already takes it to the next tick).
        first = float(math.ceil(now - 1e-9))
        while not now > first - 1.0 + 1e-9:
            first -= 1.0
        while now > first + 1e-9:
            first += 1.0
        self.from_h[group][slot] = first
        c = Culture(pid, group, slot, self.env.event(), gates, chamber, max_h, check_every_h, on_check, now)
        self.cultures[(group, slot)] = c
        self._watch(c)
        self._set_env(c)
        lead = math.ceil(now) - now  # hours to the next tick
        if lead > 1e-12:
            self._advance_one(c, lead)
        self.due = None
        if self._wake is not None and not self._wake.triggered:
            self._wake.succeed()
        return c

    def move(self, c: Culture, gates: list[Condition], chamber: Chamber) -> None:
        """Culture ``c`` moved to another device unit of its type (a rescue): from now on the
        step progresses while ``gates`` are up and ``chamber`` says what each condition does to
        it; its cells and clock go on where they were."""
        self._unwatch(c)
        c.gates, c.chamber = gates, chamber
        self._watch(c)
        self._set_env(c)

    def state(self, c: Culture) -> dict[str, float]:
        """The culture's state now (as of the last tick): cells, dead, contam, age_h, stress_h,
        viability."""
        self._catch_up()
        cul = self.groups[c.group]
        s = {k: float(getattr(cul, k)[c.slot]) for k in ("cells", "dead", "contam", "age_h", "stress_h")}
        total = s["cells"] + s["dead"]
        s["viability"] = s["cells"] / total if total > 0 else 0.0
        return s

    def remove(self, c: Culture) -> dict[str, float]:
        """Take the culture out (harvest or loss); returns its final state."""
        s = self.state(c)
        self.groups[c.group].remove(c.slot)
        self.ended[c.group][c.slot] = True
        self.from_h[c.group][c.slot] = -np.inf
        del self.cultures[(c.group, c.slot)]
        self._unwatch(c)
        self.due = None
        if not c.done.triggered:
            c.done.succeed("removed")
        return s
    # -- conditions ------------------------------------------------------------------------------
    def _watch(self, c: Culture) -> None:
        """Refresh ``c``'s chamber whenever one of its conditions changes."""
        for cond in dict.fromkeys([*c.gates, *c.chamber.conditions()]):
            key = id(cond)
            deps = self.dependents.get(key)
            if deps is None:
                deps = self.dependents[key] = {}
                cond.on_change.append(self._refresher(key))
            deps[(c.group, c.slot)] = None

    def _unwatch(self, c: Culture) -> None:
        for cond in dict.fromkeys([*c.gates, *c.chamber.conditions()]):
            self.dependents[id(cond)].pop((c.group, c.slot), None)

    def _refresher(self, key: int) -> Callable[[bool], None]:
        return lambda _up: self._refresh(key)

    def _refresh(self, key: int) -> None:
        for ref in list(self.dependents.get(key, ())):
            c = self.cultures.get(ref)
            if c is not None:
                self._set_env(c)

    def _set_env(self, c: Culture) -> None:
        cul, ch, slot = self.groups[c.group], c.chamber, c.slot
        powered = all(not g.reasons for g in ch.stops)
        perfused = 1 if powered and all(not g.reasons for g in ch.unfed) else 0
        co2 = 1 if (ch.co2 is None or not ch.co2.reasons) else 0
        if cul.powered[slot] == powered and cul.perfused[slot] == perfused and cul.co2_supply[slot] == co2:
            return
        self._catch_up()  # the hours already ticked had the old conditions
        self.due = None
        cul.powered[slot] = 1 if powered else 0
        cul.perfused[slot] = perfused
        if cul.co2_supply[slot] and not co2 and ch.on_co2_lost is not None and ch.co2 is not None:
            ch.on_co2_lost(ch.co2.cause())
        cul.co2_supply[slot] = co2

    # -- advancing -------------------------------------------------------------------------------
    def _advance_one(self, c: Culture, hours: float) -> None:
        cul, g = self.groups[c.group], c.group
        i = slice(c.slot, c.slot + 1)
        before = cul.age_h[i].copy()
        # One step of ``hours`` (as advance(hours)); first hour inf: the slot is not held back.
        self.advance_hours(1, math.inf, float(hours), *(getattr(cul, n)[i] for n in cul.STATE + cul.PARAMS[:4] + cul.ENV),
                           cul.params_vec, cul.target_cells[i], self.from_h[g][i], self.every[g][i], self.max_h[g][i],
                           self.ended[g][i], cul.active[i], np.empty(1))
        self._after(c.group, np.array([c.slot]), before)

    def _after(self, group: str, slots: np.ndarray, age_before: np.ndarray) -> None:
        """Fire the in-process checks that fell due and the end points reached, for ``slots``
        advanced from ``age_before``."""
        cul = self.groups[group]
        age = cul.age_h[slots]
        every = self.every[group][slots]
        due = np.isfinite(every) & (np.floor(age / every + 1e-9) > np.floor(age_before / every + 1e-9))
        for k in np.nonzero(due)[0]:
            c = self.cultures[(group, int(slots[k]))]
            if c.on_check is not None:
                c.on_check(float(cul.contam[c.slot]))
        ended = self.ended[group][slots]
        hit = ~ended & ((cul.cells[slots] >= cul.target_cells[slots]) | (age >= self.max_h[group][slots] - 1e-9))
        for k in np.nonzero(hit)[0]:
            slot = int(slots[k])
            self.ended[group][slot] = True
            self.cultures[(group, slot)].done.succeed(
                "target" if cul.cells[slot] >= cul.target_cells[slot] else "max_length")

    def _hours(self, group: str, state: list[np.ndarray], n_hours: int, first: float) -> tuple[int, bool, np.ndarray]:
        """Advance ``state`` (the group's state arrays, in ``Cultures.STATE`` order) hour by hour
        from the hour ending at ``first``, at most ``n_hours``, to the first hour that fires;
        returns the hours advanced, whether the last one fired, and the ages before it."""
        cul, h = self.groups[group], self.groups[group].high
        before = np.empty(h)
        k, fired = self.advance_hours(
            n_hours, first, 1.0, *state, *(getattr(cul, n)[:h] for n in cul.PARAMS[:4] + cul.ENV), cul.params_vec,
            cul.target_cells[:h], self.from_h[group][:h], self.every[group][:h], self.max_h[group][:h],
            self.ended[group][:h], cul.active[:h], before)
        return k, fired, before

    def _catch_up(self) -> None:
        """Advance every culture through the hours already ticked, firing what falls due."""
        upto = self.ticked
        if not upto > self.done_h:
            return
        start = self.done_h
        self.done_h = upto
        for group, cul in self.groups.items():
            done = start
            while cul.high and done < upto:
                h = cul.high
                k, fired, before = self._hours(group, [getattr(cul, n)[:h] for n in cul.STATE], int(upto - done),
                                               done + 1.0)
                done += k
                if fired:
                    live = np.nonzero(cul.active[:h] & (self.from_h[group][:h] < done))[0]
                    self._after(group, live, before[live])

    def _look(self) -> float:
        """The next tick at which a check falls due or a culture reaches its end point (or the
        end of the look-ahead), found on copies of the state with the conditions as they are."""
        due = self.done_h + LOOK_AHEAD_H
        for group, cul in self.groups.items():
            h = cul.high
            if h == 0:
                continue
            k, fired, _ = self._hours(group, [getattr(cul, n)[:h].copy() for n in cul.STATE],
                                      int(due - self.done_h), self.done_h + 1.0)
            if fired:
                due = self.done_h + k
        return due

    def _run(self) -> Proc:
        env = self.env
        while True:
            if not self.cultures:
                self._wake = env.event()
                yield self._wake
                self._wake = None
            step = math.ceil(env.now + 1e-12) - env.now
            yield env.timeout(step if step > 1e-12 else 1.0)
            self.ticked = float(round(env.now))
            if self.due is None:
                self.due = self._look()
            if self.ticked >= self.due:
                self._catch_up()
                self.due = None
