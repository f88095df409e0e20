"""The input language: what a user writes in YAML, validated with pydantic (no SimPy, no numba).

Field types are defined once (:mod:`~twin.scenario.fields`); each section has its module
(sites, staffing, utilities, connections, outages, demand, recipe, logistics, costs, biology);
:mod:`~twin.scenario.document` is the root; :mod:`~twin.scenario.checks` the cross-field checks;
:mod:`~twin.scenario.loading` reads YAML (:mod:`~twin.scenario.yamlio`, errors located by
:mod:`~twin.scenario.locate`), applies ``--set`` overrides (:mod:`~twin.scenario.overrides`) and
resolves the device catalogue (:mod:`~twin.scenario.catalogue`). Distributions and shift
calendars live here too. Import from the modules; this package re-exports nothing, so the model
can use field types without importing YAML loading.
"""
