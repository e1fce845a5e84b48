"""The built-ins are built like a third-party plugin: the models, explainers and segmenters import
only public geoxai modules and names from outside their own package, and never another built-in."""
from __future__ import annotations

import ast
from pathlib import Path

import geoxai
from geoxai import plugins

PACKAGE = Path(geoxai.__file__).parent
BUILT_IN_PACKAGES = ("geoxai.models", "geoxai.explainers", "geoxai.segmenters")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path) -> list[tuple[str, str | None]]:
    """(module, name or None) for every geoxai import of the file, relative ones resolved."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(max(0, node.level - 1)):
                base = base.rpartition(".")[0]
            root = (f"{base}.{node.module}" if node.module else base) if node.level else (node.module or "")
            found += [(root, alias.name) for alias in node.names]
    return [(m, n) for m, n in found if m == "geoxai" or m.startswith("geoxai.")]


def _private(dotted: str) -> bool:
    return any(part.startswith("_") for part in dotted.split("."))


def _package_of(module: str) -> str:
    return next((p for p in BUILT_IN_PACKAGES if module == p or module.startswith(p + ".")), module)


def problems(path: Path, built_ins: set[str]) -> list[str]:
    module = _module_name(path)
    own = _package_of(module)
    found = []
    for target, name in imported(path):
        # "from . import x" may name a submodule: judge the submodule then
        full = f"{target}.{name}" if name else target
        judged = full if (PACKAGE.parent / (full.replace(".", "/") + ".py")).is_file() else target
        if _package_of(judged) != own and _private(full):
            found.append(f"{module} imports private {full}")
        if judged in built_ins and judged != module and _package_of(judged) == own:
            found.append(f"{module} imports the built-in {judged}")
    return found


def built_in_modules() -> set[str]:
    modules = set()
    for kind in ("model", "explainer", "segmenter"):
        for reg in plugins.registry().entries[kind].values():
            if isinstance(reg.factory, str) and reg.distribution == "geoxai":
                modules.add(reg.factory.partition(":")[0])
    return modules


def test_built_ins_import_only_public_geoxai_modules():
    built_ins = built_in_modules()
    assert {"geoxai.explainers.gradcam", "geoxai.explainers.combicam", "geoxai.segmenters.smp",
            "geoxai.models.s2"} <= built_ins
    files = [p for pkg in BUILT_IN_PACKAGES for p in (PACKAGE.parent / pkg.replace(".", "/")).glob("*.py")]
    assert len(files) > 20
    found = [problem for path in files for problem in problems(path, built_ins)]
    assert not found, "\n".join(found)


def test_the_checker_finds_private_and_built_in_imports(tmp_path, monkeypatch):
    fake = PACKAGE / "explainers" / "gradcam.py"
    source = ("from ..segmenters._checkpoint import load_strict\nfrom ..targets import _gather\n"
              "from .combicam import CombiCAM\nfrom ._attention import token_map\nfrom .cam import CAMExplainer\n")
    monkeypatch.setattr(Path, "read_text", lambda self, encoding=None: source)
    found = problems(fake, {"geoxai.explainers.combicam", "geoxai.explainers.gradcam"})
    assert found == ["geoxai.explainers.gradcam imports private geoxai.segmenters._checkpoint.load_strict",
                     "geoxai.explainers.gradcam imports private geoxai.targets._gather",
                     "geoxai.explainers.gradcam imports the built-in geoxai.explainers.combicam"], found
