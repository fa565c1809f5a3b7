"""Generic CAM path: any ``nn.Module`` and any named target layer, gradients by autograd.

The target layer's output for one input, shape (N, F, *S), is captured with a forward hook.
Gradients of all selected logits are taken in one batched autograd call
(``torch.autograd.grad(..., is_grads_batched=True)``, i.e. vmap over one-hot output
gradients); if the model contains an operation vmap cannot batch, pass ``batched=False`` to
loop over labels with ``retain_graph=True`` instead (one forward pass either way).
Each method applies its generic rule (``CAMMethod.weights``); by default every method of
:mod:`engine.cam.registry`.  Hooks are removed on ``close()`` / leaving the ``with`` block.

Use::

    with GenericCAM(model, "layer4") as cam:
        logits, maps = cam(x)            # maps["hirescam"]: (L, N, *S)
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from engine.cam import registry
from engine.cam.core import CAMMethod
from engine.errors import CTCamError


class TargetLayerError(CTCamError):
    """The named target layer does not exist or gives no usable activations."""


class GenericCAM:
    def __init__(self, model: nn.Module, target_layer: str,
                 methods: Sequence[CAMMethod] | None = None,
                 batched: bool = True) -> None:
        modules = dict(model.named_modules())
        if target_layer not in modules:
            raise TargetLayerError(
                f"Target layer {target_layer!r} not found in {type(model).__name__}; "
                f"choose one of: {', '.join(n for n in modules if n)[:300]}"
            )
        self.model = model
        self.target_layer = target_layer
        self.methods = list(registry.registered() if methods is None else methods)
        self.batched = batched
        self._acts: torch.Tensor | None = None
        self._handle = modules[target_layer].register_forward_hook(self._hook)

    def _hook(self, module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        self._acts = output

    def close(self) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None

    def __enter__(self) -> GenericCAM:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def gradients(self, x: torch.Tensor, labels: Sequence[int] | None = None
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(logits (L_all,), activations (N, F, *S), grads (L, N, F, *S)) for one input."""
        if x.shape[0] != 1:
            raise ValueError("GenericCAM explains one input at a time (batch size 1)")
        self._acts = None
        with torch.enable_grad():
            logits = self.model(x)
            acts = self._acts
            if acts is None or not isinstance(acts, torch.Tensor) or acts.dim() < 3:
                raise TargetLayerError(
                    f"Target layer {self.target_layer!r} gave no (N, F, *spatial) tensor output."
                )
            if not acts.requires_grad:
                raise TargetLayerError(
                    f"Target layer {self.target_layer!r} output does not require grad "
                    "(is the model in torch.no_grad or frozen?)."
                )
            flat = logits.reshape(-1)
            idx = list(range(flat.numel())) if labels is None else list(labels)
            if self.batched:
                eye = torch.zeros(len(idx), flat.numel(), dtype=flat.dtype, device=flat.device)
                eye[torch.arange(len(idx)), torch.tensor(idx)] = 1
                (grads,) = torch.autograd.grad(flat, acts, grad_outputs=eye,
                                               is_grads_batched=True)
            else:
                grads = torch.stack([
                    torch.autograd.grad(flat[c], acts, retain_graph=True)[0] for c in idx
                ])
        return flat.detach(), acts.detach(), grads.detach()

    def __call__(self, x: torch.Tensor, labels: Sequence[int] | None = None
                 ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        logits, acts, grads = self.gradients(x, labels)
        return logits, {m.name: m.maps(acts, grads) for m in self.methods}
