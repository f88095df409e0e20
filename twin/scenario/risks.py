"""The risk library: default frequencies and durations of a facility's vulnerabilities, for
``twin risk`` wherever the scenario gives none (bundled ``risks/defaults.yaml``; every number
there names its source or says "assumption"). A user's library file of the same shape, holding
only what differs, is laid over the defaults (``twin risk FILE --library MINE.yaml``).

Frequencies are occurrences a year; durations are hours (a distribution drawn per occurrence).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field

from twin.scenario.distributions import Distribution
from twin.scenario.fields import Probability, StrictModel

Frequency = Annotated[float, Field(ge=0, le=10_000, allow_inf_nan=False)]


class RiskDefault(StrictModel):
    """An outage-like vulnerability: how often (a year) and for how long (hours)."""

    frequency_per_year: Frequency = Field(description="Occurrences a year (per year).")
    duration_h: Distribution = Field(description="How long one occurrence lasts (hours), drawn per occurrence.")


class DeviceBreakdown(StrictModel):
    """Breakdowns of a device type without a catalogue ``failure``: per unit and year."""

    frequency_per_unit_year: Frequency = Field(description="Breakdowns a unit-year (per unit per year).")
    duration_h: Distribution = Field(description="Repair time of one breakdown (hours).")


class AbsenceSpike(StrictModel):
    """A spike in a role's absence (an illness wave): ``fraction`` of the role's people away."""

    frequency_per_year: Frequency = Field(description="Spikes a year (per year).")
    fraction: Probability = Field(description="Share of the role's people away (fraction, at least one person).")
    duration_h: Distribution = Field(description="How long the spike lasts (hours).")


class CourierRisk(StrictModel):
    """Courier lane delays and losses, where the lane gives no probability."""

    delay_probability: Probability = Field(description="Chance a shipment is delayed (probability per shipment).")
    delay_h: Distribution = Field(description="The extra hours of a delay (hours).")
    loss_probability: Probability = Field(description="Chance a shipment is lost (probability per shipment).")
    probe_probability: Annotated[float, Field(gt=0, le=0.5, allow_inf_nan=False)] = Field(
        description="How much the analysis raises a lane's probability to measure one occurrence's impact.")


class RiskLibrary(StrictModel):
    """The whole library (see ``risks/defaults.yaml``)."""

    name: str = Field(default="default", description="Library name, kept with the results.")
    utilities: dict[str, RiskDefault] = Field(description="Per utility (power, co2, ..., it): site-level outages.")
    it_common_cause: RiskDefault = Field(description="IT/MES lost at every site at once (a shared cloud, an attack).")
    device_breakdown: DeviceBreakdown
    staff_absence_spike: AbsenceSpike
    single_person_loss: RiskDefault = Field(description="The only person of a role lost (where no turnover given).")
    connection_probe_probability: Annotated[float, Field(gt=0, le=0.5, allow_inf_nan=False)]
    courier: CourierRisk
    sources: dict[str, str] = Field(default_factory=dict, description="Where each number comes from.")


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``over`` laid on it, mapping by mapping (a distribution is replaced whole)."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict) and "dist" not in v:
            out[k] = _merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def load_risk_library(path: str | Path | None = None) -> RiskLibrary:
    """The bundled library, with the file at ``path`` (if any) laid over it; a bad entry is a
    :class:`~twin.core.errors.ScenarioError` naming the file, line and field."""
    from twin.scenario.catalogue import bundled_dir
    from twin.scenario.locate import require_mapping, validate_document
    from twin.scenario.yamlio import load_yaml

    default_path = bundled_dir("risks") / "defaults.yaml"
    data, marks = load_yaml(default_path, "risk library")
    source = str(default_path)
    if path is not None:
        over, marks = load_yaml(path, "risk library")
        require_mapping(over, str(path), "a risk library")
        data, source = _merge(data, over), str(path)
    return validate_document(RiskLibrary, data, marks, source, "a risk library")
