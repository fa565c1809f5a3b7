"""Import the 3D view's modules (VTK: about 0.25 s) in a thread, so the GUI thread never does.

``viewer.app.create_window`` starts the import before the window is built, so it overlaps
building the window instead of stalling the running event loop; the main window asks to be
told when it is done (:func:`start_import_3d` with ``then``) and builds the 3D view then
(issue 17).  One import thread per process, however often it is asked for.
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


def import_3d_modules() -> None:
    """Import the 3D view's modules (a no-op once done); failures are logged, the 3D view
    then reports itself unavailable when it is built."""
    try:
        import viewer.qt.view3d_link  # noqa: F401
        import viewer.qt.view3d_panel  # noqa: F401
        import viewer.render3d.widget  # noqa: F401
    except Exception as exc:  # noqa: BLE001
        log.warning("3D modules: %s", exc)


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
