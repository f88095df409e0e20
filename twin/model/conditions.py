"""A condition: something that is up or down for reasons (a site's power, a unit's running state).

Several reasons may hold a condition down at once (two overlapping outages); it is up when none
does. Processes wait on :meth:`Condition.when_up` / :meth:`Condition.when_down`; pools register
callbacks to re-dispatch when a condition comes back.
"""

from __future__ import annotations

from collections.abc import Callable

import simpy


class Condition:
    """Up unless some reason holds it down (reasons are reference-counted)."""

    __slots__ = ("_down_watch", "_up_ev", "env", "name", "on_change", "reasons", "since")

    def __init__(self, env: simpy.Environment, name: str) -> None:
        self.env = env
        self.name = name
        self.reasons: dict[str, int] = {}
        self._up_ev: simpy.Event | None = None
        # One event per waiter for the next down (see when_down), in the order they were asked.
        self._down_watch: dict[int, simpy.Event] = {}
        self.on_change: list[Callable[[bool], None]] = []  # called with the new state (True = up)
        self.since = 0.0  # when the state last changed (hours)

    @property
    def up(self) -> bool:
        """True when no reason holds the condition down."""
        return not self.reasons

    def cause(self) -> str:
        """The reason holding it down (the first one, by insertion), or ""."""
        return next(iter(self.reasons), "")

    def down(self, reason: str) -> None:
        """Add ``reason``; the condition goes down if it was up."""
        was_up = not self.reasons
        self.reasons[reason] = self.reasons.get(reason, 0) + 1
        if was_up:
            self.since = self.env.now
            watch, self._down_watch = self._down_watch, {}
            for ev in watch.values():
                ev.succeed(reason)
            for fn in list(self.on_change):
                fn(False)

    def clear(self, reason: str) -> None:
        """Remove one hold of ``reason``; the condition comes up when none is left."""
        n = self.reasons.get(reason, 0)
        if n <= 1:
            self.reasons.pop(reason, None)
        else:
            self.reasons[reason] = n - 1
        if n and not self.reasons:
            self.since = self.env.now
            ev, self._up_ev = self._up_ev, None
            if ev is not None:
                ev.succeed()
            for fn in list(self.on_change):
                fn(True)

    def when_up(self) -> simpy.Event:
        """An event that fires when the condition next comes up (at once if it is up)."""
        if not self.reasons:
            ev = self.env.event()
            ev.succeed()
            return ev
        if self._up_ev is None:
            self._up_ev = self.env.event()
        return self._up_ev

    def when_down(self) -> simpy.Event:
        """An event that fires when the condition next goes down (value: the reason).

        Each call gets its own event; a waiter that stops waiting for other reasons hands it
        back with :meth:`forget`. (One event shared by all waiters would make every waiter that
        leaves scan the others' callbacks: quadratic in the batches in progress, measured as the
        largest single cost of a busy factory.) Events fire in the order they were asked for,
        which is the order a shared event would have called its waiters back."""
        ev = self.env.event()
        self._down_watch[id(ev)] = ev
        return ev

    def forget(self, ev: simpy.Event) -> None:
        """Stop watching for ``ev`` (from :meth:`when_down`); nothing if it already fired."""
        self._down_watch.pop(id(ev), None)


def all_up(conds: list[Condition]) -> bool:
    """Whether every condition in ``conds`` is up."""
    return all(not c.reasons for c in conds)


def first_down(conds: list[Condition]) -> Condition | None:
    """The first condition in ``conds`` that is down, or None."""
    for c in conds:
        if c.reasons:
            return c
    return None


def all_down(conds: list[Condition]) -> list[Condition]:
    """Every condition in ``conds`` that is down, in order."""
    return [c for c in conds if c.reasons]


def when_any_changes(conds: list[Condition]) -> tuple[list[simpy.Event], list[Condition], list[simpy.Event]]:
    """Events for the next change of any of ``conds``: (all events to wait on, the conditions that
    were up, their :meth:`Condition.when_down` events, to hand back with :func:`forget`)."""
    ups = [c for c in conds if not c.reasons]
    downs = [c.when_down() for c in ups]
    return [*(c.when_up() for c in conds if c.reasons), *downs], ups, downs


def forget(conds: list[Condition], events: list[simpy.Event]) -> None:
    """Hand back the :meth:`Condition.when_down` events of ``conds`` (pairwise) after a wait."""
    for c, ev in zip(conds, events):
        c.forget(ev)
