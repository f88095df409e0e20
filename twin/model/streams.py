"""Named random streams derived from the scenario seed, and the one registry of their names.

Every random draw in celltwin comes from a numpy ``Generator`` obtained here. A stream is
identified by its purpose and the replication number::

    SeedSequence(root_seed, spawn_key=(replication, stable_hash(name)))

so streams are independent of each other and of the order they are created in: adding a device
or a recipe step does not shift any other draw, and two layouts that share a seed see the same
patients (common random numbers). ``stable_hash`` uses SHA-256, never Python's salted ``hash``.

A stream's name is made only by the constants and functions below (:data:`REGISTRY` lists them
with what each is for; the README's list of streams is tested against it): a misspelt name built
by hand elsewhere would silently create a new, independent stream. Per-patient streams are read
through ``World.u`` (patient *i* gets the *i*-th number), per-unit and per-person streams
sequentially.
"""

from __future__ import annotations

import hashlib

import numpy as np

# -- per patient (the i-th number of the stream is patient i's) -----------------------------------
ARRIVALS = "arrivals"
"""Referral gaps (exponential), drawn in blocks until the horizon."""
THINNING = "arrivals:thinning"
"""Whether a candidate referral of a changing rate is kept (the k-th number for the k-th candidate)."""
HOSPITAL = "hospital"
"""Which hospital a patient belongs to (by share)."""
DROPOUT = "dropout"
"""Each patient's drop-out time (exponential with the scenario's hazard)."""
BIO_STARTING_CELLS = "biology:starting_cells"
BIO_DOUBLING = "biology:doubling"
BIO_LAG = "biology:lag"
BIO_ORGANISM = "biology:organism"
"""The doubling time of the organism that contaminates a batch."""
BIO_INTRINSIC = "biology:intrinsic"
"""Whether the apheresis product itself is contaminated."""
URGENCY = "urgency"
"""Each patient's urgency class (by the referral mix of ``scheduling.urgency``)."""
BACKUP_ALIQUOT = "remanufacture:aliquot"
"""Whether a backup aliquot of the patient's apheresis product is kept."""
OUT_OF_SPEC = "remanufacture:out_of_spec"
"""Whether an out-of-specification product is infused by exception."""
AGAIN = "#again"
"""Suffix of the stream a repeat draw for the same patient and purpose comes from."""


def duration(step: str) -> str:
    """A step's duration (``step``: its journey name, e.g. ``expansion``, ``transfer:expansion``, ``qc:sterility``)."""
    return f"duration:{step}"


def contamination(step: str) -> str:
    """Whether a transfer (``transfer:STEP``) lets contaminants in."""
    return f"contamination:{step}"


def leak(step: str) -> str:
    """Whether a transfer (``transfer:STEP``) leaks."""
    return f"leak:{step}"


def transit(lane: str) -> str:
    """A courier lane's transit time (``lane``: ``FROM->TO``)."""
    return f"transit:{lane}"


def delay(lane: str) -> str:
    """Whether a shipment on the lane is delayed."""
    return f"delay:{lane}"


def delay_h(lane: str) -> str:
    """How long a delayed shipment is held up."""
    return f"delay_h:{lane}"


def loss(lane: str) -> str:
    """Whether a shipment on the lane is lost."""
    return f"loss:{lane}"


def qc_fail(step: str) -> str:
    """Whether a QC test (``step``: ``qc:TEST``) fails by its fail probability."""
    return step


def qc_detect(step: str) -> str:
    """Whether a QC test (``qc:TEST``) that samples for contamination finds it."""
    return f"{step}:detect"


def bio_check(step: str, k: int) -> str:
    """Whether the ``k``-th in-process check of culture step ``step`` misses a detectable load."""
    return f"biology:check:{step}#{k}"


# -- per unit, per person, per outage (drawn in sequence) ----------------------------------------
def absence(site: str, role: str, person: int) -> str:
    """Person ``person`` of ``role`` at ``site``: absent on each shift (shift k gets the k-th number)."""
    return f"absence:{site}/{role}#{person}"


def turnover(site: str, role: str, person: int) -> str:
    """The place of person ``person`` of ``role`` at ``site``: the times its holders leave."""
    return f"turnover:{site}/{role}#{person}"


def failure(site: str, device_type: str, unit: int) -> str:
    """Times between breakdowns of one device unit."""
    return f"failure:{site}/{device_type}#{unit}"


def repair(site: str, device_type: str, unit: int) -> str:
    """Repair hours of one device unit's breakdowns."""
    return f"repair:{site}/{device_type}#{unit}"


def outage(label: str) -> str:
    """Start times of a stochastic outage."""
    return f"outage:{label}"


def outage_h(label: str) -> str:
    """Durations of an outage's occurrences."""
    return f"outage_h:{label}"


def generator(label: str, site: str) -> str:
    """Whether the generator at ``site`` fails to start in an occurrence of outage ``label``."""
    return f"generator:{label}@{site}"


def qualification(site: str, what: str, unit: int) -> str:
    """The installation and qualification time of planned unit ``unit`` of ``what`` (a device
    type, or ``site`` for a site that opens) at ``site``."""
    return f"qualification:{site}/{what}#{unit}"


REGISTRY: dict[str, str] = {
    ARRIVALS: "referral gaps",
    THINNING: "whether a candidate referral of a changing rate is kept",
    HOSPITAL: "each patient's hospital",
    DROPOUT: "each patient's drop-out time",
    duration("STEP"): "a step's duration, per patient",
    transit("LANE"): "a lane's transit time, per patient",
    delay("LANE"): "whether a shipment is delayed",
    delay_h("LANE"): "how long a delay lasts",
    loss("LANE"): "whether a shipment is lost",
    qc_fail("qc:TEST"): "whether a QC test fails by its fail probability",
    qc_detect("qc:TEST"): "whether a contamination test finds the organisms",
    contamination("transfer:STEP"): "whether a transfer contaminates",
    leak("transfer:STEP"): "whether a transfer leaks",
    BIO_STARTING_CELLS: "starting cells",
    BIO_DOUBLING: "the patient's cells' doubling time",
    BIO_LAG: "the activation lag",
    BIO_ORGANISM: "the contaminant's doubling time",
    BIO_INTRINSIC: "whether the apheresis product is contaminated",
    URGENCY: "each patient's urgency class",
    BACKUP_ALIQUOT: "whether a backup aliquot is kept",
    OUT_OF_SPEC: "whether an out-of-spec product is infused by exception",
    bio_check("STEP", 0).replace("#0", "#K"): "whether an in-process check misses a detectable load",
    failure("SITE", "TYPE", 0).replace("#0", "#i"): "times between breakdowns, per unit",
    repair("SITE", "TYPE", 0).replace("#0", "#i"): "repair hours, per unit",
    absence("SITE", "ROLE", 0).replace("#0", "#i"): "absence on each shift of the calendar, per person",
    turnover("SITE", "ROLE", 0).replace("#0", "#i"): "when the holders of a person's place leave",
    outage("LABEL"): "start times of a stochastic outage",
    outage_h("LABEL"): "durations of an outage",
    generator("LABEL", "SITE"): "whether the generator fails to start",
    qualification("SITE", "TYPE", 0).replace("#0", "#i"): "a planned unit's (or site's) qualification time",
}
"""Every stream name pattern (upper-case words are placeholders) with what it is for."""


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
