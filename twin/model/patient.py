"""A patient and their batch: one id for both (chain of identity)."""

from __future__ import annotations

from typing import Any

import simpy


class Patient:
    """A patient and their batch (one id for both; chain of identity).

    ``contam_cfu``: contaminants in the batch (colony-forming units; 0 = sterile).
    ``cells``: fraction of the batch's cells kept through connections and leaks since the last
    culture ended (or since collection): 1 = none lost.
    ``viable``, ``viability``: viable cells and viability at the end of the last culture (None
    before any). ``fail_ev`` / ``fail_cause``: a failure found while the batch moves on (an
    in-process check's positive result). ``stop_ev``: succeeds when the batch must stop at
    once, wherever it is (its outcome is recorded: a drop-out that ends the batch, a hold
    exceeded, a failure); every wait of the journey's processes includes it. ``holds``: the
    hold clocks running now, ``(hold, started_h)`` (see :mod:`twin.model.clocks`).
    ``culture``: ``(site, step, culture)`` of a culture that reached its end point and is still in
    its device (and the kernel) until the next step starts on the cells; else None.
    ``attempt``: how many times the batch has been made again (0: the first attempt); ``aliquot``:
    whether a backup aliquot is kept and unused (None: not yet drawn); ``next``: the patient's
    next attempt once this one failed and is made again (the drop-out follows it);
    ``out_of_spec``: the product failed a measured QC spec and goes on to infusion by exception.
    """

    __slots__ = ("aliquot", "attempt", "cells", "contam_cfu", "culture", "done", "dropped", "dropped_ev", "fail_cause", "fail_ev", "holds", "hospital",
                 "next", "out_of_spec", "pid", "stop_ev", "viability", "viable", "waiting")

    def __init__(self, pid: int, hospital: str, dropped_ev: simpy.Event, stop_ev: simpy.Event) -> None:
        self.pid = pid
        self.hospital = hospital
        self.dropped = False
        self.dropped_ev = dropped_ev
        self.done = False
        self.waiting = True  # drop-out can happen until infusion starts
        self.contam_cfu = 0.0
        self.cells = 1.0
        self.viable: float | None = None
        self.viability: float | None = None
        self.fail_ev: simpy.Event | None = None
        self.fail_cause = ""
        self.stop_ev = stop_ev
        self.holds: list[tuple[Any, float]] = []
        self.culture: tuple[str, Any, Any] | None = None
        self.attempt = 0
        self.aliquot: bool | None = None
        self.next: Patient | None = None
        self.out_of_spec = False
