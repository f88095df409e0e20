"""Dotted-path overrides of scenario data: ``referrals.rate_per_week=10``.

Used by ``twin run --set`` (and by sweeps, which set fields by the same dotted paths). Overrides
are applied to the plain data loaded from YAML *before* validation, so an overridden value meets
exactly the same checks as one written in the file. Path segments are mapping keys, or list
indices written as numbers (``recipe.2.duration_h``) or in brackets (``recipe[2].duration_h``).
"""

from __future__ import annotations

import copy
import re
from typing import Any

from twin.core.errors import InputError, clip

_SEGMENT = re.compile(r"[^.\[\]]+|\[\d+\]")


def split_path(path: str) -> tuple[str | int, ...]:
    """``"recipe[2].duration_h"`` -> ``("recipe", 2, "duration_h")``."""
    if not path or path.startswith(".") or path.endswith(".") or ".." in path:
        raise InputError(f"bad field path {clip(path)}: expected dotted names like referrals.rate_per_week")
    parts: list[str | int] = []
    for m in _SEGMENT.finditer(path):
        tok = m.group(0)
        if tok.startswith("["):
            parts.append(int(tok[1:-1]))
        elif tok.isdigit():
            parts.append(int(tok))
        else:
            parts.append(tok)
    if "".join(m.group(0) for m in _SEGMENT.finditer(path)) != path.replace(".", ""):
        raise InputError(f"bad field path {clip(path)}: expected dotted names like referrals.rate_per_week")
    return tuple(parts)


def set_path(data: dict[str, Any], path: tuple[str | int, ...], value: Any, label: str) -> None:
    """Set ``value`` at ``path`` inside ``data`` (missing mappings are created)."""
    from twin.scenario.locate import dotted

    node: Any = data
    label = clip(label).strip("'\"")
    for i, part in enumerate(path):
        last = i == len(path) - 1
        here = dotted(path[: i + 1])
        if isinstance(part, int):
            parent = dotted(path[:i]) or "the document"
            if not isinstance(node, list):
                raise InputError(f"{label}: {parent} is not a list, so [{part}] cannot index it")
            if not 0 <= part < len(node):
                raise InputError(f"{label}: index {part} is out of range ({parent} has {len(node)} items)")
            if last:
                node[part] = value
            else:
                node = node[part]
        else:
            if not isinstance(node, dict):
                raise InputError(f"{label}: {here} cannot be set, its parent is not a mapping")
            if last:
                node[part] = value
            else:
                if node.get(part) is None:
                    node[part] = {}
                node = node[part]


def parse_assignment(text: str) -> tuple[tuple[str | int, ...], Any]:
    """``"a.b=12"`` -> (("a", "b"), 12); the value is read as YAML (numbers, lists, mappings)."""
    from twin.scenario.yamlio import parse_yaml

    if "=" not in text:
        raise InputError(f"--set {text!r}: expected FIELD=VALUE, e.g. referrals.rate_per_week=10")
    key, _, raw = text.partition("=")
    path = split_path(key.strip())
    value, _ = parse_yaml(raw, source=f"--set {key.strip()}")
    return path, value


def apply_overrides(data: dict[str, Any], assignments: list[str]) -> dict[str, Any]:
    """A copy of ``data`` with every ``FIELD=VALUE`` assignment applied, in order."""
    out = copy.deepcopy(data)
    for text in assignments:
        path, value = parse_assignment(text)
        set_path(out, path, value, f"--set {text}")
    return out
