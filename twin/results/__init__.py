"""Tidy tables and KPIs computed from the event log (the single source of truth).

The model hands over a :class:`twin.core.record.ReplicationRecord` (plain data, no SimPy);
:func:`twin.results.collect.replication_tables` turns it into the tables below
(:mod:`~twin.results.tables`) and the KPIs (:mod:`~twin.results.kpis`), all computed on the log's
column arrays (:mod:`~twin.results.columns`); :func:`twin.results.collect.replication_kpis` gives
the same KPIs without building the event-log table (what a sweep keeps);
:mod:`~twin.results.stats` summarises KPIs over replications.

Tables (one row per ...):

* ``events``: event (columns in :mod:`twin.model.eventlog`) + ``replication``.
* ``batches``: patient per replication: ``referral_h``, ``hospital``, ``made_at`` (the
  manufacturing site, once the product arrived there), every milestone as ``<step>_start_h`` /
  ``<step>_end_h``, ``outcome`` (infused, failed, dropped_out, lost, in_progress), ``cause``,
  ``outcome_h``, ``vein_to_vein_days`` (apheresis start to infusion start), ``time_in_system_h``
  (referral to outcome, or to the horizon), ``in_window`` (referred after warm-up),
  ``paused_h`` (hours its steps were stopped), ``harvest_cells``, ``harvest_viability``,
  ``harvest_contam_cfu`` and ``culture_h`` (at the end of its last culture, NaN without a
  culture model) and ``contaminated`` (organisms got in, detected or not).
* ``resources``: pool per replication: site, name, kind, units, slots per unit, capacity,
  ``on_duty_h`` (unit-hours in the window the units could work: not off shift, absent, vacant,
  in training, broken, in maintenance or changeover, or out in an outage) and ``held_h``.
* ``outages``: outage occurrence per replication: ``label``, ``site``, ``what`` (power, co2,
  ..., a device pool or a staff role), ``start_h``, ``end_h``, ``backup`` (what carried the load,
  e.g. ``ups+generator``), ``backup_h`` (hours the backups carried it), ``lost_h`` (hours the
  thing itself was actually lost; unit-hours for device and staff outages), ``knock_on`` (other
  site conditions it took down, e.g. ``grade 26.8 h`` after a blackout), ``batches_hit`` (patients paused, damaged, lost or
  failed by it at its site) and ``patients`` (their ids, comma separated). An HVAC outage's
  ``lost_h`` is the hours the air handling was lost.
* ``impacts``: one row per effect on a batch: replication, patient, ``site`` (where it
  happened), step, ``cause`` (an outage's label, ``breakdown``, ``contamination``, ``leak``,
  ...), ``effect`` (``pause``, ``lost``, ``failed``, ``damage``: e.g. a culture that lost its
  CO2 supply in an outage), ``time_h`` (when it happened) and ``hours`` (pause length; else 0).
  A batch lost because a stop outlasted its unit's tolerance (LN2 storage warming up,
  ``storage:stopped_LABEL``) is filed under the outage ``LABEL``.
* ``kpis``: (replication, kpi, value), long form.

KPI names: referred, infused, failed, dropped_out, lost, in_progress, resolved (patients; resolved
= referred - in_progress, those with an outcome by the horizon),
{infused,dropped_out,failed,lost}_fraction_of_resolved (of the resolved patients: one still in
progress has no outcome yet; formerly ``dropped_out_fraction`` and ``failed_fraction`` divided by
all referred), vein_to_vein_{median,p90,mean}_days,
throughput_per_year, mean_wip, utilisation.<kind>.<site>.<pool> (fraction) and
wait_h_mean.<kind>.<site>.<pool> (hours from joining a pool's queue to being given a unit, over
the requests made in the window and granted before the horizon; reneged requests are left out).

KPIs are measured over the window [warm-up, horizon): counts are of patients *referred* in the
window; throughput counts infusions *in* the window; utilisation is held on-duty unit-hours in
the window over on-duty unit-hours (slots x hours a unit could work; a batch held in a broken
unit is not busy); mean WIP is the time-average number of patients between referral and outcome.

Over replications (:mod:`~twin.results.stats`): the mean and a 95% interval that respects each
KPI's bounds: logit-scale t for fractions (utilisation, availability, ``*_fraction_of_*``, mean
viability), square-root-scale t for patient counts, log-scale t for the non-negative rest
(days, hours, costs), a ``constant``
flag (and no interval) where every replication gave the same value, and a warning where the
replications are too few (under 5) or the half-width exceeds the mean.
"""
