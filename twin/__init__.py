"""celltwin: a discrete-event digital twin of an automated cell-therapy facility.

Data flows one way::

    scenario YAML -> twin.scenario.document.Scenario -> twin.model (SimPy) -> twin.results tables -> reports

Time inside the twin is in hours from the scenario's ``start_date`` at 00:00.

The Python API (:mod:`twin.api`) is importable from here: ``twin.load``, ``twin.run``,
``twin.compare``, ``twin.sweep``, ``twin.export`` and the result classes ``twin.Run``,
``twin.Comparison``, ``twin.Sweep``. They are imported on first use, so ``import twin`` (and
``twin --help``) stays fast: pandas, SimPy and numba load only when a function runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from twin.core.version import __version__

if TYPE_CHECKING:
    from twin.api import Comparison, Run, Sweep, SweepOptions, compare, export, load, risk, run, sweep

#: Names :mod:`twin.api` provides, resolved lazily by :func:`__getattr__`.
_API = ("Comparison", "Run", "Sweep", "SweepOptions", "compare", "export", "load", "risk", "run", "sweep")

__all__ = ["Comparison", "Run", "Sweep", "SweepOptions", "__version__", "compare", "export", "load", "risk", "run",
           "sweep"]


def __getattr__(name: str) -> Any:
    """``twin.run`` and friends: import :mod:`twin.api` on first use (PEP 562)."""
    if name in _API:
        from twin import api

        return getattr(api, name)
    raise AttributeError(f"module 'twin' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])
