"""The house rules, checked on the source: layers import downwards only, no import cycle (imports
inside functions count; ``if TYPE_CHECKING:`` blocks do not), numba only in the kernel, reports
without the model or the scenario, a model without YAML loading or pandas, one meaning per file
name, and random stream names made only by the registry (docs/architecture.md)."""

from __future__ import annotations

import ast
import re
from collections import Counter
from functools import cache
from pathlib import Path

import pytest

from twin.model import streams

REPO = Path(__file__).resolve().parents[2]
PKG = REPO / "twin"

#: What each layer may import from twin (besides itself). The order is the data flow:
#: core <- kernel <- scenario <- model; results read only the record; reports read only results.
ALLOWED = {
    "core": set(),
    "kernel": {"core"},
    "scenario": {"core", "kernel"},
    "model": {"core", "kernel", "scenario"},
    "results": {"core"},
    "authoring": {"core", "kernel", "scenario"},
    "experiments": {"core", "kernel", "scenario", "model", "results"},
    "reports": {"core", "results"},
    "api": {"core", "scenario", "results", "experiments", "reports"},
    "cli": {"core", "kernel", "scenario", "model", "results", "authoring", "experiments", "reports", "api"},
    "__init__": {"core", "api"},
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PKG.rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST) -> list[tuple[str, list[str], int]]:
    """(module, names, line) of every import, at any depth, outside ``if TYPE_CHECKING:`` blocks."""
    out: list[tuple[str, list[str], int]] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            out.extend((a.name, [], node.lineno) for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.module, [a.name for a in node.names], node.lineno))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return out


@cache
def graph() -> dict[str, set[str]]:
    """Module -> the twin modules it imports (a ``from pkg import sub`` names the submodule)."""
    mods = modules()
    g: dict[str, set[str]] = {}
    for name, path in mods.items():
        deps: set[str] = set()
        for mod, names, _ in _imports(ast.parse(path.read_text())):
            if not mod.startswith("twin"):
                continue
            subs = [f"{mod}.{n}" for n in names if f"{mod}.{n}" in mods]
            deps |= set(subs) if subs and len(subs) == len(names) else {mod, *subs}
        g[name] = {d for d in deps if d in mods and d != name}
    return g


def external(name: str) -> set[str]:
    """Top-level packages outside twin that module ``name`` imports (at any depth)."""
    return {mod.split(".")[0] for mod, _, _ in _imports(ast.parse(modules()[name].read_text()))} - {"twin"}


def closure(start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        m = todo.pop()
        for d in graph()[m]:
            if d not in seen:
                seen.add(d)
                todo.append(d)
    return seen


def layer(name: str) -> str:
    parts = name.split(".")
    return "__init__" if len(parts) == 1 else parts[1]


def test_every_layer_imports_downwards_only():
    bad = [(m, d) for m, deps in graph().items() for d in deps
           if layer(d) != layer(m) and layer(d) not in ALLOWED[layer(m)]]
    assert not bad, f"imports against the layers (module -> import): {bad}"


def test_no_import_cycle():
    cycles = strongly_connected(graph())
    assert not cycles, f"import cycles: {cycles}"


def strongly_connected(g: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module of the import graph ``g``
    (Tarjan): each is an import cycle."""
    tarjan = _Tarjan(g)
    for v in sorted(g):
        if v not in tarjan.index:
            tarjan.visit(v)
    return tarjan.cycles


class _Tarjan:
    """Tarjan's strongly connected components of ``g``, found by :meth:`visit`."""

    def __init__(self, g: dict[str, set[str]]) -> None:
        self.g = g
        self.index: dict[str, int] = {}
        self.low: dict[str, int] = {}
        self.stack: list[str] = []
        self.cycles: list[list[str]] = []

    def visit(self, v: str) -> None:
        index, low, stack = self.index, self.low, self.stack
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in self.g[v]:
            if w not in index:
                self.visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = self._pop_component(v)
            if len(comp) > 1:
                self.cycles.append(sorted(comp))

    def _pop_component(self, v: str) -> list[str]:
        comp = []
        while True:
            w = self.stack.pop()
            comp.append(w)
            if w == v:
                return comp


def test_numba_only_in_the_kernel():
    bad = [m for m in modules() if {"numba", "llvmlite"} & external(m) and layer(m) != "kernel"]
    assert not bad


def test_reports_import_neither_model_nor_scenario():
    for m in (m for m in modules() if layer(m) == "reports"):
        reach = closure(m)
        assert not {d for d in reach if layer(d) in ("model", "scenario", "kernel", "experiments")}, m
        assert not {"simpy", "numba"} & set().union(external(m), *(external(d) for d in reach)), m


def test_model_does_no_yaml_loading_no_pandas_no_plotting():
    loading = {"twin.scenario.loading", "twin.scenario.yamlio", "twin.scenario.locate", "twin.scenario.overrides",
               "twin.scenario.catalogue", "twin.scenario.checks"}
    for m in (m for m in modules() if layer(m) == "model"):
        reach = closure(m)
        assert not reach & loading, (m, reach & loading)
        assert not {"yaml", "pandas", "plotly", "pyarrow"} & set().union(external(m), *(external(d) for d in reach)), m


def test_results_do_not_need_simpy():
    for m in (m for m in modules() if layer(m) == "results"):
        assert "simpy" not in set().union(external(m), *(external(d) for d in closure(m))), m


def test_no_two_modules_share_a_file_name():
    names = Counter(p.name for p in PKG.rglob("*.py") if p.name != "__init__.py")
    assert not [n for n, c in names.items() if c > 1]


def test_version_is_the_one_in_pyproject():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    from twin import __version__

    assert tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"] == __version__


def test_every_source_file_is_in_git():
    """A pattern in .gitignore once matched twin/results/ (meant for run output), so the layer
    was never committed and a fresh clone could not import it."""
    import shutil
    import subprocess

    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    ignored = subprocess.run(["git", "check-ignore", *map(str, PKG.rglob("*.py"))], cwd=REPO,
                             capture_output=True, text=True).stdout.split()
    assert not ignored


def test_ci_runs_the_readme_commands():
    """README's quick start gives the test command; .ci/run must run exactly that."""
    readme = (REPO / "README.md").read_text()
    ci = (REPO / ".ci" / "run").read_text()
    commands = re.findall(r"^(pip install .*)$", readme[: readme.index("## Commands")], re.M)
    assert len(commands) == 2 and "pytest" in commands[1]
    assert commands[1] in ci.splitlines()


def test_the_import_graph_sees_function_level_imports():
    """The rules above would be blind if imports inside functions were missed: the sweep
    executor imports the model inside a function."""
    assert "twin.model" in graph()["twin.experiments.sweep.execute"]


# -- random streams ------------------------------------------------------------------------------

STREAM_CALLS = {"u", "draw", "get"}


def _hand_made_stream_names(files: dict[str, Path]) -> list[str]:
    """Calls that take a stream name (``world.u(name, pid)``, ``world.draw(dist, name, pid)``,
    ``streams.get(name)``) given a literal or an f-string instead of the registry's."""
    found = []
    for name, path in files.items():
        if name == "twin.model.streams":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            f = node.func
            if f.attr not in STREAM_CALLS or not node.args:
                continue
            if f.attr == "get" and not (isinstance(f.value, ast.Attribute) and f.value.attr == "streams"):
                continue
            arg = node.args[1] if f.attr == "draw" and len(node.args) > 1 else node.args[0]
            if f.attr == "u" and len(node.args) != 2:
                continue
            if isinstance(arg, (ast.Constant, ast.JoinedStr, ast.BinOp)) and not (
                    isinstance(arg, ast.BinOp) and "AGAIN" in ast.unparse(arg)):
                found.append(f"{path.name}:{node.lineno}: {ast.unparse(node)[:80]}")
    return found


def test_no_stream_name_is_built_by_hand():
    assert not _hand_made_stream_names(modules())


def test_the_check_finds_a_hand_made_stream_name(tmp_path):
    bad = tmp_path / "probe.py"
    bad.write_text('def f(w, d, pid):\n    w.draw(d, "duration:x", pid)\n    w.streams.get(f"turnover:{pid}")\n'
                   '    return w.u(f"duraton:{pid}", pid)\n')
    assert len(_hand_made_stream_names({"probe": bad})) == 3


def _readme_streams() -> set[str]:
    text = (REPO / "README.md").read_text()
    section = text[text.index("### Randomness"):]
    section = section[: section.index("\n## ")]
    return {s for s in re.findall(r"`([^`\s]+)`", section) if re.fullmatch(r"[a-z_0-9]+(:[^`]*)?", s)
            and (":" in s or s in streams.REGISTRY)}


def test_readme_lists_exactly_the_registered_streams():
    assert _readme_streams() == set(streams.REGISTRY)


@pytest.mark.parametrize("name", sorted(streams.REGISTRY))
def test_registered_streams_have_a_purpose(name):
    assert streams.REGISTRY[name].strip()
