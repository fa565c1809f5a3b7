"""3D view benchmark: offscreen frame times, and slice scrolling with and without the 3D view.

Run:  python benchmarks/render3d.py [--size 600] [--steps 160] [--no-xvfb]

1. Offscreen (EGL) frame times of the demo case (``resources/demo/case.nii.gz`` and its organ
   map; a synthetic chest of the same kind when the demo case is absent): data upload, first
   frame, and the median of later frames (camera turned between frames) for each preset.
2. Slice-step time of the viewer's axial ``SliceView`` (pyqtgraph) scrolled through the
   scan, alone and next to a visible ``Render3DView`` linked to the same state (every step
   moves the 3D cursor), measured in alternating blocks in one run.  Target ratio <= 1.2.
   Also shown: the same with the 3D cursor debounce switched off (a frame per step), which is
   what the debounce saves, and the delay until the 3D view catches up after scrolling stops.
   Uses a native VTK window under Xvfb when available, else Qt's offscreen platform with the
   3D view's image backend.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "render"))
os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")

import numpy as np  # noqa: E402

ORGAN_NAMES = {1: "right lung", 2: "heart", 3: "left lung"}
ORGAN_COLORS = {1: (90, 160, 230), 2: (230, 90, 90), 3: (90, 200, 140)}


def load_case():
    """(CTVolume, organ map or None, description)."""
    from engine.resources import demo_case_path, demo_organs_path

    path = demo_case_path()
    if path.exists():
        import nibabel as nib

        from engine.io import load
        from engine.volume import canonicalize

        vol = load(path)
        organs = None
        if demo_organs_path().exists():
            img = nib.load(str(demo_organs_path()))
            lab, _ = canonicalize(np.asarray(img.dataobj).astype(np.uint8), img.affine)
            organs = lab if lab.shape == vol.shape else None
        return vol, organs, f"demo case {path.name} {vol.shape}"
    from synthetic_chest import make_chest

    vol, lab = make_chest(shape=(256, 224, 120), spacing=(1.3, 1.3, 2.7))
    return vol, lab, f"synthetic chest {vol.shape} (demo case not found at {path})"


def demo_maps(vol):
    """Two coarse 'HiResCAM'/'Grad-CAM'-like maps on a 96x96x16 grid over the scan."""
    shape = (96, 96, 16)
    lo = vol.world(np.zeros(3))
    hi = vol.world(np.array(vol.shape) - 1)
    spacing = (hi - lo) / (np.array(shape) - 1)
    aff = np.diag([*spacing, 1.0])
    aff[:3, 3] = lo
    idx = np.stack(np.meshgrid(*(np.arange(n) for n in shape), indexing="ij"), -1).reshape(-1, 3)
    world = idx @ aff[:3, :3].T + aff[:3, 3]
    c = vol.center_world()
    left_lung = c + np.array([-0.22, 0.0, 0.1]) * (hi - lo)
    d1 = np.sum((world - left_lung) ** 2, -1).reshape(shape)
    d2 = np.sum((world - left_lung - [25.0, 20.0, -30.0]) ** 2, -1).reshape(shape)
    return (np.exp(-d1 / (2 * 25.0**2)).astype(np.float32), aff), (0.7 * np.exp(-d2 / (2 * 45.0**2)).astype(np.float32), aff)


def _orbit_frame_times(r, frames: int) -> list[float]:
    """Seconds per frame while the camera orbits 10 degrees a frame (after one warm-up)."""
    r.render()
    times = []
    for _ in range(frames):
        r.camera.Azimuth(10.0)
        t0 = time.perf_counter()
        r.render()
        times.append(time.perf_counter() - t0)
    return times


def offscreen_frames(vol, organs, size: int, frames: int) -> None:
    from viewer.render3d.offscreen import OffscreenRenderer
    from viewer.render3d.style import PRESETS

    (h, aff), (g, _) = demo_maps(vol)
    t0 = time.perf_counter()
    r = OffscreenRenderer((size, size))
    t_window = time.perf_counter() - t0
    t0 = time.perf_counter()
    r.set_volume(vol)
    t_vol = time.perf_counter() - t0
    t0 = time.perf_counter()
    if organs is not None:
        r.set_organs(organs, ORGAN_NAMES, ORGAN_COLORS)
    t_org = time.perf_counter() - t0
    t0 = time.perf_counter()
    r.set_map(h, aff, title="HiResCAM")
    t_map = time.perf_counter() - t0
    t0 = time.perf_counter()
    r.render()
    t_first = time.perf_counter() - t0
    print(f"  render window {t_window * 1e3:7.1f} ms | set_volume {t_vol * 1e3:7.1f} ms | "
          f"set_organs {t_org * 1e3:7.1f} ms | set_map {t_map * 1e3:6.1f} ms")
    print(f"  first frame (uploads, shader builds)        {t_first * 1e3:8.1f} ms  ({size}x{size})")
    for preset in PRESETS:
        r.set_preset(preset)
        times = _orbit_frame_times(r, frames)
        print(f"  later frames, preset {preset!r:20s} median {statistics.median(times) * 1e3:8.1f} ms"
              f"  (min {min(times) * 1e3:.1f}, n={frames})")
    r.set_preset("soft tissue chest")
    r.frame_budget_s = 0.2  # as in the viewer: draft frames on software OpenGL
    times = _orbit_frame_times(r, frames)
    print(f"  later frames, viewer's frame budget 0.2 s  median {statistics.median(times) * 1e3:8.1f} ms"
          f"  ({'software GL: draft frames' if r.software_gl else 'hardware GL: full quality'})")
    r.frame_budget_s = None
    r.set_maps_side_by_side((h, aff, {"title": "HiResCAM"}), (g, aff, {"title": "Grad-CAM"}))
    times = _orbit_frame_times(r, frames)
    print(f"  later frames, side by side (2 panes)        median {statistics.median(times) * 1e3:8.1f} ms")
    print(f"  OpenGL: {_gl_renderer(r.window)}")
    r.close()


def _gl_renderer(window) -> str:
    caps = window.ReportCapabilities() or ""
    for line in caps.splitlines():
        if "renderer string" in line:
            return line.split(":", 1)[1].strip()
    return "unknown"


def start_xvfb():
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        return None
    r, w = os.pipe()
    proc = subprocess.Popen([xvfb, "-displayfd", str(w), "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
                            pass_fds=(w,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(w)
    with os.fdopen(r) as fh:
        number = fh.readline().strip()
    if not number:
        proc.kill()
        return None
    os.environ["DISPLAY"] = f":{number}"
    return proc


class Bench:
    """A window holding an axial SliceView and optionally a linked Render3DView."""

    def __init__(self, app, vol, with_3d: bool, debounce_ms: int, frame_budget_s: float | None = 0.2) -> None:
        from PySide6.QtWidgets import QHBoxLayout, QWidget

        from viewer.model.overlay import OverlayModel
        from viewer.model.state import ViewerState
        from viewer.qt.slice_view import SliceView

        self.app = app
        self.state = ViewerState()
        self.overlay = OverlayModel(self.state)
        self.win = QWidget()
        lay = QHBoxLayout(self.win)
        self.slice = SliceView(self.state, "axial", self.overlay)
        lay.addWidget(self.slice)
        self.view3d = None
        if with_3d:
            from viewer.qt.view3d_link import View3DLink
            from viewer.render3d.widget import Render3DView

            self.view3d = Render3DView(cursor_render_delay_ms=debounce_ms, frame_budget_s=frame_budget_s)
            lay.addWidget(self.view3d)
            self.link = View3DLink(self.state, self.overlay, self.view3d)
            self.view3d.rendered.connect(self._count)
        self.frames_drawn = 0
        self.counting = False
        self.win.resize(1100 if with_3d else 550, 550)
        self.win.show()
        self.state.set_scan(vol, "bench")
        self.settle()

    def settle(self, timeout: float = 60.0) -> float:
        """Process events until no 3D frame is pending; returns the seconds it took."""
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < timeout:
            self.app.processEvents()
            v = self.view3d
            if v is None or (v.last_render_s is not None and not v._timer.isActive() and not v._dirty):
                break
            time.sleep(0.002)
        for _ in range(3):
            self.app.processEvents()
        return time.perf_counter() - t0

    def _count(self, _seconds: float) -> None:
        self.frames_drawn += int(self.counting)

    def scroll(self, steps: int) -> list[float]:
        times = []
        self.counting = True
        nk = self.state.volume.shape[2]
        direction = 1
        for _ in range(steps):
            k = self.state.cursor_index()[2]
            if not (0 < k + direction < nk - 1):
                direction = -direction
            t0 = time.perf_counter()
            self.slice.step(direction)
            self.app.processEvents()
            times.append(time.perf_counter() - t0)
        self.counting = False
        return times

    def close(self) -> None:
        if self.view3d is not None:
            self.view3d.shutdown()
        self.win.close()
        self.win.deleteLater()
        self.app.processEvents()


def slice_steps(vol, steps: int, xvfb) -> None:
    os.environ.setdefault("QT_QPA_PLATFORM", "xcb" if os.environ.get("DISPLAY") else "offscreen")
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    try:
        alone = Bench(app, vol, with_3d=False, debounce_ms=150)
        with3d = Bench(app, vol, with_3d=True, debounce_ms=150)
        print(f"  Qt platform {app.platformName()!r}, 3D backend {with3d.view3d.backend!r}")
        a_times, b_times = [], []
        blocks = 8
        block = max(5, steps // blocks)
        for _ in range(blocks):  # alternate blocks so machine load hits both alike
            a_times += alone.scroll(block)
            b_times += with3d.scroll(block)
            with3d.settle()
        catch_up = []
        for _ in range(3):
            with3d.scroll(5)
            catch_up.append(with3d.settle())
        a, b = statistics.median(a_times), statistics.median(b_times)
        print(f"  slice step, slice view alone           median {a * 1e3:7.2f} ms  (p90 {np.percentile(a_times, 90) * 1e3:.2f})")
        print(f"  slice step, with 3D view open          median {b * 1e3:7.2f} ms  (p90 {np.percentile(b_times, 90) * 1e3:.2f})")
        print(f"  ratio with/without 3D view             {b / a:7.2f}   (target <= 1.2)")
        print(f"  3D frames drawn during scrolling: {with3d.frames_drawn}")
        print(f"  3D view catches up after scrolling stops in {statistics.median(catch_up) * 1e3:.0f} ms "
              f"(debounce {with3d.view3d.cursor_render_delay_ms} ms + one frame {with3d.view3d.last_render_s * 1e3:.0f} ms)")
        with3d.close()
        eager = Bench(app, vol, with_3d=True, debounce_ms=0, frame_budget_s=None)
        c_times = eager.scroll(max(6, steps // 8))
        c = statistics.median(c_times)
        print(f"  without debounce or frame budget (a full 3D frame per step) median {c * 1e3:7.1f} ms, "
              f"ratio {c / a:.1f}")
        eager.close()
        alone.close()
    finally:
        pass


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=600, help="offscreen frame size in pixels")
    p.add_argument("--frames", type=int, default=5, help="frames per preset")
    p.add_argument("--steps", type=int, default=160, help="slice steps per condition")
    p.add_argument("--no-xvfb", action="store_true", help="do not start Xvfb for the native widget")
    args = p.parse_args(argv)
    vol, organs, what = load_case()
    print(f"3D view benchmark on {what}; spacing {tuple(round(s, 2) for s in vol.spacing)} mm")
    print("offscreen frames:")
    offscreen_frames(vol, organs, args.size, args.frames)
    print("slice scrolling:")
    xvfb = start_xvfb() if not args.no_xvfb and not os.environ.get("DISPLAY") else None
    try:
        slice_steps(vol, args.steps, xvfb)
    finally:
        sys.stdout.flush()
        if xvfb is not None:  # stop our X server, then leave before Qt notices it went away
            xvfb.terminate()
            xvfb.wait(10)
            os._exit(0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
