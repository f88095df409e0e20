"""Sweeps: many scenarios generated from one base scenario and axes over its fields.

    sweep YAML -> SweepSpec -> plan (points x replications, each validated) -> executor
      (local process pool | Dask) -> one parquet file per scenario id -> summary per point
      -> the planner's answer (cheapest configuration meeting the targets per demand level)
"""
