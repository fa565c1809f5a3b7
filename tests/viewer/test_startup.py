"""The window appears without importing torch (the pipeline is imported in the worker)."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CODE = """
import os, sys
os.environ["QT_QPA_PLATFORM"] = "offscreen"
from PySide6 import QtWidgets
from viewer.app import create_window, parse_args
app, win = create_window(parse_args(["--no-model", "--no-3d"]))
app.processEvents()
print("visible", win.isVisible())
print("torch", "torch" in sys.modules)
print("vtk", any(m.startswith("vtkmodules") for m in sys.modules))
win.close()
"""


def test_first_paint_imports_no_torch_or_vtk():
    out = subprocess.run([sys.executable, "-c", CODE], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = dict(line.split() for line in out.stdout.splitlines() if line.count(" ") == 1)
    assert lines == {"visible": "True", "torch": "False", "vtk": "False"}


def test_no_display_is_a_clear_error_not_a_qt_abort(capsys, monkeypatch):
    from viewer.app import display_problem, main

    assert display_problem({}, "linux").startswith("no display")
    assert display_problem({"DISPLAY": ":0"}, "linux") is None
    assert display_problem({"WAYLAND_DISPLAY": "wayland-0"}, "linux") is None
    assert display_problem({"QT_QPA_PLATFORM": "offscreen"}, "linux") is None
    assert display_problem({}, "darwin") is None and display_problem({}, "win32") is None
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr("sys.platform", "linux")
    assert main([]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no display") and "ctcam explain" in err


CODE_3D = """
import gc, os, sys
os.environ["QT_QPA_PLATFORM"] = "offscreen"
os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
from viewer.app import create_window, parse_args
app, win = create_window(parse_args(["--no-model"]))
# before the event loop ever ran: the 3D view is in the layout and its context is made
print("built", win.view3d is not None and win.view_area.view3d is win.view3d_panel)
print("context", win.view3d._thread._ready.is_set())
print("frozen", gc.get_freeze_count() > 10000)
app.processEvents()
print("visible", win.isVisible())
win.close()
"""


def test_the_3d_view_and_its_context_are_made_before_the_first_paint():
    """docs/performance.md: VTK's import and the OpenGL context hold the GIL for long
    stretches; done before the window is shown they cannot stall it."""
    # the "thread" backend, whatever another test module set (tests/render/conftest.py: "image")
    env = dict(os.environ, CTCAM_3D_BACKEND="thread")
    out = subprocess.run([sys.executable, "-c", CODE_3D], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env=env)
    assert out.returncode == 0, out.stderr
    lines = dict(line.split() for line in out.stdout.splitlines() if line.count(" ") == 1)
    assert lines == {"built": "True", "context": "True", "frozen": "True", "visible": "True"}
