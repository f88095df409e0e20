"""Turn pydantic validation errors into one clear ``file:line:col: field: message`` error."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ValidationError

from twin.core.errors import LocatedValueError, ScenarioError, clip, cut
from twin.scenario.yamlio import Marks


def dotted(path: Iterable[str | int]) -> str:
    """``('recipe', 2, 'duration_h')`` -> ``recipe[2].duration_h``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def models_in(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models a field's annotation holds directly: the annotation itself, or models
    inside its unions, ``Annotated``, lists and mappings (not the models those models hold)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in getattr(annotation, "__args__", ()) or ():
        found += models_in(arg)
    if getattr(annotation, "__metadata__", None) is not None:
        found += models_in(getattr(annotation, "__origin__", None))
    return list(dict.fromkeys(found))


def field_names(*models: type[BaseModel]) -> set[str]:
    """Every field name (and alias) of the given models and of the models they contain."""
    names: set[str] = set()
    seen: set[type] = set()

    def visit(model: type[BaseModel]) -> None:
        if model in seen:
            return
        seen.add(model)
        for fname, info in model.model_fields.items():
            names.add(info.alias or fname)
            for sub in models_in(info.annotation):
                visit(sub)

    for m in models:
        visit(m)
    return names


def _describe(err: dict[str, Any], known: set[str]) -> str:
    kind = err["type"]
    loc = err["loc"]
    if kind == "extra_forbidden":
        key = str(loc[-1]) if loc else "?"
        msg = f"unknown field {clip(key)}"
        close = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.7)
        if close:
            msg += f"; did you mean {close[0]!r}?"
        return msg
    if kind == "missing":
        return "required field is missing"
    plain = _plain_words(err)
    if plain:
        return plain
    msg = err["msg"]
    msg = _clip_message(msg.removeprefix("Value error, "))
    if "input" in err and kind not in ("union_tag_invalid", "model_type", "dict_type"):
        inp = err["input"]
        if not isinstance(inp, (dict, list)):
            msg += f" (got {clip(inp)})"
    return msg


#: Name patterns in plain words (twin.scenario.fields.Name, catalogue type names).
PATTERN_WORDS = {
    r"^[A-Za-z][A-Za-z0-9_\-]*$": "a name starts with a letter and holds only letters, digits, _ and - (no spaces "
                                   "or dots)",
    r"^[a-z][a-z0-9_]*$": "a type name starts with a lower-case letter and holds only lower-case letters, digits "
                          "and _",
}


def _plain_words(err: dict[str, Any]) -> str:
    """pydantic's "tag" and "pattern" messages said the way a scenario's author thinks of them:
    which kinds (distributions, outages, ...) exist, which characters a name may hold."""
    kind, ctx = err["type"], err.get("ctx") or {}
    if kind == "union_tag_invalid":
        field, tag = ctx.get("discriminator", "kind").strip("'"), ctx.get("tag", "?")
        expected = [t.strip().strip("'") for t in str(ctx.get("expected_tags", "")).split(",") if t.strip()]
        what = "distribution" if field == "dist" else f"{field}"
        close = difflib.get_close_matches(str(tag)[:200], expected, n=1, cutoff=0.6)
        return (f"unknown {what} {clip(tag)}; {field}: is one of {', '.join(expected)}"
                + (f"; did you mean {close[0]!r}?" if close else ""))
    if kind == "union_tag_not_found":
        field = ctx.get("discriminator", "kind").strip("'")
        return f"{field}: is missing; say which kind this is, e.g. {field}: fixed" if field == "dist" else \
            f"{field}: is missing; say which kind this is"
    if kind == "string_pattern_mismatch" and ctx.get("pattern") in PATTERN_WORDS:
        return f"{PATTERN_WORDS[ctx['pattern']]} (got {clip(err.get('input'))})"
    return ""


def _clip_message(msg: str, limit: int = 240) -> str:
    """A validator's own message, cut when it quotes a long value (pydantic quotes some inputs)."""
    return cut(msg, limit)


def raise_validation_error(
    exc: ValidationError, marks: Marks, source: str, known: set[str]
) -> None:
    """Raise a :class:`ScenarioError` for the first error in ``exc``, located through ``marks``."""
    errors = exc.errors()
    first = errors[0]
    loc = tuple(first["loc"])
    cause = (first.get("ctx") or {}).get("error")
    if isinstance(cause, LocatedValueError):
        loc = loc + tuple(cause.path)
    # Drop union tags and pydantic's internal loc parts ('function-after[...]', etc.).
    clean = tuple(p for p in loc if isinstance(p, int) or "[" not in str(p))
    kept, pos = marks.locate(clean)
    if first["type"] in ("missing", "extra_forbidden") and clean and kept != clean:
        kept = kept + (clip(clean[-1]).strip("'\"") if isinstance(clean[-1], str) else clean[-1],)
    field = dotted(kept) or None
    message = _describe(first, known)
    if len(errors) > 1:
        message += f" ({len(errors) - 1} more problem{'s' if len(errors) > 2 else ''} after this one)"
    raise ScenarioError(
        message,
        file=source,
        line=pos[0] if pos else None,
        column=pos[1] if pos else None,
        field=field,
    ) from None


def located_error(message: str, path: tuple[str | int, ...], marks: Marks, source: str) -> ScenarioError:
    """A :class:`ScenarioError` for a cross-field problem at ``path``."""
    _, pos = marks.locate(path)
    return ScenarioError(
        message,
        file=source,
        line=pos[0] if pos else None,
        column=pos[1] if pos else None,
        field=dotted(path) or None,
    )



def require_mapping(data: Any, source: str, what: str) -> dict:
    """``data`` if it is a mapping of fields, else a located error naming ``what`` it should be."""
    if not isinstance(data, dict):
        raise ScenarioError(f"{what} must be a mapping of fields", file=source, line=1)
    return data


def validate_document(model: type[BaseModel], data: Any, marks: Marks, source: str, what: str) -> Any:
    """Validate a loaded YAML document against ``model``; the first problem becomes one
    ``file:line:col: field: message`` error (with a did-you-mean for unknown keys)."""
    require_mapping(data, source, what)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise_validation_error(exc, marks, source, field_names(model))
