"""celltwin: a discrete-event digital twin of an automated cell-therapy facility.

Data flows one way::

    scenario YAML -> twin.scenario.Scenario -> twin.model (SimPy) -> twin.results tables -> reports

Time inside the twin is in hours from the scenario's ``start_date`` at 00:00.
"""

__version__ = "0.1.0"
