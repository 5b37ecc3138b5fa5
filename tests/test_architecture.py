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
    "vibmag.cli": 5, "vibmag.demo": 5, "vibmag.batch": 5, "vibmag.napari": 5, "vibmag.reporting": 5,
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


#: Consecutive code lines (docstrings, comments and blank lines left out) that may not stand twice in vibmag/.
REPEAT_LINES = 6


def code_lines(path: Path) -> list[tuple[int, str]]:
    """``(line number, stripped text)`` of a module's code lines, without docstrings, comments and blank lines."""
    source = path.read_text()
    docstrings = set()
    for node in ast.walk(ast.parse(source)):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                and isinstance(body[0].value.value, str):
            docstrings.update(range(body[0].lineno, body[0].end_lineno + 1))
    lines = []
    for number, text in enumerate(source.splitlines(), start=1):
        text = text.split("  #")[0].strip()
        if text and not text.startswith("#") and number not in docstrings:
            lines.append((number, text))
    return lines


def repeated_blocks(paths: list[Path]) -> list[str]:
    """``"a.py:10 ~ b.py:40"`` for every run of REPEAT_LINES code lines standing in two places (imports excepted)."""
    seen, repeats = {}, []
    for path in paths:
        lines = code_lines(path)
        for i in range(len(lines) - REPEAT_LINES + 1):
            block = tuple(text for _, text in lines[i : i + REPEAT_LINES])
            if all(text.startswith(("from ", "import ", ")", "]", "}")) for text in block):
                continue
            here = (path, lines[i][0])
            first = seen.setdefault(block, here)
            if first[0] != path or here[1] - first[1] >= REPEAT_LINES:
                repeats.append(f"{first[0].name}:{first[1]} ~ {path.name}:{here[1]}")
    return repeats


def test_no_block_of_code_stands_twice():
    repeats = repeated_blocks(list(MODULES.values()))
    assert not repeats, "blocks of code written twice:\n" + "\n".join(repeats[:20])


def test_the_repeat_check_finds_a_copied_block(tmp_path):
    body = "".join(f"    total = total + {i} * value\n" for i in range(REPEAT_LINES))
    (tmp_path / "a.py").write_text(f"def f(value):\n    total = 0\n{body}    return total\n")
    (tmp_path / "b.py").write_text(f'def g(value):\n    """Docstring."""\n    total = 1\n{body}    return -total\n')
    assert repeated_blocks([tmp_path / "a.py", tmp_path / "b.py"]) == ["a.py:3 ~ b.py:4"]
