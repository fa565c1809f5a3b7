"""HiResCAM (Draelos & Carin, arXiv 2011.08891).

HiResCAM_c = sum_f (dy_c / dA_f) * A_f, element-wise: the gradient is not averaged, so for a
network whose output is linear in A the map sums exactly to y_c - b_c (every voxel is the
logit contribution of that location).
"""

from __future__ import annotations

import torch

from engine.cam.core import CAMMethod


class HiResCAM(CAMMethod):
    name = "hirescam"

    def weights(self, grads: torch.Tensor) -> torch.Tensor:
        return grads
