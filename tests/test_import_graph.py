"""No import cycles in the `assistant` package: every import between its modules (at module level, inside a
function, or for type checking only) is an edge of one graph, which must have a topological order."""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "assistant"


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _resolve(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")[: len(module.split(".")) - node.level + (1 if is_package else 0)]
    return ".".join([*base, *([node.module] if node.module else [])])


def import_graph() -> dict[str, set[str]]:
    """Module -> the package's modules it imports. `from pkg import name` is an edge to `pkg.name` when that
    is a module, else to `pkg`; the implicit import of a module's parent packages is not an edge."""
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                source = _resolve(node, name, path.name == "__init__.py")
                targets = [f"{source}.{a.name}" if f"{source}.{a.name}" in modules else source for a in node.names]
            graph[name].update(t for t in targets if t in modules and t != name)
    return graph


def test_the_package_has_no_import_cycle() -> None:
    graph = import_graph()
    try:
        tuple(TopologicalSorter(graph).static_order())
    except CycleError as exc:
        pytest.fail(f"import cycle: {' -> '.join(exc.args[1])}")


def test_the_checker_sees_the_imports_it_must() -> None:
    """The graph is not empty by accident: known edges are there, type-only and function-level ones too."""
    graph = import_graph()
    assert "assistant.agent.graph" in graph["assistant.agent.assistant"]
    assert "assistant.agent.state" in graph["assistant.agent.llm"]
    assert "assistant.index.state" in graph["assistant.index.ingest"]  # `from assistant.index import state`
    assert "assistant.corpus.operators" in graph["assistant.corpus.loader"]  # inside a function
    cyclic = {**graph, "assistant.agent.state": graph["assistant.agent.state"] | {"assistant.agent.llm"}}
    with pytest.raises(CycleError):
        tuple(TopologicalSorter(cyclic).static_order())
