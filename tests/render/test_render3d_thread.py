"""The default "thread" backend of the 3D view: frames are drawn by a worker thread that owns
the OpenGL context, so the GUI thread never waits for VTK (issue 17: no 3D stall)."""

from __future__ import annotations

import os
import sys
import threading

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QTimer
from synthetic_chest import LEFT_LUNG_CENTER, ORGAN_COLORS, ORGAN_NAMES, blob_map

from engine.errors import CTCamError
from viewer.render3d.render_thread import RENDER_NICE
from viewer.render3d.scene import Scene3D
from viewer.render3d.widget import Render3DView, choose_backend


@pytest.fixture
def view(qtbot, chest):
    w = Render3DView(max_dim=48, cursor_render_delay_ms=50, backend="thread")
    qtbot.addWidget(w)
    w.resize(180, 160)
    vol, lab = chest
    w.set_volume(vol)
    w.set_organs(lab, ORGAN_NAMES, ORGAN_COLORS)
    w.show()
    qtbot.waitUntil(lambda: w.frames_shown >= 1, timeout=30000)
    yield w
    w.shutdown()


def _content(frame: np.ndarray) -> float:
    return float(np.abs(frame.astype(float) - frame[1, 1].astype(float)).mean())


def test_linux_default_is_the_thread_backend(monkeypatch):
    monkeypatch.delenv("CTCAM_3D_BACKEND", raising=False)
    assert choose_backend() == "thread"
    monkeypatch.setenv("CTCAM_3D_BACKEND", "image")
    assert choose_backend() == "image"


def test_frames_come_from_the_worker_thread_with_content(view, qtbot):
    assert view.scene is None  # the GUI thread holds no scene and no OpenGL context
    assert view._thread._thread is not threading.current_thread() and view._thread.alive
    h, w, _ = view.last_frame.shape
    assert (w, h) == (view.width(), view.height())
    assert _content(view.last_frame) > 5  # the chest is drawn, not a blank frame


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="thread priorities: Linux")
def test_render_thread_yields_the_cpu_to_the_gui_thread(view):
    """On 2 cores a software-OpenGL frame must not starve the GUI: the render thread (and the
    llvmpipe threads it starts) run at a lower priority than the GUI thread."""
    gui = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    render = os.getpriority(os.PRIO_PROCESS, view._thread.native_id)
    assert render >= min(19, gui + RENDER_NICE) and render > gui


def test_gui_thread_keeps_running_while_a_frame_is_being_drawn(view, qtbot, monkeypatch):
    """Hold the render thread inside a scene call: the GUI's own timer keeps firing."""
    entered, release = threading.Event(), threading.Event()
    original = Scene3D.set_preset

    def slow_preset(self, name):
        entered.set()
        release.wait(30)
        original(self, name)

    monkeypatch.setattr(Scene3D, "set_preset", slow_preset)
    before = view.frames_shown
    view.set_preset("bone")  # returns at once: the call is queued for the thread
    qtbot.waitUntil(entered.is_set, timeout=10000)
    ticks = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start(5)
    qtbot.waitUntil(lambda: len(ticks) >= 10, timeout=10000)  # GUI events run meanwhile
    timer.stop()
    assert not release.is_set() and view.frames_shown == before  # the thread is still held
    release.set()
    qtbot.waitUntil(lambda: view.frames_shown > before, timeout=30000)


def test_mouse_camera_moves_reach_the_frame_and_resets_come_back(view, qtbot):
    view.reset_camera("anterior")
    n = view.frames_shown
    qtbot.waitUntil(lambda: view.frames_shown > n, timeout=30000)
    # the GUI's camera adopted the scene's (fitted) camera: in front of the patient, looking -y
    assert np.allclose(view.camera.GetDirectionOfProjection(), (0, -1, 0), atol=1e-6)
    front = view.last_frame.copy()
    view._camera.Azimuth(90)  # what a left-drag on the canvas does
    view._canvas.camera_changed.emit()
    n = view.frames_shown
    qtbot.waitUntil(lambda: view.frames_shown > n, timeout=30000)
    side = view.last_frame
    assert np.abs(side.astype(float) - front.astype(float)).mean() > 1.0  # drawn from the side
    assert abs(view.camera.GetDirectionOfProjection()[0]) > 0.99  # the drag was kept
    view.reset_camera("left")  # camera at the patient's left (-x), looking +x
    n = view.frames_shown
    qtbot.waitUntil(lambda: view.frames_shown > n, timeout=30000)
    assert np.allclose(view.camera.GetDirectionOfProjection(), (1, 0, 0), atol=1e-6)


def test_a_failing_call_is_reported_and_the_thread_goes_on(view, qtbot, monkeypatch):
    def broken(self, *args, **kwargs):
        raise CTCamError("organ map does not fit the scan")

    monkeypatch.setattr(Scene3D, "set_organ_opacity", broken)
    messages = []
    view.failed.connect(messages.append)
    view.set_organ_opacity(0.5)
    qtbot.waitUntil(lambda: bool(messages), timeout=30000)
    assert messages == ["organ map does not fit the scan"]
    n = view.frames_shown
    values, aff = blob_map(LEFT_LUNG_CENTER)
    view.set_map(values, aff, title="HiResCAM")
    qtbot.waitUntil(lambda: view.frames_shown > n, timeout=30000)
    assert view._thread.alive


def test_screenshot_while_shown_and_shutdown_stops_the_thread(view, qtbot, tmp_path):
    values, aff = blob_map(LEFT_LUNG_CENTER)
    view.set_map(values, aff, title="HiResCAM")
    path = view.screenshot(tmp_path / "3d.png")
    img = np.asarray(Image.open(path).convert("RGB"))
    assert img.shape[:2] == (view.height(), view.width()) and _content(img) > 5
    thread = view._thread
    view.shutdown()
    assert not thread.alive
    n = view.frames_shown
    view.set_preset("lung")  # ignored after shutdown, no error
    view.render()
    qtbot.wait(50)
    assert view.frames_shown == n


def test_warm_up_makes_the_context_without_handing_over_a_frame():
    from viewer.render3d.render_thread import RenderThread

    frames, errors = [], []
    rt = RenderThread((64, 64), on_frame=lambda *a: frames.append(a), on_error=errors.append)
    try:
        assert not rt.wait_ready(0.05)  # no context before there is work or a warm-up
        rt.warm_up()
        assert rt.wait_ready(60)
        assert not frames and not errors
        serial = rt.request_frame()  # the warm thread still draws real frames
        for _ in range(600):
            if frames:
                break
            threading.Event().wait(0.1)
        assert frames and frames[0][3] == serial and frames[0][0].shape[:2] == (64, 64)
    finally:
        rt.close()
