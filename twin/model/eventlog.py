"""The event log: the single source of truth of a run.

One row per event, kept as plain column lists while the simulation runs (cheap to append) and
turned into a table by :mod:`twin.results`. Columns:

=========  ======  =============================================================================
column     type    meaning
=========  ======  =============================================================================
time_h     float   simulation time (hours from the scenario start date, 00:00)
patient    int     patient (= batch) id, in referral order from 0
site       str     site where it happens
step       str     journey step (``apheresis``, a recipe step, ``qc:sterility``, ...) or ""
resource   str     pool seized/released, courier lane, or ""
unit       int     unit (device, chair, person) index within the pool; -1 when not a unit
kind       str     one of :data:`KINDS`
detail     str     free detail: QC pass/fail, outcome name, processing mode, a stop's cause
value      float   a measured quantity (``measure`` events: ``resource`` names it), else NaN
=========  ======  =============================================================================
"""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass
from operator import itemgetter

from twin.core.vocab import KINDS, OUTCOMES  # noqa: F401  (re-exported)

NAN = float("nan")


COLUMNS = ("time_h", "patient", "site", "step", "resource", "unit", "kind", "detail", "value")
"""The log's columns, in the order of a row."""


@dataclass(frozen=True, slots=True)
class LogRow:
    """One event, by column (see the module docstring): when, where and what kind, then by
    name only the columns it has (a facility event has patient -1; no unit is -1)."""

    time_h: float
    site: str
    kind: str
    _: KW_ONLY
    patient: int = -1
    step: str = ""
    resource: str = ""
    unit: int = -1
    detail: str = ""
    value: float = NAN

    def as_tuple(self) -> tuple:
        """The row in the order of :data:`COLUMNS`."""
        return (self.time_h, self.patient, self.site, self.step, self.resource, self.unit, self.kind, self.detail,
                self.value)


class EventLog:
    """Append-only store of events: one tuple per event while the simulation runs (a single
    list append, the cheapest thing Python offers), turned into columns once at the end."""

    __slots__ = ("rows",)

    def __init__(self) -> None:
        self.rows: list[tuple] = []

    def add(self, row: LogRow) -> None:
        """Append one event (a journey's own events go straight to :attr:`rows`, see
        :meth:`twin.model.steps.StepRunner.log`)."""
        self.rows.append(row.as_tuple())

    def __len__(self) -> int:
        return len(self.rows)

    def columns(self) -> dict[str, list]:
        """The log as a dict of equal-length column lists."""
        rows = self.rows
        return {col: list(map(itemgetter(i), rows)) for i, col in enumerate(COLUMNS)}
