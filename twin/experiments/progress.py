"""A small progress line for long runs: done/total, failures, ETA.

On a terminal it redraws one line; elsewhere (CI set, or output piped) it prints a line every
few seconds so logs stay short.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any


class Progress:
    """Progress of ``total`` tasks, written to stderr."""

    def __init__(self, total: int, enabled: bool = True, every_s: float = 5.0) -> None:
        self.total = total
        self.enabled = enabled
        self.tty = sys.stderr.isatty() and not os.environ.get("CI")
        self.every_s = every_s
        self.start = time.perf_counter()
        self.last = 0.0
        self.failed = 0
        self.first_done: int | None = None

    def update(self, row: dict[str, Any], done: int, total: int) -> None:
        """Record one finished task (``row['status']``) with ``done`` of ``total`` complete."""
        if row.get("status") == "failed":
            self.failed += 1
        if self.first_done is None:
            self.first_done = done - 1  # tasks already done before this run (resume)
        if not self.enabled:
            return
        now = time.perf_counter()
        if not self.tty and now - self.last < self.every_s and done < total:
            return
        self.last = now
        ran = done - self.first_done
        rate = ran / max(now - self.start, 1e-9)
        eta = (total - done) / rate if rate > 0 else float("inf")
        line = f"{done}/{total} done, {self.failed} failed, {rate:.1f}/s, ETA {_hms(eta)}"
        if self.tty:
            sys.stderr.write("\r" + line.ljust(60))
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled and self.tty:
            sys.stderr.write("\n")


def _hms(seconds: float) -> str:
    if seconds == float("inf"):
        return "?"
    s = int(seconds)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"
