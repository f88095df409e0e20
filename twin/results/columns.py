"""The event log as column arrays: what every table and KPI is computed from.

:class:`Log` holds the log's numeric columns as NumPy arrays and each string column as integer
codes into its sorted categories, made once per replication (from the record, or from an events
table). Selecting rows of one kind, pairing a start event with its end (:func:`pair`) and the
union of intervals by group (:func:`union_by_group`, :func:`covered`) are then array operations,
so a table costs a few array passes however many pools, units or patients it has: no per-row or
per-group pandas work.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from twin.core.record import ReplicationRecord

TEXT = ("site", "step", "resource", "kind", "detail")
"""The log's string columns (kept as codes into sorted categories)."""
NUMBERS = {"time_h": np.float64, "patient": np.int64, "unit": np.int32, "value": np.float64}
"""The log's numeric columns and their dtypes."""
_MISSING = {"time_h": np.nan, "patient": -1, "unit": -1, "value": np.nan}
"""What a numeric column holds in a table that lacks it (a facility event, no unit, no value)."""


def _factorize(values) -> tuple[np.ndarray, np.ndarray]:
    """(int32 codes, sorted object array of categories) of a sequence of strings."""
    codes, cats = pd.factorize(np.asarray(values, dtype=object), sort=True)
    return codes.astype(np.int32, copy=False), np.asarray(cats, dtype=object)


@dataclass
class Log:
    """An event log's columns: ``num[time_h|patient|unit|value]``, ``codes[site|step|...]`` into
    ``cats[...]``, and ``replication`` (one number per row)."""

    replication: np.ndarray
    num: dict[str, np.ndarray]
    codes: dict[str, np.ndarray]
    cats: dict[str, np.ndarray]

    @classmethod
    def from_record(cls, raw: ReplicationRecord) -> Log:
        """The columns of one replication's record (one factorisation per string column)."""
        cols = raw.events
        n = len(cols["time_h"])
        num = {k: np.asarray(cols[k], dtype=t) for k, t in NUMBERS.items()}
        codes, cats = {}, {}
        for k in TEXT:
            codes[k], cats[k] = _factorize(cols[k]) if n else (np.empty(0, np.int32), np.empty(0, object))
        return cls(np.full(n, raw.replication, dtype=np.int32), num, codes, cats)

    @classmethod
    def of(cls, events: pd.DataFrame) -> Log:
        """The columns of an events table (:func:`twin.results.tables.events_table`, or rows of
        one or several replications' tables; string columns categorical or not)."""
        n = len(events)
        num = {k: events[k].to_numpy(dtype=t) if k in events else np.full(n, _MISSING[k], dtype=t)
               for k, t in NUMBERS.items()}
        codes, cats = {}, {}
        for k in TEXT:
            s = events[k] if k in events else pd.Series([""] * n, dtype=object)
            cat = np.asarray(s.cat.categories, dtype=object) if isinstance(s.dtype, pd.CategoricalDtype) else None
            if cat is not None and bool((cat[:-1] < cat[1:]).all()) and not s.isna().any():
                codes[k], cats[k] = s.cat.codes.to_numpy(dtype=np.int32), cat  # sorted, as from the record
            else:
                codes[k], cats[k] = _factorize(s.to_numpy(dtype=object))
        rep = events["replication"].to_numpy(dtype=np.int32) if "replication" in events else np.zeros(n, np.int32)
        return cls(rep, num, codes, cats)

    def __len__(self) -> int:
        return len(self.num["time_h"])

    def code(self, col: str, name: str) -> int:
        """The code of ``name`` in string column ``col`` (-1 when the log never has it)."""
        cats = self.cats[col]
        i = int(np.searchsorted(cats, name)) if len(cats) else 0
        return i if i < len(cats) and cats[i] == name else -1

    def where(self, col: str, *names: str) -> np.ndarray:
        """Rows whose string column ``col`` is one of ``names`` (a boolean mask)."""
        codes = self.codes[col]
        found = [c for c in (self.code(col, n) for n in names) if c >= 0]
        if len(found) == 1:
            return codes == found[0]
        return np.isin(codes, found)

    def kind(self, *names: str) -> np.ndarray:
        """Rows of the event kinds ``names`` (a boolean mask)."""
        return self.where("kind", *names)

    def text(self, col: str, rows: np.ndarray | None = None) -> np.ndarray:
        """String column ``col`` (of ``rows``, indices or a mask) as an object array of str."""
        codes = self.codes[col] if rows is None else self.codes[col][rows]
        return self.cats[col][codes] if len(codes) else np.empty(0, dtype=object)

    def key(self, cols: list[str], rows: np.ndarray) -> np.ndarray:
        """One int64 per row of ``rows`` (indices) that is equal exactly where every column of
        ``cols`` is (numeric or string, and ``replication``)."""
        key = np.zeros(len(rows), dtype=np.int64)
        for c in cols:
            if c == "replication":
                v = self.replication[rows].astype(np.int64)
            elif c in self.codes:
                v = self.codes[c][rows].astype(np.int64)
            else:
                v = self.num[c][rows].astype(np.int64)
            if not len(v):
                continue
            v = v - v.min()
            key = np.unique(key * (int(v.max()) + 1) + v, return_inverse=True)[1].astype(np.int64)
        return key

    def frame(self) -> pd.DataFrame:
        """The log as the events table (categorical string columns with sorted categories)."""
        out = {"replication": self.replication}
        for c in ("time_h", "patient", "site", "step", "resource", "unit", "kind", "detail", "value"):
            if c in self.codes:
                out[c] = pd.Categorical.from_codes(self.codes[c], categories=pd.Index(self.cats[c], dtype="str"),
                                                   validate=False)
            else:
                out[c] = self.num[c]
        return pd.DataFrame(out)


def rank_in_group(key: np.ndarray) -> np.ndarray:
    """For each element, how many earlier elements have the same key (pandas' cumcount)."""
    if not len(key):
        return np.empty(0, dtype=np.int64)
    order = np.argsort(key, kind="stable")
    k = key[order]
    first = np.r_[True, k[1:] != k[:-1]]
    start = np.maximum.accumulate(np.where(first, np.arange(len(k)), 0))
    out = np.empty(len(k), dtype=np.int64)
    out[order] = np.arange(len(k)) - start
    return out


def pair(log: Log, kinds: tuple[str, str], keys: list[str], rows: np.ndarray | None = None,
         ) -> tuple[np.ndarray, np.ndarray]:
    """Row indices (starts, ends) of ``kinds[0]`` events paired with ``kinds[1]`` events with
    equal ``keys``, the n-th start with the n-th end in row order; ends -1 where none follows.
    ``rows`` (a mask) restricts both to some rows."""
    s_mask, e_mask = log.kind(kinds[0]), log.kind(kinds[1])
    if rows is not None:
        s_mask, e_mask = s_mask & rows, e_mask & rows
    s, e = np.flatnonzero(s_mask), np.flatnonzero(e_mask)
    if not len(s):
        return s, np.empty(0, dtype=np.int64)
    both = np.concatenate([s, e])
    key = log.key(keys, both)
    rank = np.concatenate([rank_in_group(key[: len(s)]), rank_in_group(key[len(s):])])
    comp = key * (len(both) + 1) + rank
    cs, ce = comp[: len(s)], comp[len(s):]
    order = np.argsort(ce, kind="stable")
    pos = np.searchsorted(ce[order], cs)
    pos_c = np.minimum(pos, max(len(ce) - 1, 0))
    hit = (pos < len(ce)) & (ce[order][pos_c] == cs) if len(ce) else np.zeros(len(s), dtype=bool)
    ends = np.where(hit, e[order][pos_c] if len(e) else -1, -1)
    return s, ends


def pair_times(log: Log, kinds: tuple[str, str], keys: list[str], rows: np.ndarray | None,
               horizon_h: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(start rows, start_h, end_h) of the intervals of :func:`pair` (end_h the horizon when open)."""
    s, e = pair(log, kinds, keys, rows)
    t = log.num["time_h"]
    end_h = np.where(e >= 0, t[np.maximum(e, 0)], horizon_h) if len(s) else np.empty(0)
    return s, t[s], end_h


@dataclass
class Union:
    """Disjoint intervals sorted by (group, start): the union of some intervals of each group,
    clipped to [lo, hi]."""

    group: np.ndarray
    start: np.ndarray
    end: np.ndarray
    lo: float
    hi: float

    def _shift(self, g: np.ndarray, t: np.ndarray) -> np.ndarray:
        return (t - self.lo) + g * ((self.hi - self.lo) + 1.0)

    def length(self, n_groups: int) -> np.ndarray:
        """Hours covered in each group 0..n_groups-1."""
        return np.bincount(self.group, weights=self.end - self.start, minlength=n_groups)[:n_groups]

    def before(self, g: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Hours of group ``g``'s union before time ``t`` (elementwise; t clipped to [lo, hi])."""
        if not len(self.start):
            return np.zeros(len(t))
        t = np.clip(t, self.lo, self.hi)
        lengths = self.end - self.start
        cum = np.concatenate([[0.0], np.cumsum(lengths)])
        first = np.searchsorted(self.group, g, side="left")  # the group's first interval
        k = np.searchsorted(self._shift(self.group, self.start), self._shift(g, t), side="right") - 1
        kk = np.maximum(k, 0)
        inside = (k >= first) & (k >= 0)
        part = np.clip(np.minimum(t, self.end[kk]) - self.start[kk], 0.0, None)
        return np.where(inside, (cum[kk] - cum[np.minimum(first, len(lengths))]) + part, 0.0)

    def within(self, g: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Hours of group ``g``'s union inside [a, b] (elementwise)."""
        return self.before(g, b) - self.before(g, a)


def union_by_group(group: np.ndarray, a: np.ndarray, b: np.ndarray, lo: float, hi: float) -> Union:
    """The union of intervals [a, b) of each group (int codes >= 0) clipped to [lo, hi]: touching
    or overlapping intervals of a group merge, empty ones drop."""
    a, b = np.clip(a, lo, hi), np.clip(b, lo, hi)
    keep = b > a
    group, a, b = group[keep], a[keep], b[keep]
    if not len(a):
        return Union(np.empty(0, np.int64), np.empty(0), np.empty(0), lo, hi)
    order = np.lexsort((a, group))
    group, a, b = group[order].astype(np.int64), a[order], b[order]
    width = (hi - lo) + 1.0
    sa, sb = (a - lo) + group * width, (b - lo) + group * width
    reach = np.maximum.accumulate(sb)  # groups are apart by more than any interval's end
    new = np.r_[True, sa[1:] > reach[:-1]]
    idx = np.flatnonzero(new)
    return Union(group[idx], a[idx], np.maximum.reduceat(b, idx), lo, hi)


def as_log(events: pd.DataFrame | Log) -> Log:
    """``events`` as a :class:`Log` (made from an events table, or the log itself)."""
    return events if isinstance(events, Log) else Log.of(events)


def text_series(values: np.ndarray) -> pd.Series:
    """An object array of str as a pandas string Series."""
    return pd.Series(values, dtype="str")
