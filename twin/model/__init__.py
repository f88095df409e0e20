"""The SimPy world built from a validated scenario. No file I/O, no plotting, no pandas.

``simulate(loaded, replication)`` runs one replication and returns a
:class:`twin.core.record.ReplicationRecord`: the event log (plain column lists) and the resource
capacity records that tables and KPIs are computed from.
"""

from twin.model.replication import simulate

__all__ = ["simulate"]
