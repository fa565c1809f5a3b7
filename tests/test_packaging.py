"""Fast checks of the desktop-bundle recipe (packaging/), without running PyInstaller.

The real build takes minutes and ~1 GB (bash packaging/build.sh, then packaging/smoke.sh);
CI validates what the build reads instead: the spec runs against the PyInstaller API,
hidden imports exist, excludes do not remove anything the app imports, bundled data files
exist (or are made by a known step) where engine/resources.py looks for them, and the
desktop entry, icons and install script are valid.
"""

from __future__ import annotations

import ast
import configparser
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "packaging"
sys.path.insert(0, str(PKG))
import bundle_config as cfg  # noqa: E402

ICON_SIZES = (256, 128, 64, 48)


class _Recorder:
    """Stands in for a PyInstaller build class: records its arguments."""

    calls: dict[str, list] = {}

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs
        _Recorder.calls.setdefault(type(self).__name__, []).append(self)


class Analysis(_Recorder):
    def __init__(self, scripts, **kwargs):
        super().__init__(scripts, **kwargs)
        # TOC entries are (dest name, source path, type code).
        self.datas = [(str(Path(dest) / Path(src).name), src, "DATA") for src, dest in kwargs["datas"]]
        self.datas += [("torch/include/ATen/ATen.h", "/x/ATen.h", "DATA"),
                       ("scipy/special/tests/data/boost.npz", "/x/boost.npz", "DATA")]
        self.binaries = [("torch/lib/libtorch_cpu.so", "/x/libtorch_cpu.so", "BINARY"),
                         ("torch/test/cpp_api_test", "/x/cpp_api_test", "BINARY")]
        self.pure, self.scripts = [], [("ctcam_entry", scripts[0], "PYSOURCE")]


class PYZ(_Recorder):
    pass


class EXE(_Recorder):
    pass


class COLLECT(_Recorder):
    pass


@pytest.fixture(scope="module")
def spec():
    """Run packaging/ctcam.spec as PyInstaller would, with recording build classes."""
    _Recorder.calls = {}
    path = PKG / "ctcam.spec"
    ns = {"SPECPATH": str(PKG), "Analysis": Analysis, "PYZ": PYZ, "EXE": EXE, "COLLECT": COLLECT,
          "__file__": str(path), "__name__": "__main__"}
    exec(compile(path.read_text(encoding="utf-8"), str(path), "exec"), ns)
    return ns, _Recorder.calls


def test_spec_builds_one_folder_bundle_of_the_entry_script(spec):
    ns, calls = spec
    (a,) = calls["Analysis"]
    assert [Path(s) for s in a.args[0]] == [PKG / "ctcam_entry.py"]
    assert str(ROOT) in a.kwargs["pathex"]
    (exe,) = calls["EXE"]
    assert exe.kwargs["exclude_binaries"] is True  # one-folder: binaries go to COLLECT
    assert exe.kwargs["name"] == "ctcam"
    (coll,) = calls["COLLECT"]
    assert coll.kwargs["name"] == "ctcam"
    assert ns["a"].binaries in coll.args and ns["a"].datas in coll.args


def test_spec_drops_headers_and_test_files_but_keeps_libraries_and_resources(spec):
    ns, _ = spec
    dests = {t[0] for t in ns["a"].datas + ns["a"].binaries}
    assert "torch/lib/libtorch_cpu.so" in dests
    assert "torch/include/ATen/ATen.h" not in dests
    assert "torch/test/cpp_api_test" not in dests
    assert "scipy/special/tests/data/boost.npz" not in dests
    assert "resources/icons/ctcam-256.png" in dests


def test_keep_filter():
    assert cfg.keep("PySide6/Qt/plugins/platforms/libqoffscreen.so")
    assert cfg.keep("resources/demo/case.nii.gz")
    assert cfg.keep("resources/tests/x")  # our resources are never filtered
    assert not cfg.keep("nibabel/tests/data/example4d.nii.gz")
    assert not cfg.keep("torch/share/cmake/Torch/TorchConfig.cmake")


def test_entry_script_calls_freeze_support_before_importing_the_app():
    """The viewer runs the model in a ``spawn`` process: in a frozen app the child is the
    same executable, and only ``freeze_support()`` stops it from starting the GUI."""
    tree = ast.parse((PKG / "ctcam_entry.py").read_text(encoding="utf-8"))
    (main_if,) = [n for n in tree.body if isinstance(n, ast.If)]
    first = main_if.body[0]
    assert isinstance(first, ast.Expr) and ast.unparse(first) == "multiprocessing.freeze_support()"
    later = ast.unparse(ast.Module(body=main_if.body[1:], type_ignores=[]))
    assert "from engine.cli import main" in later and "sys.exit(main())" in later
    assert "get_context('spawn')" in (ROOT / "viewer" / "model" / "jobs.py").read_text().replace('"', "'")


def test_hidden_imports_cover_every_subcommand_and_the_viewer():
    from engine.cli import SUBCOMMANDS

    expected = {t.partition(":")[0] for t in SUBCOMMANDS.values()} | {"viewer.app"}
    assert set(cfg.subcommand_modules()) == expected
    hidden = set(cfg.hidden_imports())
    assert expected <= hidden
    # every module of our two packages (some are only imported lazily, by name)
    for pkg in ("engine", "viewer"):
        files = [p for p in (ROOT / pkg).rglob("*.py") if "__pycache__" not in p.parts]
        assert len(cfg.package_modules(pkg)) == len(files)
        assert set(cfg.package_modules(pkg)) <= hidden
    assert {"engine.cam.sampling", "viewer.render3d.widget", "viewer.qt.main_window"} <= hidden


def test_hidden_imports_include_every_vtk_module_the_viewer_names():
    text = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "viewer").rglob("*.py"))
    named = {m.rstrip(".") for m in re.findall(r"\bvtkmodules\.[A-Za-z0-9_.]+", text)}
    named = {m for m in named if importlib.util.find_spec(m) is not None}  # drop prose matches
    assert named, "the viewer names no vtkmodules: the regex or the viewer changed"
    assert named <= set(cfg.hidden_imports())


def test_hidden_imports_are_importable_modules():
    missing = [m for m in cfg.hidden_imports() if importlib.util.find_spec(m) is None]
    assert missing == []


def _imports_of(paths) -> set[str]:
    names = set()
    for p in paths:
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
                names.update(f"{node.module}.{a.name}" for a in node.names)
            elif isinstance(node, ast.Import):
                names.update(a.name for a in node.names)
    return names


def _excluded(name: str) -> str | None:
    for e in cfg.EXCLUDES:
        if name == e or name.startswith(e + "."):
            return e
    return None


def test_excludes_remove_nothing_the_app_imports():
    # dask/distributed: only engine/cluster.py (`explain --cluster`, the optional `cluster`
    # extra, which names the missing package to the user); the desktop bundle leaves it out.
    optional = {"dask", "distributed"}
    used = _imports_of(p for pkg in ("engine", "viewer") for p in (ROOT / pkg).rglob("*.py"))
    clashes = {n: _excluded(n) for n in used if _excluded(n) and n.split(".")[0] not in optional}
    assert clashes == {}
    assert all(_excluded(h) is None for h in cfg.hidden_imports())
    assert "multiprocessing" not in cfg.EXCLUDES


def test_bundled_resources_exist_or_have_a_known_producer():
    for src, dest, how in cfg.RESOURCES:
        assert Path(src).parent.as_posix() == dest  # same layout inside the bundle
        if (ROOT / src).is_file():
            continue
        script = how.split()[-1] if how.startswith("python") else "engine/train.py"
        assert (ROOT / script).is_file(), f"{src} is missing and its producer {script} too"
    # our own files are never missing
    for n in ICON_SIZES:
        assert (ROOT / f"resources/icons/ctcam-{n}.png").is_file()
    datas, missing = cfg.datas()
    assert len(datas) + len(missing) >= len(cfg.RESOURCES)
    assert all(Path(src).is_file() for src, _ in datas)


def test_recipe_bundles_every_path_engine_resources_asks_for(monkeypatch):
    from engine import resources

    monkeypatch.delenv("CTCAM_RESOURCES", raising=False)
    base = resources.resources_dir()
    wanted = [resources.demo_case_path(), resources.demo_organs_path(), *resources.bundled_model_paths()]
    listed = {src for src, _, _ in cfg.RESOURCES}
    for p in wanted:
        assert "resources/" + p.relative_to(base).as_posix() in listed


def test_resources_found_in_the_frozen_layout(tmp_path, monkeypatch):
    """In the bundle, engine/resources.py lives in ``_internal/engine/`` (PyInstaller sets
    ``__file__`` of archived modules to that path) and the data in ``_internal/resources``."""
    internal = tmp_path.resolve() / "dist" / "ctcam" / "_internal"
    (internal / "engine").mkdir(parents=True)
    shutil.copy(ROOT / "engine" / "resources.py", internal / "engine" / "resources.py")
    spec = importlib.util.spec_from_file_location("frozen_resources", internal / "engine" / "resources.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    monkeypatch.delenv("CTCAM_RESOURCES", raising=False)
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(internal), raising=False)
    assert mod.resources_dir() == internal / "resources"
    assert mod.demo_case_path() == internal / "resources" / "demo" / "case.nii.gz"
    monkeypatch.setenv("CTCAM_RESOURCES", str(tmp_path / "elsewhere"))
    assert mod.resources_dir() == tmp_path / "elsewhere"


def _desktop_entry(path: Path) -> dict[str, str]:
    cp = configparser.ConfigParser(interpolation=None, strict=True)
    cp.optionxform = str  # keys are case-sensitive
    cp.read(path, encoding="utf-8")
    assert cp.sections()[0] == "Desktop Entry"
    return dict(cp["Desktop Entry"])


def test_desktop_entry_keys():
    e = _desktop_entry(PKG / "ctcam.desktop")
    for key in ("Type", "Name", "Comment", "Exec", "Icon", "Categories", "MimeType", "Terminal"):
        assert e.get(key), key
    assert e["Type"] == "Application" and e["Name"] == "ctcam" and e["Icon"] == "ctcam"
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    prog, *args = e["Exec"].split()
    assert prog in scripts and args == ["%f"]  # the viewer opens one scan per window
    assert {"Science", "MedicalSoftware"} <= set(e["Categories"].rstrip(";").split(";"))
    assert e["Categories"].endswith(";") and e["MimeType"].endswith(";")
    # every MIME type is either standard (shared-mime-info) or defined by us
    ours = {m.get("type") for m in ET.parse(PKG / "ctcam-mime.xml").getroot()}
    for mime in e["MimeType"].rstrip(";").split(";"):
        assert mime in ours or mime == "application/dicom", mime


def test_desktop_entry_passes_desktop_file_validate():
    exe = shutil.which("desktop-file-validate")
    if exe is None:
        pytest.skip("desktop-file-validate not installed (apt-get install desktop-file-utils); "
                    "test_desktop_entry_keys checked the keys")
    r = subprocess.run([exe, str(PKG / "ctcam.desktop")], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "error" not in r.stdout.lower()


def test_icons_have_their_sizes_and_match_the_drawing(tmp_path):
    import make_icons
    from PIL import Image, ImageChops

    for n in ICON_SIZES:
        im = Image.open(ROOT / f"resources/icons/ctcam-{n}.png")
        assert im.size == (n, n) and im.mode == "RGBA"
        assert im.getpixel((0, 0))[3] == 0 and im.getpixel((n // 2, n // 2))[3] == 255  # rounded tile
    root = ET.parse(ROOT / "resources/icons/ctcam.svg").getroot()
    assert root.tag.endswith("svg") and root.get("viewBox") == "0 0 100 100"
    # the committed PNG is what make_icons.py draws (within resampling noise)
    make_icons.main([str(tmp_path)])
    a = Image.open(tmp_path / "ctcam-48.png").convert("RGBA")
    b = Image.open(ROOT / "resources/icons/ctcam-48.png").convert("RGBA")
    assert max(hi for _, hi in ImageChops.difference(a, b).getextrema()) <= 8
    # the heat blob is warm: a red-orange pixel over the patient's right lung (screen left)
    cx, cy, _ = make_icons.BLOB
    r, g, bl, _ = Image.open(ROOT / "resources/icons/ctcam-256.png").getpixel((int(cx * 2.56), int(cy * 2.56)))
    assert r > 200 and r > bl + 100


def test_shell_scripts_parse():
    for name in ("build.sh", "smoke.sh", "install.sh"):
        r = subprocess.run(["bash", "-n", str(PKG / name)], capture_output=True, text=True)
        assert r.returncode == 0, name + r.stderr


def test_install_script_installs_and_uninstalls_a_bundle(tmp_path):
    """install.sh on a stand-in bundle (an executable + the bundled icons) into a PREFIX."""
    bundle = tmp_path / "bundle"
    (bundle / "_internal" / "resources").mkdir(parents=True)
    shutil.copytree(ROOT / "resources" / "icons", bundle / "_internal" / "resources" / "icons")
    exe = bundle / "ctcam"
    exe.write_text("#!/bin/sh\necho bundled-ctcam \"$@\"\n")
    exe.chmod(0o755)
    prefix = tmp_path / "prefix"
    env = {**os.environ, "PREFIX": str(prefix)}
    r = subprocess.run(["bash", str(PKG / "install.sh"), str(bundle)], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    link = prefix / "bin" / "ctcam"
    assert link.is_symlink()
    out = subprocess.run([str(link), "x.nii.gz"], capture_output=True, text=True).stdout
    assert out.strip() == "bundled-ctcam x.nii.gz"
    for n in ICON_SIZES:
        assert (prefix / f"share/icons/hicolor/{n}x{n}/apps/ctcam.png").is_file()
    entry = _desktop_entry(prefix / "share/applications/ctcam.desktop")
    assert entry["Exec"] == f"{link} %f" and entry["TryExec"] == str(link)
    assert (prefix / "share/mime/packages/ctcam-mime.xml").is_file()
    r = subprocess.run(["bash", str(PKG / "install.sh"), "--uninstall"], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert not link.exists() and not (prefix / "lib" / "ctcam").exists()
    assert not (prefix / "share/applications/ctcam.desktop").exists()


def test_packaging_extra_pins_pyinstaller():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert any(d.startswith("pyinstaller>=") for d in extras["packaging"])
