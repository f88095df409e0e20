"""Safe YAML loading that remembers where every value came from.

``load_yaml`` returns the plain Python data together with a ``Marks`` map from a field path
(a tuple of mapping keys and sequence indices) to its 1-based (line, column) in the file, so that
validation errors can name the line. The loader

* refuses duplicate keys (plain PyYAML silently keeps the last one),
* caps the expanded document at ``MAX_NODES`` nodes (anchors/aliases stay usable, a
  "billion laughs" file is refused),
* turns every parser failure into a :class:`twin.core.errors.ScenarioError` with a line number.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from twin.core.errors import ScenarioError

MAX_NODES = 100_000

Path_t = tuple[str | int, ...]


class Marks:
    """Field path -> (line, column), both 1-based. Keys point at the key's own position."""

    def __init__(self) -> None:
        self._marks: dict[Path_t, tuple[int, int]] = {}
        self._values: dict[tuple[int, int], Path_t] = {}

    def add(self, path: Path_t, mark: yaml.Mark) -> None:
        self._marks.setdefault(path, (mark.line + 1, mark.column + 1))

    def add_value(self, path: Path_t, mark: yaml.Mark) -> None:
        """Remember that the value of ``path`` starts at ``mark``."""
        self._values.setdefault((mark.line + 1, mark.column + 1), path)

    def path_of_value(self, line: int, column: int) -> Path_t | None:
        """The field whose value starts at (line, column), if any."""
        return self._values.get((line, column))

    def locate(self, path: Path_t) -> tuple[Path_t, tuple[int, int] | None]:
        """Deepest known prefix of ``path`` and its position.

        Path elements that are not keys in the file (pydantic union tags, for example) are
        skipped, so ``('recipe', 0, 'exponential', 'mean')`` finds ``('recipe', 0, 'mean')``.
        """
        found = self._marks.get((), None)
        cur: Path_t = ()
        for part in path:
            candidate = cur + (part,)
            if candidate in self._marks:
                cur = candidate
                found = self._marks[cur]
        return cur, found


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys and resolves plain scalars the YAML 1.2 way:
    only ``true``/``false`` are booleans (``no`` stays the string "no"), integers are decimal
    (``017`` is not octal 15), ``1:30`` is a string (not base-60 90), ``1e3`` is a float."""

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        return int(self.construct_scalar(node))

    def construct_yaml_timestamp(self, node: yaml.ScalarNode):  # type: ignore[override]
        try:
            return super().construct_yaml_timestamp(node)
        except ValueError as err:  # e.g. 2027-02-30
            raise ScenarioError(
                f"not a valid date or time: {node.value!r} ({err})",
                line=node.start_mark.line + 1,
                column=node.start_mark.column + 1,
            ) from None

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[Any, yaml.Mark] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                hash(key)
            except TypeError:
                raise ScenarioError(
                    "a mapping key must be a plain value",
                    line=key_node.start_mark.line + 1,
                    column=key_node.start_mark.column + 1,
                ) from None
            if key in seen:
                first = seen[key]
                raise ScenarioError(
                    f"duplicate key {key!r} (first defined on line {first.line + 1})",
                    line=key_node.start_mark.line + 1,
                    column=key_node.start_mark.column + 1,
                    field=str(key),
                )
            seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


_BOOL = "tag:yaml.org,2002:bool"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in (_BOOL, _INT, _FLOAT)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(_BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
_Loader.add_implicit_resolver(_INT, re.compile(r"^[-+]?[0-9]+$"), list("-+0123456789"))
_Loader.add_implicit_resolver(
    _FLOAT,
    re.compile(r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"),
    list("-+0123456789."),
)
_Loader.add_constructor(_INT, _Loader.construct_yaml_int)
_Loader.add_constructor("tag:yaml.org,2002:timestamp", _Loader.construct_yaml_timestamp)


def _collect_marks(node: yaml.Node, path: Path_t, marks: Marks, budget: list[int]) -> None:
    budget[0] -= 1
    if budget[0] < 0:
        raise ScenarioError(
            f"document too large once aliases are expanded (more than {MAX_NODES} nodes)"
        )
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            key = key_node.value
            marks.add(path + (key,), key_node.start_mark)
            marks.add_value(path + (key,), value_node.start_mark)
            _collect_marks(value_node, path + (key,), marks, budget)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            marks.add(path + (i,), item.start_mark)
            _collect_marks(item, path + (i,), marks, budget)


#: YAML parser problems that almost always mean a line indented wrongly.
INDENTATION_PROBLEMS = ("mapping values are not allowed", "expected <block end>", "did not find expected key",
                        "could not find expected ':'", "expected '<document start>'")


def _indentation_hint(problem: str) -> str:
    """Advice to add to a YAML syntax error that is usually an indentation mistake."""
    if "'\\t'" in problem or "\\t" in problem:
        return "; YAML indents with spaces, not tabs: replace the tab with spaces"
    if any(p in problem for p in INDENTATION_PROBLEMS):
        return ("; check the indentation of this line and the line above (spaces only): keys of one section "
                "line up under each other, and a nested value is indented further than its key")
    return ""


def parse_yaml(text: str, source: str = "<string>") -> tuple[Any, Marks]:
    """Parse YAML text into plain data plus the position of every field.

    Raises:
        ScenarioError: on a syntax error, a duplicate key or an oversized document; the error
            names ``source`` and the line.
    """
    loader = _Loader(text)
    marks = Marks()
    try:
        node = loader.get_single_node()
        if node is None:
            return None, marks
        marks.add((), node.start_mark)
        _collect_marks(node, (), marks, [MAX_NODES])
        data = loader.construct_document(node)
    except ScenarioError as err:
        err.file = err.file or source
        if err.field is None and err.line is not None and err.column is not None:
            path = marks.path_of_value(err.line, err.column)
            if path:
                err.field = ".".join(str(p) for p in path)
        raise
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        problem = err.problem or "invalid YAML"
        if err.context:
            ctx = err.context
            cm = err.context_mark
            if cm is not None and mark is not None and cm.line != mark.line:
                ctx += f" opened on line {cm.line + 1}"
            problem = f"{ctx}, {problem}"
        raise ScenarioError(
            f"YAML syntax error: {problem}{_indentation_hint(problem)}",
            file=source,
            line=mark.line + 1 if mark else None,
            column=mark.column + 1 if mark else None,
        ) from None
    except (yaml.YAMLError, RecursionError, ValueError) as err:
        raise ScenarioError(f"cannot read YAML: {err}", file=source) from None
    finally:
        loader.dispose()
    return data, marks


def _nearby(p: Path) -> str:
    """``; did you mean 'X'?`` for a missing file: the same name with ``.yaml``, or the closest
    YAML file name in its folder (``centralized.yaml`` -> ``centralised.yaml``)."""
    import difflib

    for cand in (p.with_name(p.name + ".yaml"), p.with_suffix(".yaml")):
        if cand != p and cand.is_file():
            return f"; did you mean {str(cand)!r}?"
    folder = p.parent if p.parent.is_dir() else None
    if folder is None:
        return ""
    names = sorted(f.name for f in folder.glob("*.y*ml"))[:1000]
    close = difflib.get_close_matches(p.name if p.suffix else p.name + ".yaml", names, n=1, cutoff=0.75)
    return f"; did you mean {str(p.with_name(close[0]))!r}?" if close else ""


def load_yaml(path: str | Path) -> tuple[Any, Marks]:
    """Read and parse a YAML file; see :func:`parse_yaml`."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError(f"file not found{_nearby(p)}", file=str(path)) from None
    except (OSError, UnicodeDecodeError) as err:
        raise ScenarioError(f"cannot read file: {err}", file=str(path)) from None
    return parse_yaml(text, source=str(path))
