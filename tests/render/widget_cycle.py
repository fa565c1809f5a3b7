"""Child process for the embedded-widget leak test: open, render and close Render3DView N times.

Run with a DISPLAY (Xvfb) and QT_QPA_PLATFORM=xcb.  Prints one JSON line per cycle:
whether a frame with content was drawn, RSS, live VTK Python wrappers and whether the widget
object was freed.
"""

from __future__ import annotations

import gc
import json
import sys
import threading
import time
import weakref
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from PySide6.QtCore import QEvent  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402
from synthetic_chest import LEFT_LUNG_CENTER, blob_map, make_chest  # noqa: E402
from vtkmodules.vtkCommonCore import vtkObjectBase  # noqa: E402

from viewer.render3d.widget import Render3DView  # noqa: E402


def rss_kb() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * 4


def vtk_wrappers() -> int:
    return sum(1 for o in gc.get_objects() if isinstance(o, vtkObjectBase))


def main(n: int) -> int:
    app = QApplication.instance() or QApplication([])
    vol, lab = make_chest(shape=(64, 56, 32), spacing=(5.0, 5.0, 10.0))
    values, aff = blob_map(LEFT_LUNG_CENTER)
    for cycle in range(n):
        w = Render3DView(max_dim=48)
        w.resize(160, 160)
        w.set_volume(vol)
        w.set_organs(lab, {1: "right lung", 2: "heart", 3: "left lung"},
                     {1: (90, 160, 230), 2: (230, 90, 90), 3: (90, 200, 140)})
        w.set_map(values, aff, title="HiResCAM")
        w.set_cursor(LEFT_LUNG_CENTER)
        w.show()
        deadline = time.monotonic() + 30
        while w.last_render_s is None and time.monotonic() < deadline:
            app.processEvents()
            time.sleep(0.01)
        frame = w.scene.capture() if w.scene is not None else w.last_frame
        content = float(np.mean(np.abs(frame.astype(float) - frame[2, 2].astype(float))))
        backend = w.backend
        ref = weakref.ref(w)
        w.close()
        w.deleteLater()
        del w
        for _ in range(3):
            app.processEvents()
            QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
        gc.collect()
        print(json.dumps({"cycle": cycle, "backend": backend, "content": content, "rss_kb": rss_kb(),
                          "vtk_wrappers": vtk_wrappers(), "widget_freed": ref() is None,
                          "top_level": len(QApplication.topLevelWidgets()),
                          "threads": threading.active_count()}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 6))
