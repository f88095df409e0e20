"""Tubing connections between steps (sterile weld, aseptic connector, open transfer): time,
hands-on, contamination, leak and cell loss. Every default is an assumption (parameters.md
1.8: no published per-connection rate).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from twin.scenario.distributions import Distribution, Fixed
from twin.scenario.fields import Hours, Name, Probability, StrictModel

ConnectionType = Literal["sterile_weld", "aseptic_connector", "open"]


class Connection(StrictModel):
    """How material enters a recipe step: the connection is made at the step's start, takes
    ``duration_h`` with the step's role hands-on for ``hands_on_h``, lets contaminants in with
    ``contamination_probability`` (seeding ``inoculum_cfu`` colony-forming units), leaks with
    ``leak_probability`` (``leak_effect``: the batch is ``lost``, or it loses
    ``leak_volume_fraction`` of its cells) and always loses ``cell_loss_fraction`` of the cells
    (hold-up volume). An open transfer needs a unit of ``device`` (a biosafety cabinet) and the
    cleanroom in grade."""

    duration_h: Distribution = Field(
        default_factory=lambda: Fixed(value=0.25),
        description="How long making the connection takes (hours), drawn per batch; it lasts at least "
        "`hands_on_h`.",
    )
    hands_on_h: Hours = Field(
        default=0.25,
        description="Hours of the step's role at the start of the connection (hours); the step's "
        "`staff_wait_limit_h` applies to it.",
    )
    contamination_probability: Probability = Field(
        default=0.0, description="Chance the connection lets organisms in (probability per connection).",
    )
    inoculum_cfu: Annotated[float, Field(gt=0, le=1e9, allow_inf_nan=False)] = Field(
        default=1.0, description="Organisms a contaminating connection seeds (CFU, colony-forming units).",
    )
    leak_probability: Probability = Field(
        default=0.0, description="Chance the connection leaks (probability per connection).",
    )
    leak_effect: Literal["lost", "volume"] = Field(
        default="lost",
        description="What a leak does: `lost` (the batch is lost) or `volume` (it loses `leak_volume_fraction` of "
        "its cells).",
    )
    leak_volume_fraction: Probability = Field(
        default=0.1, description="Fraction of the cells a `volume` leak loses (fraction, 0-1).",
    )
    cell_loss_fraction: Probability = Field(
        default=0.0,
        description="Fraction of the cells every connection loses in its hold-up volume (fraction, 0-1).",
    )
    device: Name | None = Field(
        default=None,
        description="Device type (a biosafety cabinet) of which the transfer holds a unit, unless the step is "
        "already in one; none: no cabinet.",
    )


def default_connections() -> dict[str, Connection]:
    """Connection defaults. All are assumptions (parameters.md 1.8: no published per-connection
    contamination or leak rate); they are set so that a recipe with 4-5 connections contaminates
    0.05-0.5% of batches, inside the measured 0.06%-1% window per batch."""
    return {
        "sterile_weld": Connection(duration_h=Fixed(value=0.1), hands_on_h=0.1, contamination_probability=1e-4,
                                   leak_probability=1e-4, cell_loss_fraction=0.005),
        "aseptic_connector": Connection(duration_h=Fixed(value=0.1), hands_on_h=0.1,
                                        contamination_probability=3e-4, leak_probability=2e-4,
                                        cell_loss_fraction=0.005),
        "open": Connection(duration_h=Fixed(value=0.5), hands_on_h=0.5, contamination_probability=1e-3,
                           leak_probability=5e-4, cell_loss_fraction=0.02, device="biosafety_cabinet"),
    }
