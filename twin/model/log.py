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
detail     str     free detail: QC pass/fail, outcome name, processing mode
=========  ======  =============================================================================
"""

from __future__ import annotations

from twin.vocab import KINDS, OUTCOMES  # noqa: F401  (re-exported)


COLUMNS = ("time_h", "patient", "site", "step", "resource", "unit", "kind", "detail")


class EventLog:
    """Append-only store of events: one tuple per event (one list append, the cheapest thing
    to do on the hot path), transposed into columns once at the end."""

    __slots__ = ("rows",)

    def __init__(self) -> None:
        self.rows: list[tuple] = []

    def add(
        self,
        time_h: float,
        patient: int,
        site: str,
        step: str,
        resource: str,
        unit: int,
        kind: str,
        detail: str = "",
    ) -> None:
        """Append one event (see the module docstring for the columns)."""
        self.rows.append((time_h, patient, site, step, resource, unit, kind, detail))

    def __len__(self) -> int:
        return len(self.rows)

    def columns(self) -> dict[str, list]:
        """The log as a dict of equal-length column lists."""
        if not self.rows:
            return {c: [] for c in COLUMNS}
        return {c: list(v) for c, v in zip(COLUMNS, zip(*self.rows))}
