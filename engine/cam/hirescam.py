"""HiResCAM (Draelos & Carin, arXiv 2011.08891).

HiResCAM_c = sum_f (dy_c / dA_f) * A_f, element-wise: the gradient is not averaged, so for a
network whose output is linear in A the map sums exactly to y_c - b_c (every voxel is the
logit contribution of that location).  For AxialNet's head, sum_f (dy/dA) A = (dy/dz) z
per cell (``PooledLinearHead.hirescam``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.cam.core import CAMMethod

if TYPE_CHECKING:
    import torch

    from engine.model.head import PooledLinearHead


class HiResCAM(CAMMethod):
    name = "hirescam"
    title = "HiResCAM"

    def weights(self, grads: torch.Tensor) -> torch.Tensor:
        return grads

    def head_maps(self, head: PooledLinearHead, a: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return head.hirescam(z)
