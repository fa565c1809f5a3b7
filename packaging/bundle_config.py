"""What goes into the desktop bundle: read by ``packaging/ctcam.spec`` and checked by
``tests/test_packaging.py`` (so the recipe is validated without running PyInstaller).

Nothing here imports the app, Qt or torch: the lists are computed from the source tree.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENTRY = ROOT / "packaging" / "ctcam_entry.py"
NAME = "ctcam"

# -- hidden imports ------------------------------------------------------------------------
# engine/cli/ imports the viewer and every sub-command with importlib by *name*, and
# engine.cam / viewer.model.sampling_adapter import submodules lazily by name, so PyInstaller's
# import scan cannot see them: every module of both packages is listed.  The third-party
# packages below are reached through those modules (often inside functions); they are
# listed too so a refactor that moves an import cannot silently drop them from the bundle.
THIRD_PARTY_HIDDEN = [
    "pyqtgraph",
    "superqt",
    "superqt.utils",
    "nibabel",
    "nibabel.nifti1",
    "pydicom",
    "scipy.ndimage",
    "safetensors",
    "safetensors.torch",
    "PIL.Image",
    "vtkmodules.qt.QVTKRenderWindowInteractor",
    "vtkmodules.util.numpy_support",
    # VTK object factories: importing these registers the OpenGL implementations.
    "vtkmodules.vtkRenderingOpenGL2",
    "vtkmodules.vtkRenderingVolumeOpenGL2",
    "vtkmodules.vtkInteractionStyle",
    "vtkmodules.vtkRenderingFreeType",
]


def package_modules(package: str) -> list[str]:
    """Dotted names of every module of a source package (from its files, without importing)."""
    base = ROOT / package
    names = []
    for p in sorted(base.rglob("*.py")):
        if "__pycache__" in p.parts:
            continue
        rel = p.relative_to(ROOT).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names.append(".".join(parts))
    return names


def subcommand_modules() -> list[str]:
    """Modules named in the ``SUBCOMMANDS`` table of ``engine/cli/`` and its viewer target
    (``run_target("viewer.app:main", ...)`` in ``engine/cli/gui.py``; parsed from the source,
    not imported)."""
    nodes = [n for p in sorted((ROOT / "engine" / "cli").glob("*.py"))
             for n in ast.walk(ast.parse(p.read_text(encoding="utf-8")))]
    targets: list[str] = []
    for node in nodes:
        if isinstance(node, ast.AnnAssign | ast.Assign) and isinstance(node.value, ast.Dict):
            names = [t.id for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
                     if isinstance(t, ast.Name)]
            if "SUBCOMMANDS" in names:
                targets += [v.value for v in node.value.values if isinstance(v, ast.Constant)]
        if (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "run_target" and node.args
                and isinstance(node.args[0], ast.Constant)):
            targets.append(node.args[0].value)
    return sorted({t.partition(":")[0] for t in targets})


def vtk_modules_used() -> list[str]:
    """``vtkmodules.*`` imported anywhere in viewer/ (static or inside functions)."""
    found = set()
    for p in (ROOT / "viewer").rglob("*.py"):
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("vtkmodules"):
                found.add(node.module)
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name.startswith("vtkmodules"))
    return sorted(found)


def hidden_imports() -> list[str]:
    names = package_modules("engine") + package_modules("viewer") + subcommand_modules()
    names += vtk_modules_used() + THIRD_PARTY_HIDDEN
    return sorted(set(names))


# -- excluded modules ----------------------------------------------------------------------
# Not used by the app (tests, dev tools, optional extras, other Qt bindings, unused Qt
# modules).  The CPU torch wheel has no CUDA libraries to drop.  ``ctcam explain --cluster``
# needs the optional ``cluster`` extra (dask) and says so when it is missing; the desktop
# bundle leaves it out.
EXCLUDES = [
    "tkinter", "_tkinter", "turtle", "idlelib", "pydoc_data",
    "pytest", "_pytest", "pytestqt", "hypothesis", "ruff", "setuptools", "pip",
    "IPython", "jupyter_client", "ipykernel", "notebook", "matplotlib",
    "dask", "distributed", "pandas", "pyarrow", "bokeh", "tornado", "zmq",
    "tensorboard", "torch.utils.tensorboard", "torchvision", "torchaudio",
    "PyQt5", "PyQt6", "PySide2",
    "PySide6.QtQml", "PySide6.QtQuick", "PySide6.QtQuickWidgets", "PySide6.QtNetwork",
    "PySide6.QtPdf", "PySide6.QtDesigner", "PySide6.QtHelp", "PySide6.QtUiTools",
    "PySide6.QtSql", "PySide6.QtTest", "PySide6.QtXml", "PySide6.QtConcurrent", "PySide6.QtDBus",
    "vtkmodules.vtkRenderingMatplotlib", "vtkmodules.vtkWebCore", "vtkmodules.web",
    "vtkmodules.vtkRenderingVR", "vtkmodules.vtkRenderingOpenXR",
]

# Files collected by the package hooks but never used at run time (destination prefixes
# inside the bundle): torch's C++ headers/test binaries/cmake files, Python test suites.
DROP_PREFIXES = (
    "torch/include/", "torch/test/", "torch/share/cmake/", "torch/testing/_internal/data/",
    "scipy/_lib/tests/", "nibabel/tests/", "nibabel/nicom/tests/", "pydicom/data/test_files/",
)
DROP_PARTS = ("tests", "__pycache__")
# torch's C++ test programs and test/demo libraries (torch_shm_manager is kept).
DROP_FILES = {
    "torch/bin/FileStoreTest", "torch/bin/HashStoreTest", "torch/bin/TCPStoreTest",
    "torch/bin/protoc", "torch/bin/protoc-3.13.0.0", "torch/bin/test_aoti_abi_check",
    "torch/bin/test_api", "torch/bin/test_comms_id", "torch/bin/test_cpp_rpc",
    "torch/bin/test_dist_autograd", "torch/bin/test_interpreter_async.pt", "torch/bin/test_jit",
    "torch/bin/test_lazy", "torch/bin/test_privateuse1_profiler",
    "torch/bin/test_profiler_collection", "torch/bin/test_shim", "torch/bin/script_module_v4.ptl",
    "torch/lib/libtorchbind_test.so", "torch/lib/libaoti_custom_ops.so",
    "torch/lib/libbackend_with_compiler.so", "torch/lib/libjitbackend_test.so",
    # Qt's GTK3 platform theme: its libgtk-3 is not bundled anyway (it must match the
    # desktop's), so the plugin and the GTK stack it pulled in are dropped; Qt falls back to
    # its own theme and file dialogs.
    "PySide6/Qt/plugins/platformthemes/libqgtk3.so",
}
# Libraries in the bundle's top folder needed only by libqgtk3.so (found with readelf on a
# build: no other bundled binary needs them).  Dropping a host library is safe: the
# system's copy is used if anything asks for it.
GTK_ONLY_LIBS = {
    "libatk-1.0.so.0", "libcairo-gobject.so.2", "libcairo.so.2", "libdatrie.so.1",
    "libfribidi.so.0", "libgdk_pixbuf-2.0.so.0", "libgraphite2.so.3", "libharfbuzz.so.0",
    "libpango-1.0.so.0", "libpangocairo-1.0.so.0", "libpangoft2-1.0.so.0", "libpixman-1.so.0",
    "libthai.so.0", "libXext.so.6", "libXrender.so.1", "libblkid.so.1", "libgio-2.0.so.0",
    "libgmodule-2.0.so.0", "libgobject-2.0.so.0", "libjpeg.so.62", "libmount.so.1",
    "libselinux.so.1",
}


def keep(dest: str) -> bool:
    """Whether a collected file (its path inside the bundle) stays in it."""
    d = dest.replace("\\", "/")
    if d.startswith(DROP_PREFIXES) or d in DROP_FILES or d in GTK_ONLY_LIBS:
        return False
    parts = d.split("/")
    # Test suites of third-party packages (never our resources/).
    return not (parts[0] != "resources" and any(p in DROP_PARTS for p in parts[:-1]))


# Shared libraries whose symbol tables build.sh strips after the build (``strip
# --strip-unneeded``; about 200 MB less).  Only these: libraries that auditwheel/patchelf
# rewrote (numpy.libs, scipy.libs, pillow.libs) can break when stripped.
STRIP_GLOBS = ("vtkmodules/libvtk*.so*", "vtkmodules/vtk*.cpython-*.so",
               "torch/lib/libtorch_cpu.so", "torch/lib/libtorch_python.so", "torch/lib/libc10.so")


# -- data files ----------------------------------------------------------------------------
# (source relative to the repo, destination folder in the bundle, how it is produced).
# At run time engine/resources.py finds them in ``<bundle>/_internal/resources`` (the frozen
# branch of resources_dir()).
RESOURCES = [
    ("resources/model/axialnet.safetensors", "resources/model", "ctcam train (docs/training.md)"),
    ("resources/model/axialnet.json", "resources/model", "ctcam train (docs/training.md)"),
    ("resources/demo/case.nii.gz", "resources/demo", "python tools/make_demo.py"),
    ("resources/demo/organs.nii.gz", "resources/demo", "python tools/make_demo.py"),
    ("resources/demo/labels.json", "resources/demo", "python tools/make_demo.py"),
    ("resources/icons/ctcam-256.png", "resources/icons", "python packaging/make_icons.py"),
    ("resources/icons/ctcam-128.png", "resources/icons", "python packaging/make_icons.py"),
    ("resources/icons/ctcam-64.png", "resources/icons", "python packaging/make_icons.py"),
    ("resources/icons/ctcam-48.png", "resources/icons", "python packaging/make_icons.py"),
    ("resources/icons/ctcam.svg", "resources/icons", "python packaging/make_icons.py"),
]


def package_data(package: str) -> list[tuple[str, str]]:
    """Non-Python files inside our own packages (e.g. JSON tables), as (src, dest dir)."""
    out = []
    for p in sorted((ROOT / package).rglob("*")):
        if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts:
            out.append((str(p), str(p.parent.relative_to(ROOT))))
    return out


def datas() -> tuple[list[tuple[str, str]], list[str]]:
    """(PyInstaller ``datas`` of the files present, descriptions of the missing ones)."""
    present, missing = [], []
    for src, dest, how in RESOURCES:
        p = ROOT / src
        if p.is_file():
            present.append((str(p), dest))
        else:
            missing.append(f"{src} (made by: {how})")
    present += package_data("engine") + package_data("viewer")
    return present, missing
