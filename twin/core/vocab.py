"""Shared vocabulary of the event log, used by the model (writing) and the tables (reading)."""

KINDS = (
    "referral",  # patient referred to the hospital
    "queue",  # starts waiting for a unit of `resource`
    "seize",  # holds unit `unit` of `resource`
    "release",  # lets it go
    "renege",  # stops waiting for `resource` (dropped out while queued)
    "step_start",  # a journey step begins (transits and holds included)
    "step_end",  # ... and ends
    "leg_start",  # one leg of a shipment along a route begins (site: the leg's origin; resource: its lane A->B)
    "leg_end",  # ... and arrives (site: the leg's destination)
    "pause",  # a step stops: something it needs is down (detail: the cause)
    "resume",  # ... and goes on
    "damage",  # contamination or a leak (detail)
    "measure",  # a quantity at a culture's end (resource: cells, viability, contam_cfu, culture_h; value)
    "qc_result",  # one QC test's result (detail: pass | fail)
    "dropout",  # patient drops out while waiting
    "outcome",  # final outcome (detail: one of OUTCOMES; step: cause); one per patient
    "booked",  # slot booked (site: manufacturing site; resource: first device type; value: planned start h; detail: plan)
    "rebooked",  # the plan changed (value: the new planned start h; detail: the cause, e.g. breakdown, late_material)
    "remanufacture",  # a failed or lost attempt is made again (step: its cause; detail: backup_aliquot | new_apheresis)
    "infusion_booked",  # the hospital books the infusion (site: hospital; value: planned start hour; detail: first lymphodepletion hour)
    "infusion_rebooked",  # the infusion moves (value: the new start hour; detail: late_arrival | clinic_closed)
    # patient -1: the facility
    "down",  # a unit or site condition goes out of service (detail: reason)
    "up",  # ... and comes back
    "outage_start",  # an outage begins (resource: what; detail: its label)
    "outage_end",
    "backup_start",  # a backup carries the load (resource: ups, generator, ...; detail: label)
    "backup_end",
    "backup_failed",  # a generator fails to start
    "commission_start",  # a team starts installing and qualifying a planned unit (resource: device type or `site`; detail: plan label)
    "commission_end",  # ... and it is in service
)

OUTCOMES = ("infused", "failed", "dropped_out", "lost", "infused_out_of_spec")
"""Final outcomes; a patient with none at the horizon is ``in_progress``."""

CHAIRS = "apheresis_chair"
"""Pool name of a hospital's apheresis chairs (in the event log's ``resource`` column)."""
SLOTS = "infusion_slot"
"""Pool name of a hospital's infusion slots."""

SITE_CONDITIONS = ("power", "co2", "o2", "compressed_air", "ln2", "it", "air", "grade")
"""Conditions of a site that can be lost (``down``/``up`` events with unit -1): the utilities, the
IT/MES system, cleanroom air handling and cleanroom grade."""
