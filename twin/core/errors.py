"""User-facing input errors: where (file, line, column, field) and what was expected."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class InputError(Exception):
    """Bad user input. The CLI prints ``str(err)`` and exits with status 2, no traceback.

    Attributes:
        message: what is wrong and what was expected.
        file: the file the input came from, if any.
        line: 1-based line number in ``file``, if known.
        column: 1-based column, if known.
        field: dotted path of the offending field (e.g. ``recipe[2].duration_h.mean``).
    """

    message: str
    file: str | None = None
    line: int | None = None
    column: int | None = None
    field: str | None = None

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = self.file
            if self.line is not None:
                where += f":{self.line}"
                if self.column is not None:
                    where += f":{self.column}"
            where += ": "
        field = f"{self.field}: " if self.field else ""
        return f"{where}{field}{self.message}"


class ScenarioError(InputError):
    """A scenario (or catalogue) file that cannot be loaded or fails validation."""


class LocatedValueError(ValueError):
    """A ValueError raised inside a pydantic validator that knows which field it is about.

    ``path`` is relative to the model that raised it; :mod:`twin.scenario.locate` appends it to
    pydantic's location so the message names the right line and field.
    """

    def __init__(self, message: str, path: tuple[str | int, ...]) -> None:
        super().__init__(message)
        self.path = path


MAX_ECHO = 80
"""Characters of a rejected value a message repeats (assumption: one line of a terminal)."""


def clip(value: object, limit: int = MAX_ECHO) -> str:
    """``repr(value)`` cut to ``limit`` characters, saying how long it was when cut, so that a
    2 MB value gives a short message."""
    text = repr(value)
    if len(text) <= limit:
        return text
    return f"{text[: limit - 3]}... ({len(text):,} characters)"


def cut(text: str, limit: int = 240) -> str:
    """A message part (not a value) cut to ``limit`` characters."""
    return text if len(text) <= limit else f"{text[: limit - 3]}... ({len(text):,} characters)"
