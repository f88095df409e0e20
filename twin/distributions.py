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
empirical  values, weights (optional)   sum(w v)                     sum(w (v-mean)**2)
========== ============================ ============================ ===========================
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal, Union

import numpy as np
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

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

    def sample(self, rng: np.random.Generator) -> float:  # pragma: no cover - overridden
        """One draw, in the unit of the field holding this distribution."""
        raise NotImplementedError

    def sample_n(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` independent draws (used by validation tests and vectorised callers)."""
        return np.array([self.sample(rng) for _ in range(n)], dtype=float)


class Fixed(_Dist):
    """Always ``value``."""

    dist: Literal["fixed"] = "fixed"
    value: Param

    @property
    def mean(self) -> float:
        return self.value

    @property
    def variance(self) -> float:
        return 0.0

    def sample(self, rng: np.random.Generator) -> float:
        return self.value

    def sample_n(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return np.full(n, self.value, dtype=float)


class Exponential(_Dist):
    """Exponential with the given ``mean`` (rate = 1/mean)."""

    dist: Literal["exponential"] = "exponential"
    mean_: Param = Field(alias="mean", gt=0)

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=True)

    @property
    def mean(self) -> float:
        return self.mean_

    @property
    def variance(self) -> float:
        return self.mean_**2

    def sample(self, rng: np.random.Generator) -> float:
        return float(rng.exponential(self.mean_))

    def sample_n(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.exponential(self.mean_, size=n)


class Triangular(_Dist):
    """Triangular on [low, high] with peak at ``mode``."""

    dist: Literal["triangular"] = "triangular"
    low: Param
    mode: Param
    high: Param

    @model_validator(mode="after")
    def _ordered(self) -> "Triangular":
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

    def sample(self, rng: np.random.Generator) -> float:
        if self.low == self.high:
            return self.low
        return float(rng.triangular(self.low, self.mode, self.high))

    def sample_n(self, rng: np.random.Generator, n: int) -> np.ndarray:
        if self.low == self.high:
            return np.full(n, self.low, dtype=float)
        return rng.triangular(self.low, self.mode, self.high, size=n)


class Lognormal(_Dist):
    """Lognormal given by the ``mean`` and standard deviation ``sd`` of the variable itself."""

    dist: Literal["lognormal"] = "lognormal"
    mean_: Param = Field(alias="mean", gt=0)
    sd: Param

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

    def sample(self, rng: np.random.Generator) -> float:
        return float(rng.lognormal(self.mu, self.sigma))

    def sample_n(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.lognormal(self.mu, self.sigma, size=n)


class Empirical(_Dist):
    """Draws one of ``values`` (with ``weights``, normalised, if given; else equally likely)."""

    dist: Literal["empirical"] = "empirical"
    values: list[Param] = Field(min_length=1, max_length=100_000)
    weights: list[Param] | None = None

    @model_validator(mode="after")
    def _weights(self) -> "Empirical":
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

    def sample(self, rng: np.random.Generator) -> float:
        if self.weights is None:
            return float(self.values[int(rng.integers(len(self.values)))])
        return float(rng.choice(self.values, p=self._p()))

    def sample_n(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.choice(np.asarray(self.values, dtype=float), size=n, p=self._p())


def _bare_number_is_fixed(v: Any) -> Any:
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return {"dist": "fixed", "value": float(v)}
    if isinstance(v, dict) and "dist" not in v:
        raise ValueError(
            "a distribution needs 'dist' (one of: fixed, exponential, triangular, lognormal, "
            "empirical) or is a plain number"
        )
    return v


Distribution = Annotated[
    Union[Fixed, Exponential, Triangular, Lognormal, Empirical],
    Field(discriminator="dist"),
    BeforeValidator(_bare_number_is_fixed),
]
"""A duration or quantity distribution field; see the module docstring for the vocabulary."""

DIST_NAMES = ("fixed", "exponential", "triangular", "lognormal", "empirical")
