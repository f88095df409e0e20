"""Hold clocks: material's time between two steps (see :mod:`twin.scenario.holds`).

A hold opens when its ``from`` step ends and closes when its ``to`` step starts, or when any
later step of the journey starts (so a step a batch skips, such as a courier at a point-of-care
cell, cannot leave a clock running). While it runs, a hold with ``on_exceed: lost`` has a
watcher that loses the batch the moment the limit passes. When it closes, the viable cells it
cost (``viability_loss_per_h`` over the whole hold, ``exceeded_loss_per_h`` past the limit) are
taken off the material and logged as a ``damage`` event (detail ``hold:NAME``, value: the
fraction of viable cells lost).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from twin.scenario.document import Scenario
    from twin.scenario.holds import Hold


@dataclass(frozen=True)
class HoldPlan:
    """Which holds open at the end of each step, and each step's place in the journey."""

    opens: dict[str, list[Hold]]
    index: dict[str, int]

    @classmethod
    def of(cls, sc: Scenario) -> HoldPlan | None:
        """The plan of ``sc``'s holds; None when it has none (nothing to do at step edges)."""
        holds = sc.effective_holds()
        if not holds:
            return None
        opens: dict[str, list[Hold]] = {}
        for h in holds:
            opens.setdefault(h.from_, []).append(h)
        return cls(opens, {s: i for i, s in enumerate(sc.journey_steps())})

    def closes_at(self, hold: Hold, step: str) -> bool:
        """Whether ``step`` starting stops ``hold``'s clock (it is the hold's end or comes after it)."""
        k = self.index.get(step)
        return k is not None and k >= self.index[hold.to]


def kept_fraction(hold: Hold, held_h: float) -> float:
    """The fraction of viable cells the material keeps after ``held_h`` hours on ``hold``."""
    rate = hold.viability_loss_per_h * held_h
    if hold.on_exceed == "degrade":
        rate += hold.exceeded_loss_per_h * max(0.0, held_h - hold.limit_h)
    return math.exp(-rate)
