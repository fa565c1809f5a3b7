"""Organ surfaces for the 3D view are extracted off the GUI thread and never land on a
newer scan's view."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "viewer"))
from viewer_case import make_result, make_volume  # noqa: E402

from viewer.model.overlay import OverlayModel  # noqa: E402
from viewer.model.state import ViewerState  # noqa: E402
from viewer.qt.view3d_link import View3DLink  # noqa: E402
from viewer.render3d.surfaces import organ_surfaces  # noqa: E402


class RecordingView:
    """Stands in for Render3DView: records the scene calls it receives."""

    max_dim = 48

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple]] = []

    def __getattr__(self, name):
        return lambda *a, **k: self.calls.append((name, a))

    def names(self) -> list[str]:
        return [c[0] for c in self.calls]


def test_surfaces_come_from_a_worker_and_stale_ones_are_dropped(qtbot):
    state = ViewerState()
    view = RecordingView()
    link = View3DLink(state, OverlayModel(state), view)
    vol = make_volume()
    state.set_scan(vol, "scan-1")
    result = make_result(vol)
    view.calls.clear()
    state.set_result(result)
    # right after the result: organs cleared, nothing heavy done on this thread yet
    assert "clear_organs" in view.names() and "set_organs" not in view.names()
    qtbot.waitUntil(lambda: "set_organs" in view.names(), timeout=10000)
    assert not link.runner.is_busy("organs3d")
    (args,) = [a for n, a in view.calls if n == "set_organs"]
    assert args[0] is result.organ_map
    # the worker left the surfaces in the cache: the GUI-thread call only attaches them
    polys, _ = organ_surfaces(result.organ_map, vol.affine, sorted(args[1]), view.max_dim)
    assert polys and all(p.GetNumberOfPoints() > 0 for p in polys.values())
    # a result superseded before its surfaces arrive is dropped
    newer = make_result(vol)
    state.set_result(newer)
    view.calls.clear()
    link._on_surfaces_ready(result)
    assert "set_organs" not in view.names()
    qtbot.waitUntil(lambda: "set_organs" in view.names(), timeout=10000)
    assert [a for n, a in view.calls if n == "set_organs"][0][0] is newer.organ_map


def test_set_organs_reuses_surfaces_computed_beforehand(chest, renderer):
    vol, organs = chest
    r = renderer()
    r.set_volume(vol)
    names = {1: "right lung", 2: "heart", 3: "left lung"}
    polys, _ = organ_surfaces(organs, vol.affine, names, r.max_dim)
    r.set_organs(organs, names, {})
    assert set(r._organ_polys) == set(polys)
    assert all(r._organ_polys[c] is polys[c] for c in polys)
    other = np.array(organs, copy=True)  # another label map object: computed afresh
    r.set_organs(other, names, {})
    assert all(r._organ_polys[c] is not polys[c] for c in polys)


def test_truth_lesions_grow_exactly_as_a_whole_grid_dilation_would():
    # with_truth dilates only the lesions' bounding box (scipy's dilation holds the GIL; on
    # the whole grid it stalled the GUI thread); the result must be the whole-grid one,
    # lesions on the array's edges included
    from types import SimpleNamespace

    from scipy import ndimage

    from viewer.qt.view3d_link import TRUTH_CODE, with_truth
    from viewer.render3d.data import block_factors

    rng = np.random.default_rng(0)
    organs = rng.integers(0, 4, (90, 80, 40)).astype(np.uint8)
    inner = np.zeros(organs.shape, bool)
    inner[30:38, 20:25, 10:14] = True
    edge = np.zeros(organs.shape, bool)
    edge[0:3, 76:80, 37:40] = True
    absent = np.ones(organs.shape, bool)
    truth = SimpleNamespace(masks={"a": inner, "b": edge, "c": absent},
                            present={"a": True, "b": True, "c": False})
    for max_dim in (16, 30, 200):
        grow = max(block_factors(organs.shape, max_dim)) // 2
        union = inner | edge
        expected = organs.copy()
        expected[ndimage.binary_dilation(union, iterations=grow) if grow else union] = TRUTH_CODE
        got = with_truth(organs, truth, max_dim)
        assert np.array_equal(got, expected), max_dim
    assert (with_truth(organs, truth, 16) == TRUTH_CODE).sum() > union.sum()  # it did grow
