"""Probability distributions a scenario may name, each knowing its mean and variance.

A distribution is data, never code: a mapping with a ``dist`` name and its parameters, e.g.
``{dist: triangular, low: 3, mode: 4, high: 5}``. A bare number means ``{dist: fixed, value: x}``.
Every parameter is in the unit of the field that holds the distribution (hours for ``*_h``).

========== ============================ ============================ ===========================
dist       parameters                   mean                         variance
========== ============================ ============================ ===========================
fixed      value                        value                        0
exponential mean                        mean                         mean**2
triangular low <= mode <= high          (low+mode+high)/3            (a²+b²+c²-ab-ac-bc)/18
lognormal  mean > 0, sd >= 0 (of X)     mean                         sd**2
weibull    shape k > 0, scale > 0       scale Γ(1+1/k)               scale² (Γ(1+2/k) - Γ(1+1/k)²)
empirical  values, weights (optional)   sum(w v)                     sum(w (v-mean)**2)
========== ============================ ============================ ===========================
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

_NORMAL = NormalDist()
_U_MIN = 1e-16  # quantiles are clipped to [_U_MIN, 1 - _U_MIN] where the tails are infinite

#: Largest value any distribution parameter may take (hours: about 114 years).
MAX_PARAM = 1.0e6

Param = Annotated[float, Field(ge=0, le=MAX_PARAM, allow_inf_nan=False)]


class _Dist(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    @property
    def mean(self) -> float:  # pragma: no cover - overridden
        raise NotImplementedError

    @property
    def variance(self) -> float:  # pragma: no cover - overridden
        raise NotImplementedError

    def ppf(self, u: float) -> float:  # pragma: no cover - overridden
        """The value at quantile ``u`` in [0, 1) (inverse CDF), in the field's unit.

        The model draws by quantile, ``ppf(U)`` with ``U`` uniform from a stream indexed by
        patient, so patient i gets the same quantile of a step's duration in every layout
        (common random numbers)."""
        raise NotImplementedError

    def ppf_array(self, u: np.ndarray) -> np.ndarray:
        """:meth:`ppf` over an array of quantiles."""
        return np.array([self.ppf(float(x)) for x in u], dtype=float)

    def sample(self, rng: np.random.Generator) -> float:
        """One draw, in the unit of the field holding this distribution."""
        return self.ppf(float(rng.random()))

    def sample_n(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` independent draws (used by validation tests and vectorised callers)."""
        return self.ppf_array(rng.random(n))


class Fixed(_Dist):
    """Always ``value``."""

    dist: Literal["fixed"] = Field(default="fixed", description="`fixed`: always the same value.")
    value: Param = Field(description="The value (in the unit of the field holding the distribution).")

    @property
    def mean(self) -> float:
        return self.value

    @property
    def variance(self) -> float:
        return 0.0

    def ppf(self, u: float) -> float:
        return self.value

    def ppf_array(self, u: np.ndarray) -> np.ndarray:
        return np.full(len(u), self.value, dtype=float)


class Exponential(_Dist):
    """Exponential with the given ``mean`` (rate = 1/mean)."""

    dist: Literal["exponential"] = Field(
        default="exponential", description="`exponential`: memoryless, with the given mean (rate = 1/mean).",
    )
    mean_: Param = Field(
        alias="mean", gt=0, description="The mean (in the unit of the field holding the distribution).",
    )

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=True)

    @property
    def mean(self) -> float:
        return self.mean_

    @property
    def variance(self) -> float:
        return self.mean_**2

    def ppf(self, u: float) -> float:
        return -self.mean_ * math.log1p(-u)

    def ppf_array(self, u: np.ndarray) -> np.ndarray:
        return -self.mean_ * np.log1p(-np.asarray(u, dtype=float))


class Triangular(_Dist):
    """Triangular on [low, high] with peak at ``mode``."""

    dist: Literal["triangular"] = Field(
        default="triangular", description="`triangular`: between `low` and `high`, most likely at `mode`.",
    )
    low: Param = Field(description="The smallest value (in the unit of the field holding the distribution).")
    mode: Param = Field(
        description="The most likely value, from `low` to `high` (in the unit of the field holding the distribution).",
    )
    high: Param = Field(description="The largest value (in the unit of the field holding the distribution).")

    @model_validator(mode="after")
    def _ordered(self) -> Triangular:
        if not (self.low <= self.mode <= self.high):
            raise ValueError(f"need low <= mode <= high, got {self.low}, {self.mode}, {self.high}")
        return self

    @property
    def mean(self) -> float:
        return (self.low + self.mode + self.high) / 3.0

    @property
    def variance(self) -> float:
        a, c, b = self.low, self.mode, self.high
        return (a * a + b * b + c * c - a * b - a * c - b * c) / 18.0

    def ppf(self, u: float) -> float:
        a, c, b = self.low, self.mode, self.high
        if a == b:
            return a
        f = (c - a) / (b - a)
        if u < f:
            return a + math.sqrt(u * (b - a) * (c - a))
        return b - math.sqrt((1.0 - u) * (b - a) * (b - c))

    def ppf_array(self, u: np.ndarray) -> np.ndarray:
        a, c, b = self.low, self.mode, self.high
        u = np.asarray(u, dtype=float)
        if a == b:
            return np.full(len(u), a, dtype=float)
        f = (c - a) / (b - a)
        left = a + np.sqrt(u * (b - a) * (c - a))
        right = b - np.sqrt((1.0 - u) * (b - a) * (b - c))
        return np.where(u < f, left, right)


class Lognormal(_Dist):
    """Lognormal given by the ``mean`` and standard deviation ``sd`` of the variable itself."""

    dist: Literal["lognormal"] = Field(
        default="lognormal", description="`lognormal`: positive and right-skewed, given by its own mean and sd.",
    )
    mean_: Param = Field(
        alias="mean", gt=0,
        description="Mean of the variable itself, not of its log (in the unit of the field holding the distribution).",
    )
    sd: Param = Field(
        description="Standard deviation of the variable itself (in the unit of the field holding the distribution); "
        "0 gives the mean.",
    )

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=True)

    @property
    def sigma(self) -> float:
        """Standard deviation of log(X)."""
        return math.sqrt(math.log1p((self.sd / self.mean_) ** 2))

    @property
    def mu(self) -> float:
        """Mean of log(X)."""
        return math.log(self.mean_) - 0.5 * self.sigma**2

    @property
    def mean(self) -> float:
        return self.mean_

    @property
    def variance(self) -> float:
        return self.sd**2

    def ppf(self, u: float) -> float:
        if self.sd == 0:
            return self.mean_
        z = _NORMAL.inv_cdf(min(max(u, _U_MIN), 1.0 - _U_MIN))
        return math.exp(self.mu + self.sigma * z)

    def ppf_array(self, u: np.ndarray) -> np.ndarray:
        from scipy.special import ndtri

        u = np.clip(np.asarray(u, dtype=float), _U_MIN, 1.0 - _U_MIN)
        return np.exp(self.mu + self.sigma * ndtri(u))


class Weibull(_Dist):
    """Weibull with ``shape`` k and ``scale`` (in the field's unit); k < 1 gives early failures,
    k = 1 is exponential, k > 1 wear-out (times between device failures)."""

    dist: Literal["weibull"] = Field(
        default="weibull", description="`weibull`: e.g. times between failures, with `shape` and `scale`.",
    )
    shape: Annotated[float, Field(gt=0.05, le=100, allow_inf_nan=False)] = Field(
        description="Shape k (dimensionless): below 1 early failures, 1 exponential, above 1 wear-out.",
    )
    scale: Annotated[float, Field(gt=0, le=MAX_PARAM, allow_inf_nan=False)] = Field(
        description="Scale (in the unit of the field holding the distribution); the mean is scale x Γ(1 + 1/k).",
    )

    @property
    def mean(self) -> float:
        return self.scale * math.gamma(1.0 + 1.0 / self.shape)

    @property
    def variance(self) -> float:
        g1 = math.gamma(1.0 + 1.0 / self.shape)
        return self.scale**2 * (math.gamma(1.0 + 2.0 / self.shape) - g1 * g1)

    def ppf(self, u: float) -> float:
        return self.scale * (-math.log1p(-min(u, 1.0 - _U_MIN))) ** (1.0 / self.shape)

    def ppf_array(self, u: np.ndarray) -> np.ndarray:
        u = np.minimum(np.asarray(u, dtype=float), 1.0 - _U_MIN)
        return self.scale * (-np.log1p(-u)) ** (1.0 / self.shape)


class Empirical(_Dist):
    """Draws one of ``values`` (with ``weights``, normalised, if given; else equally likely)."""

    dist: Literal["empirical"] = Field(
        default="empirical", description="`empirical`: one of the listed values, with the given weights.",
    )
    values: list[Param] = Field(
        min_length=1, max_length=100_000,
        description="The values drawn from (in the unit of the field holding the distribution).",
    )
    weights: list[Param] | None = Field(
        default=None,
        description="Relative weight of each value, one per value, normalised (dimensionless); none: equally likely.",
    )

    @model_validator(mode="after")
    def _weights(self) -> Empirical:
        if self.weights is not None:
            if len(self.weights) != len(self.values):
                raise ValueError(
                    f"weights has {len(self.weights)} entries but values has {len(self.values)}"
                )
            if sum(self.weights) <= 0:
                raise ValueError("weights must not all be zero")
        return self

    def _p(self) -> np.ndarray:
        if self.weights is None:
            return np.full(len(self.values), 1.0 / len(self.values))
        w = np.asarray(self.weights, dtype=float)
        return w / w.sum()

    @property
    def mean(self) -> float:
        return float(np.dot(self._p(), self.values))

    @property
    def variance(self) -> float:
        v = np.asarray(self.values, dtype=float)
        return float(np.dot(self._p(), (v - self.mean) ** 2))

    def ppf(self, u: float) -> float:
        if self.weights is None:
            return float(self.values[min(int(u * len(self.values)), len(self.values) - 1)])
        return float(self.ppf_array(np.array([u]))[0])

    def ppf_array(self, u: np.ndarray) -> np.ndarray:
        cum = np.cumsum(self._p())
        idx = np.searchsorted(cum, np.asarray(u, dtype=float), side="right")
        return np.asarray(self.values, dtype=float)[np.minimum(idx, len(self.values) - 1)]


def _bare_number_is_fixed(v: Any) -> Any:
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return {"dist": "fixed", "value": float(v)}
    if isinstance(v, dict) and "dist" not in v:
        raise ValueError(
            "a distribution needs 'dist' (one of: fixed, exponential, triangular, lognormal, "
            "weibull, empirical) or is a plain number"
        )
    return v


Distribution = Annotated[
    Fixed | Exponential | Triangular | Lognormal | Weibull | Empirical,
    Field(discriminator="dist"),
    BeforeValidator(_bare_number_is_fixed),
]
"""A duration or quantity distribution field; see the module docstring for the vocabulary."""

DIST_NAMES = ("fixed", "exponential", "triangular", "lognormal", "weibull", "empirical")
