"""A :class:`Scene3D` owned by one worker thread: 3D frames never block the GUI thread.

On software OpenGL (llvmpipe) creating the context, building shaders, uploading the volume
texture and drawing a frame each take 0.1-1.5 s.  VTK's Python wrapping releases the GIL
while it renders (measured: a thread rendering the demo volume leaves the main thread's
longest gap at 11-34 ms), so the whole scene lives in this thread, in its own offscreen
window: the OpenGL context is created, used and destroyed there and nowhere else.

The owner talks to it with two calls, both cheap and non-blocking:

* :meth:`RenderThread.call` -- queue a scene call (``"set_volume"``, ``"set_map"``, ...) or
  ``"camera"`` with a camera state (``viewer.render3d.camera.camera_state``); calls are
  applied in order.
* :meth:`RenderThread.request_frame` -- ask for a frame (at a size); requests made while a
  frame is being drawn are merged into one.

Every frame is handed to ``on_frame(rgb, camera, seconds, serial)`` *from the worker
thread* (the Qt widget re-emits it as a queued signal): ``rgb`` (H, W, 3) uint8, ``camera``
the scene's camera state after the calls (``set_volume`` fits the camera, ``reset_camera``
moves it), ``serial`` the :meth:`request_frame` serial the frame answers.  A scene call
that fails reports ``on_error(message)`` and the thread goes on with the next call.

This module is Qt-free (tested headless in ``tests/render``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import numpy as np

from engine.errors import CTCamError
from viewer.model.priority import lower_priority
from viewer.render3d.camera import apply_camera_state, camera_state

log = logging.getLogger(__name__)

# Niceness the render thread adds (llvmpipe's rasterisers, started by it, inherit it), so
# that on a 2-core machine a software-OpenGL frame takes the cores only when the GUI does
# not need them.
RENDER_NICE = 10


def _ignore(*args) -> None:
    return None


class RenderThread:
    """One worker thread that owns an offscreen :class:`Scene3D` (see the module docstring)."""

    def __init__(self, size: tuple[int, int], *, max_dim: int = 160,
                 frame_budget_s: float | None = 0.2,
                 on_frame: Callable[[np.ndarray, dict, float, int], None],
                 on_error: Callable[[str], None]) -> None:
        self._cond = threading.Condition()
        self._calls: list[tuple[str, tuple, dict]] = []
        self._size = (int(size[0]), int(size[1]))
        self._want = 0  # serial of the newest frame request not yet drawn (0: none)
        self._serial = 0
        self._closing = False
        self._max_dim = int(max_dim)
        self._budget = frame_budget_s
        self._on_frame = on_frame
        self._on_error = on_error
        self._warm = False  # warm_up() asked for the context before any work
        self._ready = threading.Event()  # set once the context exists (or could not be made)
        self.native_id: int | None = None  # the worker's OS thread id, once it runs
        self._thread = threading.Thread(target=self._run, name="ctcam-3d-render", daemon=True)
        self._thread.start()

    # -- owner side (any thread) --------------------------------------------------------
    def call(self, name: str, args: tuple = (), kwargs: dict | None = None) -> None:
        with self._cond:
            self._calls.append((name, tuple(args), dict(kwargs or {})))
            self._cond.notify()

    def request_frame(self, size: tuple[int, int] | None = None) -> int:
        """Ask for a frame; returns its serial (the frame that answers it carries it)."""
        with self._cond:
            if size is not None:
                self._size = (max(16, int(size[0])), max(16, int(size[1])))
            self._serial += 1
            self._want = self._serial
            self._cond.notify()
            return self._serial

    def warm_up(self) -> None:
        """Make the OpenGL context and draw one frame (handed to nobody) now, not with the
        first real frame: on llvmpipe that takes 0.3-0.4 s, 70-90 ms of it holding the GIL
        in one stretch (context creation), which stalled the shown window.  The viewer does
        it before its window's first paint (``viewer.app.create_window``)."""
        with self._cond:
            self._warm = True
            self._cond.notify()

    def wait_ready(self, timeout_s: float) -> bool:
        """Wait until the context exists or could not be made; True when that happened."""
        return self._ready.wait(timeout_s)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def close(self, timeout: float = 10.0) -> None:
        """Stop the thread after the call in progress; it releases its OpenGL context."""
        with self._cond:
            self._closing = True
            self._calls = []
            self._cond.notify()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)
            if not self._thread.is_alive():  # drop the owner's callbacks (reference cycles)
                self._on_frame = self._on_error = _ignore

    # -- worker side --------------------------------------------------------------------
    def _take(self) -> tuple[list, int, tuple[int, int]] | None:
        with self._cond:
            while not (self._closing or self._calls or self._want or self._warm):
                self._cond.wait()
            self._warm = False
            if self._closing:
                return None
            calls, self._calls = self._calls, []
            want, self._want = self._want, 0
            return calls, want, self._size

    def _apply(self, scene, calls: list) -> None:
        for name, args, kwargs in calls:
            try:
                if name == "camera":
                    apply_camera_state(scene.camera, args[0])
                else:
                    getattr(scene, name)(*args, **kwargs)
            except CTCamError as exc:
                self._on_error(str(exc))
            except Exception as exc:  # noqa: BLE001 -- a bad call must not end the thread
                log.exception("3D view: %s failed", name)
                self._on_error(f"3D view: {name} failed ({type(exc).__name__}: {exc})")

    def _serve(self, scene, window, size: tuple[int, int], calls: list, want: int,
               new_size: tuple[int, int]) -> tuple[int, int]:
        """Apply ``calls``, then draw and hand over the frame ``want`` asks for (if any);
        returns the window's size."""
        self._apply(scene, calls)
        if not want:
            return size
        if new_size != size:
            window.SetSize(*new_size)
        t0 = time.perf_counter()
        try:
            rgb = scene.capture(full_quality=False)
        except Exception as exc:  # noqa: BLE001
            log.exception("3D view: frame failed")
            self._on_error(f"3D view: drawing the frame failed ({exc})")
            return new_size
        self._on_frame(rgb, camera_state(scene.camera), time.perf_counter() - t0, want)
        return new_size

    def _run(self) -> None:
        from viewer.render3d.offscreen import make_offscreen_window
        from viewer.render3d.scene import Scene3D

        self.native_id = threading.get_native_id()
        lower_priority(RENDER_NICE)
        # the OpenGL context is made when there is work (or warm_up), not at the thread's start
        work = self._take()
        if work is None:
            self._ready.set()
            return
        size = work[2]  # the window's size
        try:
            window = make_offscreen_window(size)
            scene = Scene3D(window, max_dim=self._max_dim, frame_budget_s=self._budget)
            if not (work[0] or work[1]):  # warm_up: the first frame compiles the shaders
                scene.capture(full_quality=False)
        except Exception as exc:  # noqa: BLE001 -- no OpenGL: the owner shows the message
            log.exception("3D view: cannot create the offscreen renderer")
            self._on_error(f"3D view unavailable: cannot create an OpenGL context ({exc})")
            self._ready.set()
            return
        self._ready.set()
        try:
            while work is not None:
                size = self._serve(scene, window, size, *work)
                work = self._take()
        finally:
            scene.close()
            window.Finalize()
