"""The layout rules of docs/architecture.md, checked on the source: a package imports only the
packages below it (lazy imports inside functions count too), modules import each other without
cycles, and no module grows past the size a reader takes in at once."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "toolchain"

# Lowest first: the order of docs/architecture.md's table.
LAYERS = ("core", "data", "train", "export", "quality", "codegen", "link", "target", "device", "report", "cli")
MAX_LINES = 500


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def _imports(name: str) -> set[str]:
    """Every toolchain module `name` imports, at module level or inside a function."""
    tree = ast.parse(MODULES[name].read_text(), str(MODULES[name]))
    here = name if _is_package(name) else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("toolchain"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here.split(".")
                base = base[:len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if not mod.startswith("toolchain"):
                continue
            for a in node.names:  # `from . import x` names a module when x is one
                found.add(f"{mod}.{a.name}" if f"{mod}.{a.name}" in MODULES else mod)
    return {m for m in found if m in MODULES and m != name}


def _layer(name: str) -> str | None:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else None


def test_every_module_lives_in_a_layer():
    loose = [n for n in MODULES if n != "toolchain" and _layer(n) not in LAYERS]
    assert not loose, f"modules outside the layers of docs/architecture.md: {loose}"
    assert set(LAYERS) == {_layer(n) for n in MODULES if n != "toolchain"}, "a layer with no code"


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n != "toolchain"))
def test_a_package_imports_only_the_layers_below_it(name):
    mine = LAYERS.index(_layer(name))
    upward = sorted(m for m in _imports(name) if _layer(m) and LAYERS.index(_layer(m)) > mine)
    assert not upward, f"{name} ({LAYERS[mine]}) imports a higher layer: {upward}"


def test_modules_import_each_other_without_cycles():
    graph = {n: _imports(n) for n in MODULES}
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(n: str, path: list[str]) -> None:
        state[n] = 1
        for m in sorted(graph[n]):
            if _is_package(m) and n.startswith(m + "."):
                continue  # a module may import its own package's re-exports
            if state.get(m) == 1:
                cycle = path[path.index(m):] + [m] if m in path else [n, m]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if m not in state:
                visit(m, path + [m])
        state[n] = 2

    for n in sorted(graph):
        if n not in state:
            visit(n, [n])


def test_no_module_is_longer_than_a_reader_takes_in():
    long = {n: len(p.read_text().splitlines()) for n, p in MODULES.items()}
    long = {n: k for n, k in long.items() if k > MAX_LINES}
    assert not long, f"split these by concern (over {MAX_LINES} lines): {long}"


def test_the_rule_checker_sees_lazy_and_relative_imports():
    """The checker itself: a lazy relative import inside a function is found and resolved."""
    deps = _imports("toolchain.target.build")
    assert "toolchain.link.client" in deps  # imported inside measure_emulated()
    assert "toolchain.core.boards" in deps
