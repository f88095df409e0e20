"""Named random streams derived from the scenario seed.

Every random draw in celltwin comes from a numpy ``Generator`` obtained here. A stream is
identified by its purpose (``"arrivals"``, ``"duration:expansion"``, ``"dropout"``, ...) and
the replication number::

    SeedSequence(root_seed, spawn_key=(replication, stable_hash(name)))

so streams are independent of each other and of the order they are created in: adding a device
or a recipe step does not shift any other draw, and two layouts that share a seed see the same
patients (common random numbers). ``stable_hash`` uses SHA-256, never Python's salted ``hash``.
"""

from __future__ import annotations

import hashlib

import numpy as np


def stable_hash(name: str) -> int:
    """A 64-bit integer that depends only on ``name`` (same on every machine and run)."""
    return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "little")


class Streams:
    """Factory and cache of named generators for one replication of one scenario."""

    def __init__(self, root_seed: int, replication: int) -> None:
        self.root_seed = int(root_seed)
        self.replication = int(replication)
        self._cache: dict[str, np.random.Generator] = {}

    def seed_sequence(self, name: str) -> np.random.SeedSequence:
        """The seed sequence behind stream ``name``."""
        return np.random.SeedSequence(
            self.root_seed, spawn_key=(self.replication, stable_hash(name))
        )

    def get(self, name: str) -> np.random.Generator:
        """The generator for purpose ``name`` (created on first use, then reused)."""
        rng = self._cache.get(name)
        if rng is None:
            rng = np.random.default_rng(self.seed_sequence(name))
            self._cache[name] = rng
        return rng
