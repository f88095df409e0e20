"""Reading input files safely and writing output files whole.

* :func:`read_input` reads a user's file (scenario, sweep, catalogue entry) only when it is a
  regular file of at most :data:`MAX_INPUT_BYTES`: a FIFO, a device such as ``/dev/zero`` or a
  folder is refused before it is opened, so nothing hangs or fills memory.
* :func:`write_whole` writes any output through a temporary dot-file beside the target and
  renames it into place when complete: a reader sees the old file, the new one, or none, never a
  half-written one. The temporary file is removed when the write fails. A failure is an
  :class:`OutputError` that names the path and the reason.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from twin.core.errors import InputError

MAX_INPUT_BYTES = 4 * 1024 * 1024
"""Largest input file read, bytes (assumption: the bundled scenarios are under 30 kB; a hand-written
scenario or sweep 100 times that is still far below 4 MiB)."""


def read_input(path: str | Path, what: str = "file") -> bytes:
    """The bytes of the regular file ``path`` (at most :data:`MAX_INPUT_BYTES`).

    Raises:
        InputError: the file is missing, not a regular file (folder, FIFO, device), too large or
            unreadable; the message names the file, never its content.
    """
    p = Path(path)
    try:
        st = os.stat(p)
    except FileNotFoundError:
        raise InputError("file not found", file=str(path)) from None
    except OSError as err:
        raise InputError(f"cannot read {what}: {err.strerror or err}", file=str(path)) from None
    if stat.S_ISDIR(st.st_mode):
        raise InputError(f"is a folder; expected a {what}", file=str(path))
    if not stat.S_ISREG(st.st_mode):
        kind = "a FIFO (named pipe)" if stat.S_ISFIFO(st.st_mode) else "a device or special file"
        raise InputError(f"is {kind}, not a regular file; expected a {what}", file=str(path))
    if st.st_size > MAX_INPUT_BYTES:
        raise InputError(f"{what} is {st.st_size:,} bytes; at most {MAX_INPUT_BYTES:,} bytes are read", file=str(path))
    try:
        with open(p, "rb") as f:
            data = f.read(MAX_INPUT_BYTES + 1)
    except OSError as err:
        raise InputError(f"cannot read {what}: {err.strerror or err}", file=str(path)) from None
    if len(data) > MAX_INPUT_BYTES:  # it grew since stat
        raise InputError(f"{what} is over {MAX_INPUT_BYTES:,} bytes", file=str(path))
    return data


@dataclass
class OutputError(Exception):
    """Results could not be written. The CLI prints it and exits with status 1, no traceback.

    Attributes:
        path: where it tried to write.
        reason: why it failed (the operating system's words, e.g. "No space left on device").
        kept: what was kept (files already written whole, or a note), for the message.
    """

    path: str
    reason: str
    kept: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        kept = f"; kept: {', '.join(self.kept)}" if self.kept else "; nothing was written there"
        return f"cannot write {self.path}: {self.reason}{kept}"


def _reason(err: BaseException) -> str:
    if isinstance(err, OSError):
        return err.strerror or str(err)
    return f"{type(err).__name__}: {err}"


def write_whole(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Write ``path`` by calling ``write(tmp)`` on a temporary dot-file beside it, then renaming
    it into place. The temporary file never outlives a failed write.

    Raises:
        OutputError: the folder cannot be made or the file cannot be written (read-only, full disk).
    """
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        write(tmp)
        os.replace(tmp, target)
    except (OSError, ValueError, RuntimeError) as err:  # pyarrow wraps OSError in its own errors at times
        _unlink(tmp)
        raise OutputError(str(target), _reason(err)) from None
    except BaseException:
        _unlink(tmp)
        raise
    return target


def write_text_whole(path: str | Path, text: str) -> Path:
    """:func:`write_whole` for UTF-8 text (the same bytes on every platform: no CRLF)."""
    return write_whole(path, lambda p: p.write_bytes(text.encode("utf-8")))


def _unlink(p: Path) -> None:
    with contextlib.suppress(OSError):
        p.unlink()
