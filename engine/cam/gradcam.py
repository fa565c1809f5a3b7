"""Grad-CAM (Selvaraju et al. 2017), as computed for AxialNet in the HiResCAM paper.

Grad-CAM_c = sum_f alpha_cf * A_f with alpha_cf = the mean of dy_c / dA_f over all leading
positions (slice groups) and all spatial positions.  Dimension-agnostic: the mean runs over
every non-label, non-feature dim (``grads.flatten(...)``-style), so 2D and 3D layers work.
For AxialNet's head alpha = mean over cells of (dy/dz) W (``PooledLinearHead.gradcam_weights``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.cam.core import CAMMethod, _non_feature_dims

if TYPE_CHECKING:
    import torch

    from engine.model.head import PooledLinearHead


class GradCAM(CAMMethod):
    name = "gradcam"
    title = "Grad-CAM"

    def weights(self, grads: torch.Tensor) -> torch.Tensor:
        return grads.mean(dim=_non_feature_dims(grads), keepdim=True)

    def head_maps(self, head: PooledLinearHead, a: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        import torch

        return torch.einsum("bgfhw,blf->blghw", a, head.gradcam_weights(z))
