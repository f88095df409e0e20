"""celltwin: a discrete-event digital twin of an automated cell-therapy facility.

Data flows one way::

    scenario YAML -> twin.scenario.document.Scenario -> twin.model (SimPy) -> twin.results tables -> reports

Time inside the twin is in hours from the scenario's ``start_date`` at 00:00.
"""

from twin.core.version import __version__

__all__ = ["__version__"]
