"""The package's import graph: no cycles, and each part uses only what it may (design.md).

Every import counts, also one inside a function: a cycle hidden there is still a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = "dynamic_dynamodb"
ROOT = Path(__file__).resolve().parents[2] / PACKAGE


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(name: str) -> bool:
    relative = Path(*name.split("."))
    return (ROOT.parent / relative).with_suffix(".py").exists() or (
        ROOT.parent / relative / "__init__.py").exists()


def import_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in ROOT.rglob("*.py"):
        imported: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                if not node.module.startswith(PACKAGE):
                    continue
                imported.add(node.module)
                # `from dynamic_dynamodb import logs` imports the module dynamic_dynamodb.logs
                imported.update(f"{node.module}.{alias.name}" for alias in node.names
                                if _is_module(f"{node.module}.{alias.name}"))
            elif isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names
                                if alias.name.startswith(PACKAGE))
        name = _module_name(path)
        graph[name] = {module for module in imported if module != name}
    return graph


GRAPH = import_graph()


def _cycle_from(start: str) -> list[str] | None:
    path: list[str] = []
    on_path: set[str] = set()

    def visit(module: str) -> list[str] | None:
        if module in on_path:
            return [*path[path.index(module):], module]
        if module not in GRAPH:
            return None
        path.append(module)
        on_path.add(module)
        for target in sorted(GRAPH[module]):
            # a package's __init__ is imported by its own modules' absolute imports; skip it
            if module.startswith(f"{target}."):
                continue
            found = visit(target)
            if found:
                return found
        path.pop()
        on_path.discard(module)
        return None

    return visit(start)


def test_the_graph_is_read() -> None:
    assert "dynamic_dynamodb.policy.decide" in GRAPH["dynamic_dynamodb.engine"]
    assert "dynamic_dynamodb.runner" in GRAPH["dynamic_dynamodb.daemon"]


def test_no_import_cycles() -> None:
    cycles = [cycle for module in sorted(GRAPH) if (cycle := _cycle_from(module))]
    assert not cycles, " ; ".join(" -> ".join(cycle) for cycle in cycles)


# What each part may import of ours (anything else of ours is forbidden).
ALLOWED = {
    "dynamic_dynamodb.policy": {"dynamic_dynamodb.policy", "dynamic_dynamodb.dimensions",
                                "dynamic_dynamodb.windows", "dynamic_dynamodb.config.options",
                                "dynamic_dynamodb.config.schema"},
    "dynamic_dynamodb.config": {"dynamic_dynamodb.config", "dynamic_dynamodb.dimensions",
                                "dynamic_dynamodb.windows", "dynamic_dynamodb.errors"},
    "dynamic_dynamodb.aws": {"dynamic_dynamodb.aws", "dynamic_dynamodb.errors"},
    "dynamic_dynamodb.breaker": {"dynamic_dynamodb.errors"},
    "dynamic_dynamodb.dimensions": set(),
    "dynamic_dynamodb.windows": set(),
    "dynamic_dynamodb.notify": {"dynamic_dynamodb.policy", "dynamic_dynamodb.dimensions"},
}


def _allowed(target: str, allowed: set[str]) -> bool:
    return target == PACKAGE or any(
        target == prefix or target.startswith(f"{prefix}.") for prefix in allowed)


@pytest.mark.parametrize("part", sorted(ALLOWED))
def test_each_part_imports_only_what_it_may(part: str) -> None:
    offences = [
        f"{module} imports {target}"
        for module, targets in sorted(GRAPH.items())
        if module == part or module.startswith(f"{part}.")
        for target in sorted(targets)
        if not _allowed(target, ALLOWED[part])
    ]
    assert not offences, "; ".join(offences)


def test_only_the_entry_points_import_the_cli() -> None:
    importers = sorted(module for module, targets in GRAPH.items()
                       if "dynamic_dynamodb.cli" in targets)
    assert importers == ["dynamic_dynamodb.__main__"]


def test_nothing_live_imports_the_simulator() -> None:
    live = [module for module, targets in GRAPH.items()
            if not module.startswith("dynamic_dynamodb.simulate") and module != "dynamic_dynamodb.cli"
            and any(target.startswith("dynamic_dynamodb.simulate") for target in targets)]
    assert not live
