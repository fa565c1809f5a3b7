"""Import the 3D view's modules (VTK: about 0.25 s) in a thread, so the GUI thread never does.

``viewer.app.create_window`` starts this before the window is built, so the import overlaps
building the window instead of stalling the running event loop; the main window waits for
:func:`import_3d_modules` in its own thread before it builds the 3D view (issue 17).
"""

from __future__ import annotations

import logging
import threading

log = logging.getLogger(__name__)


def import_3d_modules() -> None:
    """Import the 3D view's modules (a no-op once done); failures are logged, the 3D view
    then reports itself unavailable when it is built."""
    try:
        import viewer.qt.view3d_link  # noqa: F401
        import viewer.qt.view3d_panel  # noqa: F401
        import viewer.render3d.widget  # noqa: F401
    except Exception as exc:  # noqa: BLE001
        log.warning("3D modules: %s", exc)


def start_import_3d() -> threading.Thread:
    thread = threading.Thread(target=import_3d_modules, name="ctcam-import-3d", daemon=True)
    thread.start()
    return thread
