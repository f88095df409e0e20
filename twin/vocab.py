"""Shared vocabulary of the event log, used by the model (writing) and the tables (reading)."""

KINDS = (
    "referral",  # patient referred to the hospital
    "queue",  # starts waiting for a unit of `resource`
    "seize",  # holds unit `unit` of `resource`
    "release",  # lets it go
    "renege",  # stops waiting for `resource` (dropped out while queued)
    "step_start",  # a journey step begins (transits and holds included)
    "step_end",  # ... and ends
    "qc_result",  # one QC test's result (detail: pass | fail)
    "dropout",  # patient drops out while waiting
    "outcome",  # final outcome (detail: infused | failed | dropped_out | lost; step: cause)
)

OUTCOMES = ("infused", "failed", "dropped_out", "lost")
"""Final outcomes; a patient with none at the horizon is ``in_progress``."""
