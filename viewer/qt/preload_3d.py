"""Import the 3D view's VTK modules (about 0.25 s) in a thread, beside the window's construction.

``viewer.app.create_window`` starts the import before the window is built, so it overlaps
building the window, and waits for it before showing the window (:func:`wait_for_import_3d`);
the main window asks to be told when it is done (:func:`start_import_3d` with ``then``) and
builds the 3D view then (issue 17).  One import thread per process, however often it is
asked for.

The thread imports only the Qt-free part of the 3D view (``QT_FREE_3D_MODULES``: VTK and
``viewer.render3d`` below its widget, an import-linter contract).  PySide6's types are set up
lazily and not safely from two threads at once: with the Qt-side modules in this thread, one
start-up in a few failed with "libshiboken: PySide6.QtWidgets.QGraphicsObject isn't a direct
base class of ChildGroup" or crashed while the window built its pyqtgraph views.  The
Qt-side modules (``viewer.render3d.widget``, ``viewer.qt.view3d_*``) are imported on the GUI
thread when the 3D view is built, in milliseconds once VTK is in.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

_lock = threading.Lock()
_thread: threading.Thread | None = None
_done = False
_waiting: list[Callable[[], None]] = []


# What the thread imports: nothing here may import PySide6, shiboken6, pyqtgraph or
# superqt (tests/viewer/test_preload_3d.py runs the thread under an import hook that says so).
QT_FREE_3D_MODULES = (
    "viewer.render3d.offscreen",  # the scene and every VTK module it draws with
    "viewer.render3d.render_thread",
    "viewer.render3d.export",
    "vtkmodules.vtkInteractionStyle",
)


def import_3d_modules() -> None:
    """Import the Qt-free 3D modules (a no-op once done); failures are logged, the 3D view
    then reports itself unavailable when it is built."""
    import importlib

    for name in QT_FREE_3D_MODULES:
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001
            log.warning("3D modules: %s: %s", name, exc)
            return


def _run() -> None:
    global _done
    import_3d_modules()
    with _lock:
        _done = True
        callbacks, _waiting[:] = list(_waiting), []
    for then in callbacks:
        try:
            then()
        except RuntimeError:  # its window was closed meanwhile (Qt object deleted)
            pass


def start_import_3d(then: Callable[[], None] | None = None) -> None:
    """Start the import thread unless it runs; ``then()`` is called when the modules are
    imported: from the import thread, or at once (from the caller's thread) if they already
    are.  A Qt receiver should connect with a queued connection."""
    global _thread
    with _lock:
        if not _done and then is not None:
            _waiting.append(then)
        if _thread is None:
            _thread = threading.Thread(target=_run, name="ctcam-import-3d", daemon=True)
            _thread.start()
        call_now = _done and then is not None
    if call_now:
        then()


def wait_for_import_3d(timeout_s: float) -> bool:
    """Block until the import thread is done (or ``timeout_s`` passed); True when done.

    ``viewer.app.create_window`` calls it after building the window and before showing it:
    the import holds the GIL for long stretches (loading VTK's libraries, registering its
    classes), and overlapping the window's first paints it stalled the shown window for
    300-370 ms.  Overlapping the window's construction it costs only the part construction
    does not hide."""
    thread = _thread
    if thread is not None:
        thread.join(timeout_s)
    return _done
