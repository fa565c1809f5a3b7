"""Where map voxels are in the patient: the map affine (docs/model.md,
"Where a map voxel is").

AxialNet maps come out of the network as (L, G, h, w): slice group g, then the two in-plane
feature axes (along model-grid i and j).  They are stored like scans, in array order
(i, j, k) with k axial: ``maps[method]`` has shape (L, mi, mj, mk) = (L, h, w, G).

Map voxel (a, b, g) covers a block of the model grid: d_i = X / h by d_j = Y / w voxels
in-plane and the 3 slices 3g, 3g+1, 3g+2 along k.  Its centre is the block centre, i.e.
model index (a d_i + (d_i - 1)/2, b d_j + (d_j - 1)/2, 3g + 1) (the same convention as
``F.interpolate(..., align_corners=False)``).  Hence, with D = diag(d_i, d_j, 3) and
offset t = (D - 1)/2::

    map_affine = model_affine @ [[D, t], [0, 1]]

A map voxel spans one voxel of ``map_affine`` in every direction (half a voxel either side
of its centre), exactly like a scan voxel.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


def groups_to_volume(maps: torch.Tensor | np.ndarray) -> np.ndarray:
    """(L, G, h, w) -> float32 (L, h, w, G) = (L, mi, mj, mk), contiguous."""
    if isinstance(maps, torch.Tensor):
        maps = maps.detach().to("cpu").numpy()
    return np.ascontiguousarray(np.transpose(maps, (0, 2, 3, 1)), dtype=np.float32)


def map_affine(model_affine: np.ndarray, input_shape: Sequence[int],
               map_shape: Sequence[int]) -> np.ndarray:
    """4x4 map voxel (mi, mj, mk) -> RAS mm, from the model-grid affine.

    ``input_shape`` = model grid (X, Y, Z); ``map_shape`` = (mi, mj, mk) = (h, w, G).
    """
    d = np.asarray(input_shape, dtype=np.float64) / np.asarray(map_shape, dtype=np.float64)
    if not np.allclose(d, np.round(d)):
        raise ValueError(f"model grid {tuple(input_shape)} is not a whole multiple of the "
                         f"map grid {tuple(map_shape)}")
    block = np.eye(4)
    block[:3, :3] = np.diag(d)
    block[:3, 3] = (d - 1) / 2
    return np.asarray(model_affine, dtype=np.float64) @ block
