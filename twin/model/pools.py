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

import heapq
from collections.abc import Callable

import simpy

from twin.core.record import PoolSpec  # noqa: F401  (re-exported for the model)
from twin.model.conditions import Condition

INF = float("inf")


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
    """A request for a unit; succeeds with the :class:`Unit` granted.

    ``crew``: for a device that must not stand loaded while its batch waits for an operator,
    the person the work on it needs at its start, as ``(desk, skill, hours)``: the request is
    granted only when a unit and such a person are free together, and ``staff`` is then the
    person's granted request (taken in the same instant)."""

    __slots__ = ("crew", "need_h", "seq", "skill", "staff", "unit")

    def __init__(self, env: simpy.Environment, skill: str | None, need_h: float, seq: int = 0) -> None:
        super().__init__(env)
        self.skill = skill
        self.need_h = need_h
        self.seq = seq  # arrival order in its pool
        self.unit: Unit | None = None
        self.crew: tuple[UnitPool, str, float] | None = None
        self.staff: Request | None = None


class _First(Request):
    """A request served ahead of the plain ones (see :meth:`UnitPool.request_first`)."""

    __slots__ = ()


LogFn = Callable[[Unit, str, str], None]  # (unit, kind "down"/"up", reason)


class UnitPool:
    """A first-come-first-served pool of units with availability (see the module docstring).

    The pool keeps the set of units that can take new work, updated at every change, so that a
    dispatch costs time in proportion to the units free and the requests served, not to the
    size of the pool."""

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
        self.watchers: list[UnitPool] = []  # pools with requests waiting for someone of this pool
        self.gated = 0  # requests in the queue that wait for a crew too
        self.avail: set[int] = {i for i, u in enumerate(units) if u.available()}
        self._pos = {id(u): i for i, u in enumerate(units)}
        # Pools of interchangeable units (devices, chairs, slots: no skills, no shifts) serve the
        # lowest free index from a heap (lazy deletion); people are matched by skill and shift.
        self.simple = all(u.skills is None for u in units)
        self._heap = sorted(self.avail)
        self._seq = 0
        # People: one first-come-first-served queue per skill; a dispatch serves, among the
        # skills someone free is qualified for, the earliest request that can be served.
        self.squeues: dict[str | None, list[Request]] = {}
        # People: the free ones qualified for each skill (a set, and a heap for the lowest).
        self._by_skill: dict[str, set[int]] = {}
        self._skill_heap: dict[str, list[int]] = {}
        for i, u in enumerate(units):
            for sk in u.skills or ():
                self._by_skill.setdefault(sk, set())
                self._skill_heap.setdefault(sk, [])
                if i in self.avail:
                    self._by_skill[sk].add(i)
                    heapq.heappush(self._skill_heap[sk], i)

    def _touch(self, u: Unit) -> None:
        """Record whether ``u`` can take new work after a change to it."""
        i = self._pos[id(u)]
        if u.available():
            if i not in self.avail:
                self.avail.add(i)
                if self.simple:
                    heapq.heappush(self._heap, i)
                else:
                    for sk in u.skills or ():
                        self._by_skill[sk].add(i)
                        heapq.heappush(self._skill_heap[sk], i)
        elif i in self.avail:
            self.avail.discard(i)
            for sk in u.skills or ():
                self._by_skill[sk].discard(i)

    # -- requests --------------------------------------------------------------------------
    def request(self, skill: str | None = None, need_h: float = 0.0) -> Request:
        """Join the queue; the request succeeds with a unit when one can take it."""
        self._seq += 1
        req = Request(self.env, skill, need_h, self._seq)
        if self.simple:
            self.queue.append(req)
        else:
            self.squeues.setdefault(skill, []).append(req)
        self.dispatch()
        return req

    def request_with(self, crew: tuple[UnitPool, str, float]) -> Request:
        """Join the queue for a unit and a person of ``crew`` = (desk, skill, hours) together
        (see :class:`Request`); the desk tells this pool when someone comes free."""
        self._seq += 1
        req = Request(self.env, None, 0.0, self._seq)
        req.crew = crew
        self.gated += 1
        if self not in crew[0].watchers:
            crew[0].watchers.append(self)
        self.queue.append(req)
        self.dispatch()
        return req

    def take_free(self, skill: str, need_h: float) -> Request | None:
        """A person qualified for ``skill`` whose shift lasts ``need_h`` more hours, taken now if
        one is free (people only), else None."""
        if not self.avail:
            return None
        idx = self._first_fit(skill, need_h, self.env.now, {})
        if idx < 0:
            return None
        return self._granted(skill, need_h, idx)

    def request_first(self) -> Request:
        """A request of a pool of interchangeable units (devices) that goes ahead of every
        waiting one, after earlier such requests (a rescue of a batch from a broken unit)."""
        self._seq += 1
        req = _First(self.env, None, 0.0, self._seq)
        ahead = 0
        while ahead < len(self.queue) and isinstance(self.queue[ahead], _First):
            ahead += 1
        self.queue.insert(ahead, req)
        self.dispatch()
        return req

    def take_now(self, skill: str | None = None, need_h: float = 0.0) -> Request | None:
        """A request granted on the spot, with no event scheduled, when :meth:`request` would
        grant it at once (nobody waiting, a unit free that can take it, the pool's conditions
        up); otherwise None, and the caller uses :meth:`request`. The unit chosen is the one
        :meth:`dispatch` would choose."""
        if not self.avail or self.waiting():
            return None
        for c in self.conditions:
            if c.reasons:
                return None
        if self.simple:
            heap = self._heap
            while heap[0] not in self.avail:  # stale entries
                heapq.heappop(heap)
            idx = heap[0]
        else:
            idx = self._first_fit(skill, need_h, self.env.now, {})
            if idx < 0:
                return None
        return self._granted(skill, need_h, idx)

    def _granted(self, skill: str | None, need_h: float, idx: int) -> Request:
        """A request for unit ``idx``, granted on the spot with no event scheduled."""
        self._seq += 1
        req = Request(self.env, skill, need_h, self._seq)
        u = self.units[idx]
        u.holders += 1
        req.unit = u
        req._ok, req._value, req.callbacks = True, u, None  # a processed, successful event
        self._touch(u)
        return req

    def cancel(self, req: Request) -> None:
        """Withdraw a request (not yet granted) from the queue."""
        q = self.queue if self.simple else self.squeues.get(req.skill, [])
        if req in q:
            q.remove(req)
            if req.crew is not None:
                self.gated -= 1

    def waiting(self) -> int:
        """Requests waiting."""
        return len(self.queue) if self.simple else sum(len(q) for q in self.squeues.values())

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
        self._touch(u)
        self.dispatch()

    def dispatch(self) -> None:
        """Grant waiting requests, first come first served, each to the lowest-numbered free
        unit that can take it (qualified for its skill, on shift long enough for its hours)."""
        if not self.avail:
            return
        for c in self.conditions:
            if c.reasons:
                return
        if self.simple:
            if self.gated:
                self._dispatch_gated()
            else:
                self._dispatch_simple()
        else:
            self._dispatch_people()
            for pool in self.watchers:
                if pool.gated:
                    pool.dispatch()

    def _first_fit(self, skill: str | None, need_h: float, now: float, latest: dict) -> int:
        """The lowest-numbered free person qualified for ``skill`` whose shift lasts ``need_h``
        more hours, or -1."""
        free = self.avail if skill is None else self._by_skill.get(skill)
        if not free:
            return -1
        units = self.units
        if skill is None:
            first = min(free)
        else:
            heap = self._skill_heap[skill]
            while heap[0] not in free:  # stale entries of people no longer free
                heapq.heappop(heap)
            first = heap[0]
        if units[first].shift_end - now >= need_h - 1e-9:
            return first
        end = latest.get(skill)
        if end is None:
            end = latest[skill] = max(units[k].shift_end for k in free)
        if end - now < need_h - 1e-9:
            return -1
        return min(k for k in free if units[k].shift_end - now >= need_h - 1e-9)

    def _dispatch_people(self) -> None:
        now = self.env.now
        latest: dict[str | None, float] = {}  # per skill: latest shift end of the free (this round)
        while self.avail:
            best: tuple[int, list[Request], int, int] | None = None  # (seq, queue, position, person)
            for skill, q in self.squeues.items():
                if not q or (skill is not None and not self._by_skill.get(skill)):
                    continue
                for pos, req in enumerate(q):
                    if best is not None and req.seq >= best[0]:
                        break
                    pick = self._first_fit(skill, req.need_h, now, latest)
                    if pick >= 0:
                        best = (req.seq, q, pos, pick)
                        break
            if best is None:
                return
            _, q, pos, pick = best
            req = q.pop(pos)
            u = self.units[pick]
            u.holders += 1
            req.unit = u
            req.succeed(u)
            self._touch(u)
            latest.clear()

    def _dispatch_gated(self) -> None:
        """First come first served, but a request that waits for a crew too is passed over while
        no one of it is free (it keeps its place; requests behind it may be served)."""
        heap, avail, units, queue = self._heap, self.avail, self.units, self.queue
        i = 0
        while i < len(queue) and avail:
            idx = heap[0]
            if idx not in avail:  # stale entry
                heapq.heappop(heap)
                continue
            req = queue[i]
            if req.crew is not None:
                desk, skill, hours = req.crew
                req.staff = desk.take_free(skill, hours)
                if req.staff is None:
                    i += 1
                    continue
                self.gated -= 1
            del queue[i]
            u = units[idx]
            u.holders += 1
            req.unit = u
            req.succeed(u)
            if not u.available():
                heapq.heappop(heap)
                avail.discard(idx)

    def _dispatch_simple(self) -> None:
        heap, avail, units, queue = self._heap, self.avail, self.units, self.queue
        if not queue:
            return
        while queue and avail:
            idx = heap[0]
            if idx not in avail:  # stale entry
                heapq.heappop(heap)
                continue
            u = units[idx]
            req = queue.pop(0)
            u.holders += 1
            req.unit = u
            req.succeed(u)
            if not u.available():
                heapq.heappop(heap)
                avail.discard(idx)

    # -- availability ----------------------------------------------------------------------
    def set_down(self, u: Unit, reason: str, hard: bool = False, duration: float | None = None) -> None:
        """Take ``u`` out of service for ``reason`` (for ``duration`` hours, or until
        :meth:`set_up`). Hard: now, stopping what is inside; soft: once the unit is empty."""
        if hard or u.holders == 0:
            self._take_down(u, reason, duration, hard)
        else:
            u.pending.append((reason, duration))
        self._touch(u)

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

    def set_up(self, u: Unit, reason: str, hard: bool = False, dispatch: bool = True) -> None:
        """Clear one hold of ``reason`` on ``u`` (or drop it if it was still pending); with
        ``dispatch=False`` the caller dispatches once after several changes."""
        for k, (r, _) in enumerate(u.pending):
            if r == reason:
                del u.pending[k]
                self._touch(u)
                if dispatch:
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
        self._touch(u)
        if dispatch:
            self.dispatch()

    def busy_units(self) -> list[Unit]:
        """Units holding at least one batch or task."""
        return [u for u in self.units if u.holders]
