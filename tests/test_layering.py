"""engine/ never imports Qt, pyqtgraph, VTK or superqt; viewer/ imports torch only lazily.

The import-linter contracts in pyproject.toml (run by tools/test.sh) check the static import
graph; these tests add what that graph cannot see: modules imported by a *string*
(``importlib.import_module("PySide6.QtCore")``, ``__import__("vtk")``), even inside a
function, and what importing every module really loads.  docs/architecture.md has the rules.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GUI_MODULES = {"PySide6", "pyqtgraph", "vtk", "vtkmodules", "superqt", "qtpy", "shiboken6"}


def _dynamic_import_target(node: ast.AST) -> str | None:
    """The module named by ``importlib.import_module("x")``, ``import_module("x")`` or
    ``__import__("x")`` with a constant string (or an f-string's constant start)."""
    if not isinstance(node, ast.Call) or not node.args:
        return None
    f = node.func
    name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else None
    if name not in ("import_module", "__import__"):
        return None
    arg = node.args[0]
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return arg.value
    if isinstance(arg, ast.JoinedStr) and arg.values and isinstance(arg.values[0], ast.Constant):
        return str(arg.values[0].value)
    return None


def _imports_in_source(source: str, only_module_level: bool, filename: str = "<string>") -> set[str]:
    tree = ast.parse(source, filename=filename)
    nodes = tree.body if only_module_level else list(ast.walk(tree))
    names: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
        elif not only_module_level and (target := _dynamic_import_target(node)):
            names.add(target.split(".")[0])
    return names


def _top_level_imports(path: Path, only_module_level: bool) -> set[str]:
    return _imports_in_source(path.read_text(), only_module_level, filename=str(path))


def test_the_scan_sees_function_level_and_string_imports():
    source = (
        "import importlib\n"
        "def f():\n"
        "    import vtk\n"
        "    importlib.import_module('PySide6.QtCore')\n"
        "    __import__('superqt')\n"
        "def g(name):\n"
        "    from importlib import import_module\n"
        "    return import_module(f'pyqtgraph.{name}')\n"
    )
    assert _imports_in_source(source, only_module_level=False) >= {"vtk", "PySide6", "superqt",
                                                                   "pyqtgraph"}
    assert _imports_in_source(source, only_module_level=True) == {"importlib"}


def test_engine_sources_never_import_gui():
    offenders = {}
    for path in (ROOT / "engine").rglob("*.py"):
        bad = _top_level_imports(path, only_module_level=False) & (GUI_MODULES | {"viewer"})
        if bad:
            offenders[str(path.relative_to(ROOT))] = sorted(bad)
    assert not offenders, f"engine/ must not import GUI code: {offenders}"


def test_viewer_imports_torch_only_inside_functions():
    offenders = [
        str(p.relative_to(ROOT))
        for p in (ROOT / "viewer").rglob("*.py")
        if "torch" in _top_level_imports(p, only_module_level=True)
    ]
    assert not offenders, f"viewer/ modules import torch at module level: {offenders}"


def test_importing_every_engine_module_loads_no_gui():
    code = (
        "import importlib, pkgutil, sys, engine\n"
        "for m in pkgutil.walk_packages(engine.__path__, 'engine.'):\n"
        "    importlib.import_module(m.name)\n"
        f"bad = sorted(k for k in sys.modules if k.split('.')[0] in {sorted(GUI_MODULES)!r})\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"engine import pulled in: {out.stdout}"


def test_viewer_model_sources_never_import_gui():
    offenders = {}
    for path in (ROOT / "viewer" / "model").rglob("*.py"):
        bad = _top_level_imports(path, only_module_level=False) & GUI_MODULES
        if bad:
            offenders[str(path.relative_to(ROOT))] = sorted(bad)
    assert not offenders, f"viewer/model/ must stay Qt- and VTK-free: {offenders}"
