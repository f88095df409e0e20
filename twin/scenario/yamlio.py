"""Safe YAML loading that remembers where every value came from.

``load_yaml`` returns the plain Python data together with a ``Marks`` map from a field path
(a tuple of mapping keys and sequence indices) to its 1-based (line, column) in the file, so that
validation errors can name the line. The loader

* refuses duplicate keys (plain PyYAML silently keeps the last one),
* caps the expanded document at ``MAX_NODES`` nodes (anchors/aliases stay usable, a
  "billion laughs" file is refused) and its nesting at ``MAX_DEPTH`` levels,
* supports merge keys (``<<: *anchor``, ``<<: [*a, *b]``): the keys written in the mapping win,
  a key written twice is still refused, and merged fields keep the line of their anchor,
* refuses control characters and bad UTF-8 at their line and column, and reads only regular
  files of at most :data:`twin.core.files.MAX_INPUT_BYTES`,
* turns every parser failure into a :class:`twin.core.errors.ScenarioError` with a line number,
  echoing at most :data:`twin.core.errors.MAX_ECHO` characters of a value.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from twin.core.errors import InputError, ScenarioError, clip, cut
from twin.core.files import read_input

MAX_NODES = 100_000
MAX_DEPTH = 64
"""Deepest nesting of mappings and lists accepted (assumption: a scenario nests at most ~8 levels)."""

_MERGE = "tag:yaml.org,2002:merge"
# What the YAML reader refuses (its NON_PRINTABLE), found before parsing so the error has a line.
_NON_PRINTABLE = re.compile("[^\x09\x0A\x0D\x20-\x7E\x85\xA0-\uD7FF\uE000-\uFFFD\U00010000-\U0010ffff]")

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

    _depth = 0

    def compose_node(self, parent, index):  # type: ignore[no-untyped-def]
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise ScenarioError(f"nested more than {MAX_DEPTH} levels deep", line=mark.line + 1,
                                    column=mark.column + 1)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        return int(self.construct_scalar(node))

    def construct_yaml_timestamp(self, node: yaml.ScalarNode):  # type: ignore[override]
        try:
            return super().construct_yaml_timestamp(node)
        except ValueError as err:  # e.g. 2027-02-30
            raise ScenarioError(
                f"not a valid date or time: {clip(node.value)} ({err})",
                line=node.start_mark.line + 1,
                column=node.start_mark.column + 1,
            ) from None

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[Any, yaml.Mark] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE:  # merged keys may be overridden; flatten_mapping merges them
                continue
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
                    f"duplicate key {clip(key)} (first defined on line {first.line + 1})",
                    line=key_node.start_mark.line + 1,
                    column=key_node.start_mark.column + 1,
                    field=clip(str(key)).strip("'\""),
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


def _collect_marks(node: yaml.Node, path: Path_t, marks: Marks, budget: list[int], depth: int = 0) -> None:
    budget[0] -= 1
    if budget[0] < 0 or depth > MAX_DEPTH:
        what = (f"more than {MAX_NODES:,} values" if budget[0] < 0 else f"nested more than {MAX_DEPTH} levels deep")
        raise ScenarioError(f"document too large once aliases are expanded ({what})",
                            line=node.start_mark.line + 1, column=node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        merged: list[yaml.Node] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                merged += value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            key = key_node.value
            marks.add(path + (key,), key_node.start_mark)
            marks.add_value(path + (key,), value_node.start_mark)
            _collect_marks(value_node, path + (key,), marks, budget, depth + 1)
        for sub in merged:  # after the mapping's own keys, which win
            if isinstance(sub, yaml.MappingNode):
                _collect_marks(sub, path, marks, budget, depth)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            marks.add(path + (i,), item.start_mark)
            _collect_marks(item, path + (i,), marks, budget, depth + 1)


def _check_printable(text: str, source: str) -> None:
    bad = _NON_PRINTABLE.search(text)
    if bad is None:
        return
    at = bad.start()
    line = text.count("\n", 0, at) + 1
    column = at - (text.rfind("\n", 0, at) + 1) + 1
    raise ScenarioError(f"control character {ord(bad.group()):#04x} is not allowed in YAML (remove it or quote it "
                        f"as an escape, e.g. \"\\t\")", file=source, line=line, column=column)


def decode_utf8(data: bytes, source: str) -> str:
    """``data`` as UTF-8 text (a leading BOM dropped); bad bytes are an error at their line and column."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        column = len(data[data.rfind(b"\n", 0, err.start) + 1 : err.start].decode("utf-8", "replace")) + 1
        raise ScenarioError(f"not UTF-8 text: byte {data[err.start]:#04x} cannot be decoded (save the file as UTF-8)",
                            file=source, line=line, column=column) from None
    return text.removeprefix("\ufeff")


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
    _check_printable(text, source)
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
        problem = cut(err.problem or "invalid YAML", 160)
        if err.context:
            ctx = cut(err.context, 160)
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
    except RecursionError:
        raise ScenarioError(f"nested too deeply (at most {MAX_DEPTH} levels)", file=source) from None
    except (yaml.YAMLError, ValueError, TypeError, OverflowError) as err:
        raise ScenarioError(f"cannot read YAML: {cut(str(err), 160)}", file=source) from None
    finally:
        loader.dispose()
    return data, marks


def nearby_file(p: Path) -> str:
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


def load_yaml(path: str | Path, what: str = "YAML file") -> tuple[Any, Marks]:
    """Read and parse a YAML file (a regular file of at most
    :data:`twin.core.files.MAX_INPUT_BYTES`); see :func:`parse_yaml`."""
    try:
        data = read_input(path, what)
    except InputError as err:
        near = nearby_file(Path(path)) if err.message == "file not found" else ""
        raise ScenarioError(err.message + near, file=err.file) from None
    return parse_yaml(decode_utf8(data, str(path)), source=str(path))
