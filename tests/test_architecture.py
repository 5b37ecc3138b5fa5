"""The floors of vibmag (docs/architecture.md): every import points down or sideways, and none makes a circle.

Every module's imports are read with ``ast``, function-local ones included, so
the check sees what a reader (or an import-graph tool) sees.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "vibmag"

#: Floor of each part of the package, lowest first; a module may import its own floor or lower ones.
FLOORS = {
    "vibmag.errors": 0, "vibmag.units": 0, "vibmag.files": 0,
    "vibmag.recording": 1, "vibmag.streaming": 1, "vibmag.progress": 1,
    "vibmag.io": 2, "vibmag.flow": 2, "vibmag.analysis": 2, "vibmag.synthetic": 2, "vibmag.sample_data": 2,
    "vibmag.magnification": 3, "vibmag.viz": 3,
    "vibmag.pipeline": 4, "vibmag.survey": 4,
    "vibmag.cli": 5, "vibmag.demo": 5, "vibmag.batch": 5, "vibmag.napari": 5,
}  # fmt: skip


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def floor_of(module: str) -> int:
    """The floor of the part of vibmag that ``module`` belongs to."""
    part = ".".join(module.split(".")[:2])
    if part not in FLOORS:
        raise AssertionError(f"{module}: not on any floor; add {part!r} to FLOORS (and docs/architecture.md)")
    return FLOORS[part]


def imports_of(module: str) -> set[str]:
    """vibmag modules imported anywhere in ``module`` (package ``__init__`` counted as the package)."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in MODULES}
    inside = {name for name in found if name.split(".")[0] == "vibmag"}
    return {_known(name) for name in inside} - {module, "vibmag"}


def _known(name: str) -> str:
    """The nearest enclosing module of vibmag that exists (``vibmag.flow.warp.warp`` -> ``vibmag.flow.warp``)."""
    while name not in MODULES:
        name = name.rpartition(".")[0]
    return name


GRAPH = {module: imports_of(module) for module in MODULES}


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m != "vibmag"))
def test_imports_point_down_the_floors(module):
    up = sorted(target for target in GRAPH[module] if floor_of(target) > floor_of(module))
    assert not up, f"{module} (floor {floor_of(module)}) imports from a higher floor: {up}"


def test_no_import_circles():
    """No chain of imports leads back to where it started (a package's own submodules excepted)."""
    state, circles = {}, []

    def visit(module, trail):
        state[module] = "open"
        for target in sorted(GRAPH[module]):
            if target.startswith(module + "."):
                continue  # a package importing its own modules
            if state.get(target) == "open":
                circles.append(trail[trail.index(target):] + [target] if target in trail else trail + [target])
            elif target not in state:
                visit(target, trail + [target])
        state[module] = "done"

    for module in sorted(MODULES):
        if module not in state:
            visit(module, [module])
    assert not circles, "import circles:\n" + "\n".join(" -> ".join(c) for c in circles)


def test_the_parts_of_the_package_make_no_circle():
    """The parts of FLOORS, as a graph (flow -> analysis, analysis -> flow would be a circle)."""
    parts = {}
    for module, targets in GRAPH.items():
        if module == "vibmag":
            continue
        here = ".".join(module.split(".")[:2])
        parts.setdefault(here, set()).update(".".join(t.split(".")[:2]) for t in targets)
    for here, targets in parts.items():
        for there in targets - {here}:
            assert here not in _reachable(parts, there), f"{here} and {there} import each other (directly or through others)"


def _reachable(graph: dict, start: str) -> set:
    seen, todo = set(), [start]
    while todo:
        node = todo.pop()
        for nxt in graph.get(node, ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def test_the_floor_test_reads_real_imports():
    """The reader finds a known import chain, so an empty graph cannot pass the checks above."""
    assert "vibmag.pipeline.magnifying" in GRAPH["vibmag.cli"] | {_known(t) for t in GRAPH["vibmag.pipeline"]}
    assert "vibmag.flow.api" in GRAPH["vibmag.flow"] and "vibmag.errors" in GRAPH["vibmag.recording"]
