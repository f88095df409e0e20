"""Whether a sample finds a contamination: Poisson sampling with a method's false-negative
rate (sterility tests and in-process checks)."""

from __future__ import annotations

import math


def detection_probability(cfu: float, sample_fraction: float, false_negative: float) -> float:
    """Probability that a sterility / in-process sample detects the contamination.

    The sample takes ``sample_fraction`` (0-1) of a product that holds ``cfu`` organisms (CFU),
    organisms in the sample are Poisson with mean ``cfu * sample_fraction``, and the method misses
    a positive sample with probability ``false_negative`` (0-1):
    ``P = (1 - exp(-cfu * sample_fraction)) * (1 - false_negative)``.
    """
    if not (cfu >= 0):
        raise ValueError(f"cfu must be >= 0, got {cfu}")
    if not (0 <= sample_fraction <= 1):
        raise ValueError(f"sample_fraction must be in [0, 1], got {sample_fraction}")
    if not (0 <= false_negative <= 1):
        raise ValueError(f"false_negative must be in [0, 1], got {false_negative}")
    if cfu == math.inf:
        return 1.0 - false_negative if sample_fraction > 0 else 0.0
    return -math.expm1(-cfu * sample_fraction) * (1.0 - false_negative)
