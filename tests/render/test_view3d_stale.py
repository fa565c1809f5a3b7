"""The 3D view never shows the previous scan's map or organ surfaces once a new scan opens
(the 3D counterpart of the 2D stale-result tests)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "viewer"))
from viewer_case import make_result, make_volume  # noqa: E402

from viewer.model.overlay import OverlayModel  # noqa: E402
from viewer.model.state import ViewerState  # noqa: E402
from viewer.qt.view3d_link import View3DLink  # noqa: E402


class RecordingView:
    max_dim = 48

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple]] = []
        self.fail_set_volume = False

    def set_volume(self, *a):
        self.calls.append(("set_volume", a))
        if self.fail_set_volume:
            raise RuntimeError("no OpenGL")

    def __getattr__(self, name):
        return lambda *a, **k: self.calls.append((name, a))

    def names(self) -> list[str]:
        return [c[0] for c in self.calls]


MAP_CALLS = ("set_map", "set_maps_side_by_side", "set_organs")


def _scan_a(qtbot, state, view, link):
    vol = make_volume()
    state.set_scan(vol, "scan-A")
    result = make_result(vol)
    state.set_result(result)
    state.label = 0
    assert "set_map" in view.names()
    qtbot.waitUntil(lambda: "set_organs" in view.names(), timeout=10000)
    return result


def test_new_scan_clears_the_old_map_and_surfaces_before_anything_else(qtbot):
    state, view = ViewerState(), RecordingView()
    link = View3DLink(state, OverlayModel(state), view)
    result_a = _scan_a(qtbot, state, view, link)
    view.calls.clear()
    state.set_scan(make_volume(), "scan-B")
    names = view.names()
    assert "clear_map" in names and "clear_organs" in names
    assert names.index("clear_map") < names.index("set_volume")
    assert names.index("clear_organs") < names.index("set_volume")
    assert not set(names) & set(MAP_CALLS)
    # scan A's late organ surfaces and any state change afterwards draw nothing of A
    link._on_surfaces_ready(result_a)
    state.update(label=0, method="gradcam", side_by_side=True, threshold=0.3)
    assert not set(view.names()) & set(MAP_CALLS)


def test_old_map_is_cleared_even_when_set_volume_fails(qtbot):
    state, view = ViewerState(), RecordingView()
    link = View3DLink(state, OverlayModel(state), view)
    _scan_a(qtbot, state, view, link)
    view.calls.clear()
    view.fail_set_volume = True
    state.set_scan(make_volume(), "scan-B")  # the link logs the failure, never raises
    assert {"clear_map", "clear_organs"} <= set(view.names())


def test_result_for_scan_a_is_dropped_by_the_window_after_scan_b(qtbot, tmp_path):
    """Through the path the app uses: MainWindow._on_result with the scan id of the job."""
    from viewer_helpers import open_and_wait, write_case

    from viewer.qt.main_window import MainWindow

    win = MainWindow(run_model=False, with_3d=False)
    qtbot.addWidget(win)
    view = RecordingView()
    View3DLink(win.state, win.overlay, view, win.runner)
    vol = make_volume()
    open_and_wait(qtbot, win, write_case(tmp_path, vol, "a.nii.gz"))
    scan_a = win.state.scan_id
    result_a = make_result(vol)
    open_and_wait(qtbot, win, write_case(tmp_path, vol, "b.nii.gz"))
    view.calls.clear()
    from viewer.model.findings import summarise

    win._on_result((result_a, summarise(result_a, win.state.volume.affine)), scan_a, 1)
    assert win.state.result is None
    assert not set(view.names()) & set(MAP_CALLS)
