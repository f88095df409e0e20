"""Experiments over the model: a run of replications, a comparison of layouts with common
random numbers, a sweep over a plan of scenarios (local processes or Dask)."""

#: The most replications ``--precision`` adds up to by default (assumption: about 30 s of the
#: bundled centralised scenario on one core; raise it with ``--max-replications``). Here, not in
#: ``run``, so that the command line's help reads it without importing pandas.
DEFAULT_MAX_REPLICATIONS = 50
