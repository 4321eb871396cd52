"""The import graph of the packages: no cycle, and the layers point one way.

``sensors/`` (devices and files → readings) and ``limits/`` (standards as data) never import
``monitoring/`` (the domain); ``dags/`` sit on top. Walks every ``.py`` file with :mod:`ast`, so imports
inside functions count too (an in-function import is still an arrow, it only runs later).
"""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("sensors", "limits", "monitoring", "dags")
#: (importer top-level package, imported top-level package) pairs that must not exist.
FORBIDDEN = {("sensors", "monitoring"), ("limits", "monitoring"), ("sensors", "dags"), ("limits", "dags"),
             ("monitoring", "dags")}


def _modules() -> dict[str, Path]:
    mods: dict[str, Path] = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            mods[".".join(parts)] = path
    return mods


def import_graph() -> dict[str, set[str]]:
    """Module → the project modules it imports (``from a.b import c`` resolves to ``a.b.c`` when that is a
    module, else ``a.b``)."""
    mods = _modules()

    def resolve(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for mod, path in mods.items():
        is_pkg = path.name == "__init__.py"
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = mod.split(".") if is_pkg else mod.split(".")[:-1]
                    base = base[: len(base) - node.level + 1]
                    head = ".".join(base + ([node.module] if node.module else []))
                else:
                    head = node.module or ""
                # ``from pkg import sub`` imports the module ``pkg.sub`` (an arrow to it, like
                # ``import pkg.sub``); ``from pkg import name`` is an arrow to ``pkg`` itself
                names = [f"{head}.{a.name}" if f"{head}.{a.name}" in mods else head for a in node.names]
            for n in names:
                if n.split(".")[0] in PACKAGES and (r := resolve(n)) and r != mod:
                    targets.add(r)
        graph[mod] = targets
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), i.e. the import cycles."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def package_arrows(graph: dict[str, set[str]]) -> Counter:
    """(importer package, imported package) → number of module-level arrows between them."""
    return Counter((a.split(".")[0], b.split(".")[0]) for a, bs in graph.items() for b in bs
                   if a.split(".")[0] != b.split(".")[0])


def test_graph_sees_the_packages() -> None:
    graph = import_graph()
    # the walker must find real arrows, or the tests below could not fail
    assert "sensors.schema" in graph["sensors.hj212.readings"]
    assert package_arrows(graph)[("monitoring", "sensors")] > 0


def test_no_import_cycle() -> None:
    found = cycles(import_graph())
    assert not found, "import cycles:\n" + "\n".join(" → ".join(c) for c in found)


@pytest.mark.parametrize("low, high", sorted(FORBIDDEN))
def test_layers_point_one_way(low: str, high: str) -> None:
    bad = sorted(f"{a} → {b}" for a, bs in import_graph().items() for b in bs
                 if a.split(".")[0] == low and b.split(".")[0] == high)
    assert not bad, f"{low}/ must not import {high}/:\n" + "\n".join(bad)


def test_cycle_detector_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


@pytest.mark.parametrize("package", ["sensors", "limits", "monitoring"])
def test_every_module_imports(package: str) -> None:
    """A moved name must not leave an import behind that only fails when its module is first loaded."""
    import importlib

    skip = ("monitoring.migrations.env", "monitoring.migrations.versions")  # run by Alembic only
    for mod in sorted(m for m in _modules() if m.split(".")[0] == package and not m.startswith(skip)):
        importlib.import_module(mod)
