"""How much work a scenario is, known before anything runs, and the limits on it.

The twin keeps every event of every replication in memory until the run folder is written, so a
scenario with 100,000 referrals a week for 100 years would run for days and then run out of
memory. :func:`estimate` gives the patients and events of one replication from the referral rate
(or times) and the horizon; :func:`check_work` refuses a run or sweep over the limits below with
the estimate in the message, unless the user passes ``--allow-large``.
"""

from __future__ import annotations

from dataclasses import dataclass

from twin.core.errors import ScenarioError
from twin.core.units import HOURS_PER_DAY
from twin.scenario.document import Scenario

EVENTS_PER_STEP = 14.0
"""Events logged per patient per process step (assumption, measured: ``centralised.yaml`` logs
43,272 events for 308 patients over its 5 recipe steps and 5 fixed stages, 14 per step)."""

FIXED_STAGES = 5
"""Stages every patient goes through besides the recipe: apheresis, receipt, cryopreservation,
QC and release, infusion (the journey in :mod:`twin.model.journey`)."""

MAX_RUN_EVENTS = 20_000_000
"""Most events one ``twin run`` (all replications) or one sweep task may log without
``--allow-large`` (assumption: ~2-4 GB of memory and about an hour on one core; the bundled
scenarios log at most ~250,000)."""

MAX_SWEEP_POINTS = 20_000
"""Most points a sweep may expand to without ``--allow-large`` (assumption: each point's scenario
is validated before anything runs, ~3 ms each, so a minute of checking)."""

MAX_SWEEP_TASKS = 100_000
"""Most scenarios (points x replications) a sweep may run without ``--allow-large`` (assumption:
a night on 32 cores at ~10 s a task)."""


@dataclass(frozen=True)
class Work:
    """The size of one replication: ``patients`` referred within the horizon and ``events`` logged."""

    patients: float
    events: float

    def text(self, replications: int = 1) -> str:
        """``"~1,234 patients x ~140 events each x 5 replications = ~863,800 events"``."""
        per = self.events / self.patients if self.patients else 0.0
        reps = f" x {replications:,} replications" if replications != 1 else ""
        return (f"~{self.patients:,.0f} patients x ~{per:,.0f} events each{reps} = "
                f"~{self.events * replications:,.0f} events")


def estimate(sc: Scenario) -> Work:
    """Patients referred in one replication (rate x horizon, or the times before the horizon) and
    the events they log (:data:`EVENTS_PER_STEP` per recipe step and fixed stage)."""
    horizon_h = sc.horizon_days * HOURS_PER_DAY
    ref = sc.referrals
    if ref.times_h is not None:
        patients = float(sum(1 for t in ref.times_h if t < horizon_h))
    else:
        patients = ref.mean_rate_per_week(sc.start_date, sc.horizon_h) * sc.horizon_days / 7.0
    return Work(patients, patients * EVENTS_PER_STEP * (len(sc.recipe) + FIXED_STAGES))


def check_work(sc: Scenario, replications: int, source: str, allow_large: bool = False) -> Work:
    """The estimate of ``replications`` replications of ``sc``; over :data:`MAX_RUN_EVENTS` (and
    not ``allow_large``) a :class:`ScenarioError` naming ``source`` and the estimate."""
    work = estimate(sc)
    if not allow_large and work.events * replications > MAX_RUN_EVENTS:
        raise ScenarioError(
            f"this run is too large: {work.text(replications)} (from the referral rate or times and "
            f"horizon_days {sc.horizon_days:g}); the limit is {MAX_RUN_EVENTS:,} events, as every event is kept in "
            f"memory. Shorten the horizon, lower the demand or the replications, or pass --allow-large to run it anyway",
            file=source,
        )
    return work
