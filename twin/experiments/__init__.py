"""Experiments over the model: a run of replications, a comparison of layouts with common
random numbers, a sweep over a plan of scenarios (local processes or Dask)."""
