"""Render the viewer's main states to PNGs (docs/screenshots/) for the README.

Runs the real application on the demo case (or ``--case``) with the bundled model (or
``--model``) under an X server: it re-executes itself through ``xvfb-run`` when there is no
``$DISPLAY``, so the VTK 3D view renders too.  Each picture is grabbed from the screen, so
what you see is what a user sees.

    python tools/screenshots.py [--out docs/screenshots] [--case scan.nii.gz --organs organs.nii.gz]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIZE = (1600, 960)


def _pump(app, seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.005)


MAX_BYTES = 390_000  # README pictures: each PNG under 400 KB


def _compress(path: Path) -> None:
    """Re-save with zlib level 9; if still too big, as a 256-colour palette PNG with error
    diffusion (no banding in the colour bar or the heat maps; text stays sharp)."""
    from PIL import Image

    with Image.open(path) as im:
        rgb = im.convert("RGB")
    rgb.save(path, optimize=True)
    if path.stat().st_size > MAX_BYTES:
        rgb.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.FLOYDSTEINBERG).save(path, optimize=True)


def _shoot(app, win, path: Path, settle: float = 0.8) -> None:
    """The window as Qt renders it, with the 3D view's OpenGL frame taken from the screen
    (a widget grab cannot read OpenGL content)."""
    from PySide6 import QtCore, QtGui

    _pump(app, settle)
    image = win.grab().toImage()
    v3 = win.view3d
    if v3 is not None and v3.isVisible():
        top_left = v3.mapToGlobal(QtCore.QPoint(0, 0))
        frame = app.primaryScreen().grabWindow(0, top_left.x(), top_left.y(), v3.width(), v3.height())
        painter = QtGui.QPainter(image)
        painter.drawPixmap(v3.mapTo(win, QtCore.QPoint(0, 0)), frame)
        painter.end()
    image.save(str(path))
    _compress(path)
    print("wrote", path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)


def left_lung_finding(win, findings, truth: set[str] | None = None):
    """The left-lung finding the case truly has (``truth``: label names, e.g. the demo's
    labels.json), else the most probable left-lung finding whose HiResCAM peak lies in the
    left lung (so the picture shows a map where the finding is), else the most probable."""
    import numpy as np

    res, vol = win.state.result, win.state.volume
    codes = (res.card.get("organ_codes") or {}) if res is not None else {}
    left = [f for f in findings if f.organ == "left_lung"] or findings
    true_left = [f for f in left if truth and f.name in truth]
    if true_left:
        return true_left[0]
    if res is not None and res.organ_map is not None and "left_lung" in codes:
        for f in left:
            ijk = np.clip(np.rint(vol.index(np.array(f.peak_ras))).astype(int), 0, np.array(vol.shape) - 1)
            if int(res.organ_map[tuple(ijk)]) == int(codes["left_lung"]):
                return f
    return left[0]


def run(args: argparse.Namespace) -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "xcb")
    sys.path.insert(0, str(ROOT))
    from viewer.app import create_window, parse_args

    app_args = parse_args([] if not args.case else [args.case])
    app_args.organs, app_args.model = args.organs, args.model
    app, win = create_window(app_args)
    win.setGeometry(0, 0, *SIZE)
    errors: list[str] = []
    win.runner.failed.connect(lambda kind, msg: errors.append(msg))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    deadline = time.perf_counter() + args.timeout
    while win.state.result is None and not errors and time.perf_counter() < deadline:
        _pump(app, 0.05)
    if win.state.result is None:
        print("error:", errors[0] if errors else "no result before the timeout")
        return 1
    s = win.state
    findings = sorted(win.findings, key=lambda f: -f.probability)
    truth = None
    if not args.case:  # the demo: show the left-lung finding it really has
        import json

        from engine.resources import demo_case_path

        labels = json.loads((demo_case_path().parent / "labels.json").read_text())["labels"]
        truth = {name for name, present in labels.items() if present}
    # the demo: its most probable true lung finding that the model calls positive (the one a
    # reader sees found), then the other true lung findings, else the left-lung finding
    true_lung = sorted((f for f in findings if truth and f.name in truth and f.organ != "heart"),
                       key=lambda f: (not f.positive, -f.probability))
    left = true_lung[0] if true_lung else left_lung_finding(win, findings, truth)

    win.findings_panel.select_label(left.index)
    s.apply_preset("lung")
    _shoot(app, win, out / "main.png", settle=2.0)

    # the comparison: one large axial view as two linked panes, HiResCAM | Grad-CAM
    s.update(layout="single", single_view="axial", side_by_side=True)
    _shoot(app, win, out / "comparison.png", settle=2.0)

    s.update(side_by_side=False, method="difference", signed=True)
    _shoot(app, win, out / "difference.png")

    # the 3D view on its own (an oblique look at the selected map, the anterior lung cut away)
    # (lung preset, lung surfaces hidden so the map inside them shows; the heart kept)
    codes = (s.result.card.get("organ_codes") or {}) if s.result is not None else {}
    lungs = {int(c) for name, c in codes.items() if "lung" in name}
    s.update(method="hirescam", signed=False, preset3d="lung", organs3d_hidden=lungs)
    win.set_layout("quad")
    _pump(app, 1.0)
    if win.view3d is not None:
        win.view3d_link.reset_camera()
        win.view3d.camera.Azimuth(-25)
        win.view3d.camera.Elevation(15)
        win.view3d.camera.OrthogonalizeViewUp()
        win.view3d.render_sync()
        _pump(app, 0.5)
        win.view3d.screenshot(out / "view3d.png")
        _compress(out / "view3d.png")
        print("wrote", out / "view3d.png")
        win.view3d_link.reset_camera()
    s.update(preset3d="soft tissue chest", organs3d_hidden=())

    win.show_model_card()
    _pump(app, 0.5)
    from viewer.qt.model_dialog import ModelCardDialog

    dlg = win.findChild(ModelCardDialog)
    if dlg is not None:
        dlg.resize(640, 720)
        _pump(app, 0.5)
        dlg.grab().save(str(out / "model_card.png"))
        _compress(out / "model_card.png")
        print("wrote", out / "model_card.png")
        dlg.close()
    _shoot_unsuitable(app, win, out, deadline)
    win.runner.wait_all(5000)
    win.close()
    return 0


def _shoot_unsuitable(app, win, out: Path, deadline: float) -> None:
    """A head-like CT (tools/suitability_cases.py): the banner over the findings, the
    probabilities greyed, no maps until "show anyway"."""
    import tempfile

    from engine.io.nifti import write_nifti

    sys.path.insert(0, str(ROOT / "tools"))
    from suitability_cases import head_like

    vol = head_like()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "head_ct.nii.gz"
        write_nifti(path, vol.hu, vol.affine)
        win.set_layout("quad")
        win.open_path(str(path))
        _pump(app, 0.5)
        while (win.state.result is None or "head_ct" not in (win.state.scan_id or "")) and \
                time.perf_counter() < deadline:
            _pump(app, 0.05)
        if win.state.result is not None:
            _shoot(app, win, out / "unsuitable.png", settle=1.5)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    p.add_argument("--case", help="scan to show (default: the demo case)")
    p.add_argument("--organs", help="organ map of --case")
    p.add_argument("--model", help="weights (default: the bundled model)")
    p.add_argument("--timeout", type=float, default=600.0)
    args = p.parse_args(argv)
    rc = under_xvfb(__file__, argv)
    return run(args) if rc is None else rc


def under_xvfb(script: str, argv: list[str] | None) -> int | None:
    """Without an X display, run ``script`` again under ``xvfb-run`` (the VTK view needs a
    real X server) and return its exit code; None when a display is there (run here)."""
    if os.environ.get("DISPLAY") or os.environ.get("QT_QPA_PLATFORM", "xcb") != "xcb":
        return None
    xvfb = shutil.which("xvfb-run")
    if xvfb is None:
        print("error: no X display and no xvfb-run; install xvfb (apt-get install xvfb) or set DISPLAY")
        return 2
    return subprocess.call([xvfb, "-a", "-s", f"-screen 0 {SIZE[0]}x{SIZE[1]}x24", sys.executable,
                            script, *(argv if argv is not None else sys.argv[1:])])


if __name__ == "__main__":
    sys.exit(main())
