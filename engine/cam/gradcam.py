"""Grad-CAM (Selvaraju et al. 2017), as computed for AxialNet in the HiResCAM paper.

Grad-CAM_c = sum_f alpha_cf * A_f with alpha_cf = mean of dy_c / dA_f over all leading
positions (slice groups) and all spatial positions.  Dimension-agnostic: the mean runs over
every non-label, non-feature dim (``grads.flatten(...)``-style), so 2D and 3D layers work.
"""

from __future__ import annotations

import torch

from engine.cam.core import CAMMethod, _non_feature_dims


class GradCAM(CAMMethod):
    name = "gradcam"

    def weights(self, grads: torch.Tensor) -> torch.Tensor:
        return grads.mean(dim=_non_feature_dims(grads), keepdim=True)
