"""``ctcam`` / ``ctcam PATH``: start the desktop viewer.

The window is shown first; the scan is loaded and the model run in workers afterwards.
Nothing on this path imports torch (the pipeline is imported inside the worker).
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="ctcam", description="Chest CT viewer with HiResCAM and Grad-CAM explanations.")
    p.add_argument("path", nargs="?", help="NIfTI file or DICOM folder (default: the demo case)")
    p.add_argument("--organs", help="organ label map (NIfTI) for the scan")
    p.add_argument("--device", help="cpu, cuda, cuda:1, mps (default: best available)")
    p.add_argument("--no-model", action="store_true", help="only view the scan; do not run the model")
    args = p.parse_args(list(sys.argv[1:] if argv is None else argv))

    import pyqtgraph as pg
    from PySide6 import QtCore, QtWidgets

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    app.setApplicationName("ctcam")
    app.setOrganizationName("ctcam")
    pg.setConfigOptions(antialias=False, imageAxisOrder="col-major")

    from viewer.main_window import MainWindow

    win = MainWindow(run_model=not args.no_model, device=args.device)
    win.show()

    def start() -> None:
        if args.path:
            win.open_path(args.path, organs=args.organs)
        else:
            win.open_demo()

    QtCore.QTimer.singleShot(0, start)
    return int(app.exec())


if __name__ == "__main__":
    sys.exit(main())
