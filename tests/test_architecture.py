"""The shape of the package: no import cycles, ``import geoxai`` and listing plugins import no torch."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import geoxai

PACKAGE = Path(geoxai.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.Module, module: str, is_package: bool, local: bool, typing_only: bool = False) -> set[str]:
    """geoxai modules imported by ``module``: at module level, or (``local``) anywhere; imports
    under ``if TYPE_CHECKING:`` count only with ``typing_only``."""
    found: set[str] = set()

    def visit(node: ast.AST, in_function: bool) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node) and not typing_only:
            for child in node.orelse:
                visit(child, in_function)
            return
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            in_function = True
        if isinstance(node, (ast.Import, ast.ImportFrom)) and (local or not in_function):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = module if is_package else module.rpartition(".")[0]
                for _ in range(max(0, node.level - 1)):
                    base = base.rpartition(".")[0]
                stem = node.module or ""
                root = (f"{base}.{stem}" if stem else base) if node.level else stem
                # "from . import x" may name a submodule: count both the package and it
                targets = [root] + [f"{root}.{alias.name}" for alias in node.names]
            found.update(t for t in targets if t == "geoxai" or t.startswith("geoxai."))
        for child in ast.iter_child_nodes(node):
            visit(child, in_function)

    visit(tree, False)
    return found


def import_graph(local: bool, typing_only: bool = False) -> dict[str, set[str]]:
    sources = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {}
    for module, path in sources.items():
        imported = _imports(ast.parse(path.read_text(encoding="utf-8")), module, path.name == "__init__.py", local,
                            typing_only)
        # an edge to a name that is not a module (``from .x import func``) stays on its module
        graph[module] = {m for m in imported if m in sources and m != module}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def _parents(module: str) -> set[str]:
    parts = module.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts))}


@pytest.mark.parametrize("local, typing_only", [(False, False), (True, False), (True, True)],
                         ids=["module-level", "with-function-local-imports", "with-type-checking-imports"])
def test_geoxai_has_no_import_cycle(local, typing_only):
    """Data flows one way (docs/architecture.md): not even a deferred or a typing-only import
    goes back up."""
    graph = import_graph(local, typing_only)
    # a package importing its own submodules (lazily or not) and a submodule needing its
    # package are one unit, not a cycle; everything else must flow one way
    graph = {m: {t for t in targets if t not in _parents(m) and m not in _parents(t)}
             for m, targets in graph.items()}
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_nothing_outside_the_cli_imports_the_cli():
    """The CLI is a leaf: the pipeline, the app, report and quality never import ``geoxai.cli``
    (deferred and typing-only imports included); only ``python -m geoxai`` starts it."""
    graph = import_graph(local=True, typing_only=True)
    def in_cli(name: str) -> bool:
        return name == "geoxai.cli" or name.startswith("geoxai.cli.")

    offenders = sorted(f"{module} -> {target}" for module, targets in graph.items()
                       if not in_cli(module) and module != "geoxai.__main__"
                       for target in targets if in_cli(target))
    assert not offenders, offenders
    assert "geoxai.cli" in graph["geoxai.__main__"]  # the check sees imports of the CLI where they are


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    tree = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .b import X\n"
                     "from .c import Y\ndef f():\n    from ..d import Z\n")
    assert _imports(tree, "geoxai.pkg.a", False, local=False) == {"geoxai.pkg.c", "geoxai.pkg.c.Y"}
    assert "geoxai.d" in _imports(tree, "geoxai.pkg.a", False, local=True)


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_import_geoxai_and_listing_plugins_import_no_torch():
    code = (
        "import sys, geoxai\n"
        "assert 'torch' not in sys.modules, 'import geoxai imported torch'\n"
        "table = geoxai.available()\n"
        "assert table['models'] and table['explainers'] and table['engines']\n"
        "assert 'torch' not in sys.modules, 'listing plugins imported torch'\n"
        "from click.testing import CliRunner\n"
        "from geoxai.cli import main\n"
        "for args in (['--help'], ['plugins'], ['report', '--help']):\n"
        "    result = CliRunner().invoke(main, args)\n"
        "    assert result.exit_code == 0, result.output\n"
        "    assert 'torch' not in sys.modules, f'geoxai {args} imported torch'\n"
        "print(sorted(m for m in sys.modules if m.startswith('geoxai')))\n"
    )
    result = _run(code)
    assert result.returncode == 0, result.stderr


def test_lazy_exports_resolve_to_their_modules():
    result = _run("import sys, geoxai\n"
                  "assert geoxai.GeoModel.__module__ == 'geoxai.interfaces'\n"
                  "assert geoxai.concept_influence.__module__ == 'geoxai.ci'\n"
                  "assert 'torch' in sys.modules\n"
                  "assert set(geoxai.__all__) <= set(dir(geoxai))\n"
                  "try:\n    geoxai.nope\nexcept AttributeError as e:\n    print(e)\n")
    assert result.returncode == 0, result.stderr
    assert "has no attribute 'nope'" in result.stdout
