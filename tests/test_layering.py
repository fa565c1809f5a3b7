"""engine/ never imports Qt, pyqtgraph, VTK or superqt; viewer/ imports torch only lazily."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GUI_MODULES = {"PySide6", "pyqtgraph", "vtk", "vtkmodules", "superqt", "qtpy", "shiboken6"}


def _top_level_imports(path: Path, only_module_level: bool) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    nodes = tree.body if only_module_level else list(ast.walk(tree))
    names: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


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
