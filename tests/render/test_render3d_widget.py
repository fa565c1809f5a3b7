"""The embedded Qt widget: deferred work while hidden, debounced cursor renders, exports, and
(under Xvfb) a native VTK window that opens, renders and closes without leaking."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from synthetic_chest import LEFT_LUNG_CENTER, ORGAN_COLORS, ORGAN_NAMES, blob_map

from viewer.render3d.widget import Render3DError, Render3DView

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent


@pytest.fixture
def view(qtbot):
    w = Render3DView(max_dim=48, cursor_render_delay_ms=100)
    qtbot.addWidget(w)
    w.resize(160, 160)
    yield w
    w.shutdown()


def test_hidden_view_defers_all_work_until_shown(view, chest, qtbot):
    vol, lab = chest
    view.set_volume(vol)
    view.set_organs(lab, ORGAN_NAMES, ORGAN_COLORS)
    for x in (-60.0, -50.0, -40.0):
        view.set_cursor((x, 0.0, 0.0))
    view.set_preset("lung")
    view.set_preset("bone")
    view.render()
    assert view.scene._ct_image is None and view.last_render_s is None  # nothing computed
    names = [c[0] for c in view._pending.calls]
    assert names.count("set_cursor") == 1 and names.count("set_preset") == 1
    assert view._pending.calls[names.index("set_cursor")][1][0] == (-40.0, 0.0, 0.0)
    view.show()
    qtbot.waitUntil(lambda: view.last_render_s is not None, timeout=20000)
    assert view.scene._ct_image is not None and not view._pending.calls
    assert view.scene.preset == "bone" and view.scene._organ_polys
    view.hide()
    view.set_map(*blob_map(LEFT_LUNG_CENTER))
    assert not view.scene._panes[0].map_actors  # hidden: not built yet
    view.show()
    qtbot.waitUntil(lambda: bool(view.scene._panes[0].map_actors), timeout=20000)


def test_a_new_scan_drops_queued_organs_of_the_old_one(view, chest):
    vol, lab = chest
    view.set_volume(vol)
    view.set_organs(lab, ORGAN_NAMES, ORGAN_COLORS)
    view.set_volume(vol)
    assert [c[0] for c in view._pending.calls] == ["set_volume"]


def test_cursor_moves_are_debounced_into_few_frames(view, chest, qtbot):
    vol, _ = chest
    view.set_volume(vol)
    view.show()
    qtbot.waitUntil(lambda: view.last_render_s is not None, timeout=20000)
    frames = []
    view.rendered.connect(frames.append)
    # a slice scroll: 15 cursor moves before the event loop runs again (event-driven, no
    # wall-clock steps): each restarts the debounce timer, none draws a frame by itself
    for step in range(15):
        view.set_cursor((0.0, 0.0, float(step)))
        assert view._timer.isActive() and not frames
    assert [c[0] for c in view._pending.calls] == ["set_cursor"]  # coalesced: one queued move
    with qtbot.waitSignal(view.rendered, timeout=20000):
        pass
    assert len(frames) == 1 and not view._timer.isActive() and not view._pending.calls
    assert tuple(view.scene._cursor) == (0.0, 0.0, 14.0)  # the last move won


def test_invalid_calls_fail_at_call_time_even_when_hidden(view):
    with pytest.raises(Render3DError):
        view.set_preset("nope")
    with pytest.raises(Render3DError):
        view.reset_camera("sideways")
    with pytest.raises(Render3DError):
        view.set_map(np.zeros((3, 3)), np.eye(4))
    assert not view._pending.calls


def test_hidden_view_exports_through_an_offscreen_replay(view, chest, tmp_path):
    vol, lab = chest
    view.set_volume(vol)
    view.set_map(*blob_map(LEFT_LUNG_CENTER))
    png = view.screenshot(tmp_path / "v.png")
    with Image.open(png) as im:
        arr = np.asarray(im.convert("RGB"))
    assert arr.shape[:2] == (160, 160) and arr.std() > 5
    assert view.scene._ct_image is None  # the hidden view itself still did no work


def _x_display():
    """(display, Xvfb process or None), or (None, reason) when no X server can be had."""
    if os.environ.get("DISPLAY"):
        return os.environ["DISPLAY"], None
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        return None, "no X server: DISPLAY is unset and there is no Xvfb binary"
    r, w = os.pipe()
    proc = subprocess.Popen([xvfb, "-displayfd", str(w), "-screen", "0", "640x480x24", "-nolisten", "tcp"],
                            pass_fds=(w,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(w)
    with os.fdopen(r) as fh:
        number = fh.readline().strip()
    if not number:
        proc.kill()
        return None, "Xvfb did not start"
    return f":{number}", proc


@pytest.mark.parametrize("backend", ["native", "thread"])
def test_widget_opens_renders_and_closes_without_leaks(backend):
    """Under Xvfb, as the app runs: five open/draw/close cycles of the widget; "thread" also
    must not leave its render thread behind."""
    display, xvfb = _x_display()
    if display is None:
        pytest.skip(xvfb)
    env = dict(os.environ, DISPLAY=display, QT_QPA_PLATFORM="xcb", CTCAM_3D_BACKEND=backend)
    env.pop("VTK_DEFAULT_OPENGL_WINDOW", None)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    try:
        out = subprocess.run([sys.executable, str(HERE / "widget_cycle.py"), "5"], env=env, cwd=ROOT,
                             capture_output=True, text=True, timeout=150)
    finally:
        if xvfb is not None:
            xvfb.terminate()
            xvfb.wait(10)
    assert out.returncode == 0, out.stderr[-3000:]
    rows = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    assert len(rows) == 5
    assert all(r["backend"] == backend for r in rows)
    assert rows[-1]["threads"] <= rows[0]["threads"]  # no render thread left behind
    assert all(r["content"] > 5 for r in rows), "a cycle drew an empty frame"
    assert all(r["widget_freed"] and r["top_level"] == 0 for r in rows)
    assert rows[-1]["vtk_wrappers"] <= rows[1]["vtk_wrappers"]
    # One leaked view costs ~35 MB (its GL context and textures); allow allocator noise.
    growth_mb = (rows[-1]["rss_kb"] - rows[1]["rss_kb"]) / 1024
    assert growth_mb < 10, f"RSS grew {growth_mb:.1f} MB over 3 open/close cycles"
