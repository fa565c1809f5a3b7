"""``ctcam`` / ``ctcam PATH``: start the desktop viewer.

The window is shown first; the scan is loaded and the model run in workers afterwards.
Nothing on this path imports torch (the pipeline is imported inside the worker).
"""

from __future__ import annotations

import argparse
import sys


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="ctcam", description="Chest CT viewer with HiResCAM and Grad-CAM explanations.")
    p.add_argument("path", nargs="?", help="NIfTI file or DICOM folder (default: the demo case)")
    p.add_argument("--organs", help="organ label map (NIfTI, codes of the model card) for the scan")
    p.add_argument("--model", help="model weights (.safetensors with its .json card); default: bundled")
    p.add_argument("--device", help="cpu, cuda, cuda:1, mps (default: best available)")
    p.add_argument("--no-model", action="store_true", help="only view the scan; do not run the model")
    p.add_argument("--no-3d", action="store_true", help="no 3D view (e.g. without OpenGL)")
    p.add_argument("--pacs", metavar="URL",
                   help="open the Open from PACS dialog on this DICOMweb server "
                        "(e.g. http://localhost:8042/dicom-web) instead of the demo case")
    return p.parse_args(list(sys.argv[1:] if argv is None else argv))


def create_window(args: argparse.Namespace):
    """QApplication + shown main window; the scan opens on the next event-loop turn."""
    if not args.no_3d:  # VTK imports beside the window's construction, not after it
        from viewer.qt.preload_3d import start_import_3d

        start_import_3d()
    import pyqtgraph as pg
    from PySide6 import QtCore, QtGui, QtWidgets

    from engine.resources import resources_dir

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    app.setApplicationName("ctcam")
    app.setDesktopFileName("ctcam")  # matches packaging/ctcam.desktop (Wayland window icon)
    icon = resources_dir() / "icons" / "ctcam-256.png"
    if icon.is_file():
        app.setWindowIcon(QtGui.QIcon(str(icon)))
    app.setOrganizationName("ctcam")
    pg.setConfigOptions(antialias=False, imageAxisOrder="col-major")

    from viewer.qt.main_window import MainWindow

    win = MainWindow(run_model=not args.no_model, model=args.model, device=args.device,
                     with_3d=not args.no_3d)
    if not args.no_3d:  # VTK's import and the OpenGL context hold the GIL for long stretches:
        win.build_3d_now()  # before the first paint, not while the window is on the screen
    from viewer.qt.long_lived import freeze_long_lived

    freeze_long_lived(collect=True)  # before the first paint: nothing is on the screen yet
    win.show()

    def start() -> None:
        if args.path:
            win.open_path(args.path, organs=args.organs)
        elif getattr(args, "pacs", None):
            win.open_pacs_dialog(args.pacs)
        else:
            win.open_demo()

    QtCore.QTimer.singleShot(0, start)
    return app, win


def display_problem(env=None, platform: str | None = None) -> str | None:
    """Why a window cannot open here (Linux without a graphical session), else None.

    Qt would abort with "no Qt platform plugin could be initialized ... reinstalling the
    application may fix this problem", which sends users the wrong way.
    """
    import os

    env = os.environ if env is None else env
    platform = sys.platform if platform is None else platform
    if not platform.startswith("linux") or env.get("QT_QPA_PLATFORM"):
        return None
    if env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"):
        return None
    return ("no display: ctcam is a desktop application and this session has no graphical "
            "display (neither DISPLAY nor WAYLAND_DISPLAY is set). Start it from the desktop, "
            "over SSH with 'ssh -X', or explain scans without a window: "
            "'ctcam explain SCAN --out DIR'.")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    problem = display_problem()
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    app, _win = create_window(args)
    return int(app.exec())


if __name__ == "__main__":
    sys.exit(main())
