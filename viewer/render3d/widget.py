"""The 3D view widget, :class:`Render3DView`: a Qt widget around a :class:`Scene3D`.

Its public API (data, drawing and export calls, signals, backends) is described in the
package docstring, ``viewer/render3d/__init__.py``.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QEventLoop, QTimer, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QVBoxLayout, QWidget
from vtkmodules.qt.QVTKRenderWindowInteractor import QVTKRenderWindowInteractor
from vtkmodules.vtkInteractionStyle import vtkInteractorStyleTrackballCamera
from vtkmodules.vtkRenderingCore import vtkCamera, vtkRenderWindow

from engine.errors import CTCamError
from viewer.render3d.call_checks import check_call
from viewer.render3d.call_log import CallLog
from viewer.render3d.camera import VIEWS, apply_camera_state, camera_state
from viewer.render3d.canvas import ImageCanvas
from viewer.render3d.data import Render3DError
from viewer.render3d.offscreen import OffscreenRenderer, make_offscreen_window
from viewer.render3d.render_thread import RenderThread
from viewer.render3d.scene import CLIP_AXES, Scene3D
from viewer.render3d.style import COLORMAPS, PRESETS
from viewer.render3d.surfaces import MapLayer

__all__ = [
    "CLIP_AXES",
    "COLORMAPS",
    "PRESETS",
    "VIEWS",
    "MapLayer",
    "OffscreenRenderer",
    "Render3DError",
    "Render3DView",
    "Scene3D",
]

log = logging.getLogger(__name__)

NATIVE_PLATFORMS = ("xcb", "windows", "cocoa")
THREAD_SETTLE_MS = 120
BACKENDS = ("thread", "native", "image")


def choose_backend() -> str:
    """"thread" on Linux (frames drawn offscreen in a worker thread and shown as images, so
    the GUI thread never waits for OpenGL: on software OpenGL a frame takes 0.1-1.5 s);
    "native" (VTK draws into the Qt window) on Windows and macOS; "image" (offscreen frames
    drawn on the GUI thread) where neither fits.  ``CTCAM_3D_BACKEND`` overrides."""
    forced = os.environ.get("CTCAM_3D_BACKEND")
    if forced:
        return forced
    if sys.platform.startswith("linux"):
        return "thread"
    app = QGuiApplication.instance()
    platform = app.platformName() if app is not None else ""
    return "native" if platform in NATIVE_PLATFORMS else "image"


def _native_window():
    """A render window that can draw into a Qt window id.

    ``VTK_DEFAULT_OPENGL_WINDOW=vtkEGLRenderWindow`` (set for headless renders) would make
    the default factory return an EGL window, which cannot attach to an X window id, so on
    X11 the GLX window is created explicitly.
    """
    if sys.platform.startswith("linux"):
        from vtkmodules.vtkRenderingOpenGL2 import vtkXOpenGLRenderWindow

        return vtkXOpenGLRenderWindow()
    return vtkRenderWindow()


def _scene_call(name: str, *, cursor: bool = False):
    """Make a forwarding method: run now when visible, else queue."""

    def method(self, *args, **kwargs):
        self._call(name, args, kwargs, cursor=cursor)

    method.__name__ = name
    method.__doc__ = getattr(Scene3D, name).__doc__
    return method


class Render3DView(QWidget):
    """Qt widget around :class:`Scene3D` (see the module docstring for the API)."""

    rendered = Signal(float)
    failed = Signal(str)  # message of a deferred call that failed when applied
    _frame_ready = Signal(object, object, float, int)  # from the render thread (queued)
    _thread_error = Signal(str)

    def __init__(self, parent: QWidget | None = None, *, max_dim: int = 160,
                 cursor_render_delay_ms: int = 150, backend: str | None = None,
                 frame_budget_s: float | None = 0.2) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.backend = backend or choose_backend()
        if self.backend not in BACKENDS:
            raise Render3DError(f"unknown 3D backend {self.backend!r}; use one of {', '.join(BACKENDS)}")
        self._vtk = None
        self._canvas = None
        self._thread: RenderThread | None = None
        self.scene: Scene3D | None = None  # None with the "thread" backend (the thread owns it)
        if self.backend == "native":
            self._vtk = QVTKRenderWindowInteractor(self, rw=_native_window())
            layout.addWidget(self._vtk)
            self.scene = Scene3D(self._vtk.GetRenderWindow(), max_dim=max_dim, frame_budget_s=frame_budget_s)
            self._style = vtkInteractorStyleTrackballCamera()
            self._vtk.SetInteractorStyle(self._style)
            if frame_budget_s:  # frames the interactor draws after a drag keep to the budget too
                self._vtk.SetStillUpdateRate(1.0 / frame_budget_s)
            self._vtk.Initialize()
        elif self.backend == "thread":
            self._camera = vtkCamera()  # the GUI's copy; the thread's scene follows it
            self._camera_rev = 0  # bumped by every mouse move of the camera
            self._sent_rev: dict[int, int] = {}  # frame serial -> camera revision sent with it
            self._cam_sent = camera_state(self._camera)  # the camera the thread has
            self._frame_ready.connect(self._on_frame)
            self._thread_error.connect(self._on_thread_error)
            self._thread = RenderThread((400, 400), max_dim=max_dim, frame_budget_s=frame_budget_s,
                                        on_frame=self._frame_ready.emit,
                                        on_error=self._thread_error.emit)
            self._canvas = ImageCanvas(self._camera, self)
            self._canvas.camera_changed.connect(self._on_user_camera)
            self._canvas.resized.connect(lambda w, h: self.render())
            layout.addWidget(self._canvas)
        else:
            self.scene = Scene3D(make_offscreen_window((400, 400)), max_dim=max_dim,
                                 frame_budget_s=frame_budget_s)
            self._canvas = ImageCanvas(self.scene.camera, self)
            self._canvas.camera_changed.connect(self.render)
            self._canvas.resized.connect(self._on_canvas_resized)
            layout.addWidget(self._canvas)
        self._max_dim = int(max_dim)
        self._pending = CallLog()  # calls not yet applied (widget hidden)
        self._history = CallLog()  # every call, coalesced (for offscreen export replay)
        self._dirty = False
        self._closed = False
        self.cursor_render_delay_ms = int(cursor_render_delay_ms)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._render_now)
        self.last_render_s: float | None = None

    @property
    def camera(self):
        """The camera the view is drawn with (exports copy it)."""
        return self._camera if self._thread is not None else self.scene.camera

    @property
    def max_dim(self) -> int:
        """Voxels per axis the scene block-averages volumes and organ maps to."""
        return self._max_dim

    def _on_canvas_resized(self, w: int, h: int) -> None:
        self.scene.window.SetSize(w, h)
        self.render()

    # -- scene calls ---------------------------------------------------------------------
    set_volume = _scene_call("set_volume")
    clear_volume = _scene_call("clear_volume")
    set_preset = _scene_call("set_preset")
    set_organs = _scene_call("set_organs")
    clear_organs = _scene_call("clear_organs")
    set_organ_visible = _scene_call("set_organ_visible")
    set_organ_opacity = _scene_call("set_organ_opacity")
    set_map = _scene_call("set_map")
    clear_map = _scene_call("clear_map")
    set_maps_side_by_side = _scene_call("set_maps_side_by_side")
    set_single = _scene_call("set_single")
    set_cursor = _scene_call("set_cursor", cursor=True)
    set_clip = _scene_call("set_clip")
    reset_camera = _scene_call("reset_camera")

    @property
    def presets(self) -> list[str]:
        return list(PRESETS)

    def _call(self, name: str, args: tuple, kwargs: dict, *, cursor: bool = False) -> None:
        if self._closed:
            return
        check_call(name, args, kwargs)
        self._history.add(name, args, kwargs)
        if self._can_draw() and not cursor and self._thread is None:
            getattr(self.scene, name)(*args, **kwargs)
            self._request_render(0)
        elif self._can_draw() and not cursor:
            # "thread": calls wait THREAD_SETTLE_MS (coalesced) so that the render thread's
            # Python work (surfaces, textures) starts after the GUI's own burst of work, e.g.
            # when a result arrives, instead of sharing the interpreter lock with it
            self._pending.add(name, args, kwargs)
            self._request_render(THREAD_SETTLE_MS)
        else:
            # Hidden: everything waits for showEvent.  Cursor moves wait for the (debounced)
            # frame even when visible, so a slice step costs the 3D view a list append.
            self._pending.add(name, args, kwargs)
            self._dirty = True
            if cursor:
                self._request_render(self.cursor_render_delay_ms)

    # -- rendering -----------------------------------------------------------------------
    def warm_up(self, timeout_s: float = 3.0) -> bool:
        """Make the OpenGL context now and wait for it (at most ``timeout_s``): with the
        "thread" backend, before the window's first paint (``RenderThread.warm_up``); a no-op
        with the others.  True when the context is ready (or the thread gave up on it)."""
        if self._thread is None:
            return True
        self._thread.warm_up()
        return self._thread.wait_ready(timeout_s)

    def _can_draw(self) -> bool:
        return not self._closed and self.isVisible() and not self.window().isMinimized()

    def render(self) -> None:
        """Request one frame (drawn on the next event-loop turn, or when shown)."""
        settle = self._thread is not None and bool(self._pending.calls)
        self._request_render(THREAD_SETTLE_MS if settle else 0)

    def _request_render(self, delay_ms: int) -> None:
        if not self._can_draw():
            self._dirty = True
            return
        if self._timer.isActive() and delay_ms > 0:
            self._timer.start(delay_ms)  # debounce: restart the wait
            return
        if self._timer.isActive() and self._timer.remainingTime() <= delay_ms:
            return
        self._timer.start(delay_ms)

    def _flush(self) -> None:
        calls, self._pending.calls = self._pending.calls, []
        if self._thread is not None:  # errors come back through _on_thread_error
            for name, args, kwargs in calls:
                self._thread.call(name, args, kwargs)
            return
        for name, args, kwargs in calls:
            try:
                getattr(self.scene, name)(*args, **kwargs)
            except CTCamError as exc:  # a deferred call cannot raise to its caller: report it
                log.warning("3D view: %s", exc)
                self.failed.emit(str(exc))

    def _render_now(self) -> None:
        if not self._can_draw():
            self._dirty = True
            return
        self._flush()
        if self._thread is not None:  # the frame arrives in _on_frame
            state = camera_state(self._camera)
            if state != self._cam_sent:  # moved by the mouse or by a caller since the last frame
                self._camera_rev += 1
                self._thread.call("camera", (state,))
                self._cam_sent = state
            serial = self._thread.request_frame((max(64, self.width()), max(64, self.height())))
            self._sent_rev[serial] = self._camera_rev
            self._dirty = False
            return
        t0 = time.perf_counter()
        if self._canvas is not None:
            self._canvas.set_frame(self.scene.capture(full_quality=False))
        else:
            self.scene.render()
        self.last_render_s = time.perf_counter() - t0
        self._dirty = False
        self.rendered.emit(self.last_render_s)

    def render_sync(self, timeout_s: float = 60.0) -> None:
        """Draw one frame now if visible and wait for it (tests, exports)."""
        self._timer.stop()
        if self._thread is None:
            self._render_now()
            return
        n = self.frames_shown
        self._render_now()
        deadline = time.monotonic() + timeout_s
        while self.frames_shown == n and self._thread.alive and time.monotonic() < deadline:
            QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 20)

    # -- "thread" backend ----------------------------------------------------------------
    frames_shown = 0
    last_frame = None  # (H, W, 3) uint8 of the last frame shown

    def _on_user_camera(self) -> None:
        self._camera_rev += 1  # a frame already under way must not undo this move
        self.render()

    def _on_frame(self, rgb, camera: dict, seconds: float, serial: int) -> None:
        if self._closed:
            return
        if self._sent_rev.pop(serial, None) == self._camera_rev:
            # no mouse move since this frame was asked for: adopt the scene's camera (set
            # by set_volume's fit or reset_camera)
            apply_camera_state(self._camera, camera)
            self._cam_sent = camera
        self._sent_rev = {k: v for k, v in self._sent_rev.items() if k > serial}
        self._canvas.set_frame(rgb)
        self.last_frame = rgb
        self.frames_shown += 1
        self.last_render_s = seconds
        self.rendered.emit(seconds)

    def _on_thread_error(self, message: str) -> None:
        log.warning("%s", message)
        if not self._thread.alive:  # the renderer could not start: say so where it would draw
            self._canvas.set_message(message + "\nThe 2D views work as before; start with --no-3d "
                                     "to hide this view.")
        self.failed.emit(message)

    def showEvent(self, event) -> None:  # noqa: N802 (Qt API)
        super().showEvent(event)
        if self._dirty or self._pending.calls:
            self._request_render(0)

    # -- export --------------------------------------------------------------------------
    def _export_scene(self):
        """The live scene when visible, else an offscreen replay with the same camera."""
        if self._can_draw() and self._thread is None:
            self._timer.stop()
            self._flush()
            return self.scene, False
        size = (max(64, self.width()), max(64, self.height()))
        off = OffscreenRenderer(size, max_dim=self._max_dim)
        self._history.replay(off)
        apply_camera_state(off.camera, camera_state(self.camera))
        return off, True

    def screenshot(self, path) -> Path:
        """Write the 3D view as a PNG file."""
        scene, temporary = self._export_scene()
        try:
            return scene.screenshot(path)
        finally:
            if temporary:
                scene.close()

    def turntable(self, path, n_frames: int = 36, fps: float = 12.0) -> Path:
        """Write a 360-degree turntable GIF of the current scene."""
        scene, temporary = self._export_scene()
        try:
            return scene.turntable(path, n_frames=n_frames, fps=fps)
        finally:
            if temporary:
                scene.close()

    # -- lifetime ------------------------------------------------------------------------
    def shutdown(self) -> None:
        """Release VTK/OpenGL resources; the widget draws nothing afterwards."""
        if self._closed:
            return
        self._closed = True
        self._timer.stop()
        self._pending.clear()
        self._history.clear()
        if self._thread is not None:
            self._thread.close()  # joins; the thread releases its own OpenGL context
            return
        self.scene.close()
        if self._vtk is not None:
            # QVTKRenderWindowInteractor's observers hold bound methods of the Qt widget:
            # a reference cycle through C++ that Python's GC cannot see.  Break it.
            self._vtk.GetRenderWindow().GetInteractor().RemoveAllObservers()
            self._vtk.GetRenderWindow().RemoveAllObservers()
            self._vtk.Finalize()
        else:
            self.scene.window.Finalize()

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt API)
        self.shutdown()
        super().closeEvent(event)
