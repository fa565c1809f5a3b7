"""Geometry and styling helpers of the 3D view (no rendering)."""

from __future__ import annotations

import numpy as np
import pytest
from vtkmodules.util import numpy_support

from viewer.render3d import data
from viewer.render3d.camera import VIEWS
from viewer.render3d.data import Render3DError
from viewer.render3d.style import PRESETS, colormap_rgb, colormap_table
from viewer.render3d.surfaces import MapLayer, as_map_layer


def _oblique_affine():
    rot = np.array([[0.96, -0.28, 0.0], [0.28, 0.96, 0.0], [0.0, 0.0, 1.0]])
    aff = np.eye(4)
    aff[:3, :3] = rot @ np.diag([0.7, 0.8, 2.5])
    aff[:3, 3] = [-120.0, 35.0, 410.0]
    return aff


def test_block_mean_affine_places_each_block_at_the_mean_of_its_voxel_centres():
    aff = _oblique_affine()
    shape = (11, 9, 7)
    factors = (3, 2, 2)
    small_aff = data.block_affine(aff, factors)
    world = lambda a, ijk: np.asarray(ijk, float) @ a[:3, :3].T + a[:3, 3]  # noqa: E731
    for b in [(0, 0, 0), (2, 3, 1), (1, 2, 2)]:
        block = [(factors[0] * b[0] + x, factors[1] * b[1] + y, factors[2] * b[2] + z)
                 for x in range(3) for y in range(2) for z in range(2)]
        assert np.allclose(world(small_aff, b), world(aff, block).mean(axis=0), atol=1e-9)
    # and the values are those block means
    arr = np.random.default_rng(1).normal(size=shape).astype(np.float32)
    small = data.block_mean(arr, factors)
    assert small.shape == (3, 4, 3)
    assert np.isclose(small[1, 2, 1], arr[3:6, 4:6, 2:4].mean(), atol=1e-6)


def test_block_factors_bound_every_axis():
    assert data.block_factors((512, 512, 300), 160) == (4, 4, 2)
    assert data.block_factors((100, 90, 40), 160) == (1, 1, 1)


def test_vtk_image_keeps_i_as_the_fastest_axis():
    arr = np.arange(2 * 3 * 4, dtype=np.int16).reshape(2, 3, 4)
    img = data.to_vtk_image(arr)
    assert img.GetDimensions() == (2, 3, 4)
    flat = numpy_support.vtk_to_numpy(img.GetPointData().GetScalars())
    pid = img.ComputePointId([1, 2, 3])
    assert flat[pid] == arr[1, 2, 3]


def test_pad_keeps_world_positions():
    aff = _oblique_affine()
    arr = np.ones((3, 3, 3), np.float32)
    padded, paff = data.pad_with(arr, aff, 0.0)
    assert padded.shape == (5, 5, 5) and padded[0, 0, 0] == 0 and padded[1, 1, 1] == 1
    assert np.allclose(paff @ [1, 1, 1, 1], aff @ [0, 0, 0, 1])


def test_relu_levels_and_colours_follow_the_display_range():
    v = np.zeros((4, 4, 4), np.float32)
    v[1, 1, 1] = 4.0
    layer = MapLayer(v, np.eye(4), vmin=0.0, vmax=2.0, colormap="inferno", levels=(0.5, 0.75))
    surfs = layer.iso_surfaces()
    assert [s[0] for s in surfs] == [1.0, 1.5]
    assert surfs[0][1] == colormap_rgb("inferno", 0.5) and surfs[1][1] == colormap_rgb("inferno", 0.75)
    assert surfs[0][2] < surfs[1][2]  # outer shell more transparent than the core
    # a level above the map's maximum draws nothing
    assert MapLayer(v, np.eye(4), vmin=0.0, vmax=100.0).iso_surfaces() == []


def test_signed_levels_have_both_signs_with_diverging_colours():
    v = np.zeros((4, 4, 4), np.float32)
    v[1, 1, 1], v[2, 2, 2] = 2.0, -1.5
    surfs = MapLayer(v, np.eye(4), signed=True, levels=(0.5,)).iso_surfaces()
    isos = sorted(s[0] for s in surfs)
    assert isos == [-1.0, 1.0]  # +-0.5 * max|v|
    pos = next(s for s in surfs if s[0] > 0)[1]
    neg = next(s for s in surfs if s[0] < 0)[1]
    assert pos[0] > pos[2] and neg[2] > neg[0]  # red above zero, blue below


def test_caller_lookup_table_is_used_as_the_colormap():
    lut = np.zeros((256, 3), np.uint8)
    lut[:, 1] = np.arange(256)  # a pure green ramp
    table = colormap_table(lut, 5)
    assert np.allclose(table[:, 0], 0) and np.allclose(table[-1], [0, 1, 0])
    with pytest.raises(ValueError):
        colormap_table("no-such-map")


def test_side_by_side_specs_accept_tuples_and_dicts():
    v, a = np.ones((2, 2, 2)), np.eye(4)
    assert as_map_layer((v, a)).values is v
    assert as_map_layer((v, a, {"title": "Grad-CAM"})).title == "Grad-CAM"
    assert as_map_layer({"values": v, "affine": a, "signed": True}).signed
    with pytest.raises(Render3DError):
        as_map_layer(v)


def test_anterior_view_puts_the_patients_left_on_the_screen_right():
    to_cam, up = (np.array(v) for v in VIEWS["anterior"])
    dop = -to_cam  # camera looks from +y (anterior) toward -y
    screen_right = np.cross(dop, up)  # VTK's view-right vector
    assert np.allclose(screen_right, [-1, 0, 0])  # RAS -x: the patient's left


def test_presets_are_listed_and_distinct():
    assert {"soft tissue chest", "lung", "bone", "MIP"} <= set(PRESETS)
    assert PRESETS["MIP"].blend == "mip"
    assert len({p.opacity for p in PRESETS.values()}) == len(PRESETS)
