"""AxialNet-style classifier (docs/model.md; Draelos & Carin, arXiv 2011.08891).

Input ``x`` has shape (B, C, X, Y, Z), or (B, X, Y, Z) when C = 1: the preprocessed volume
on the model grid in canonical array order (i -> patient Right, j -> Anterior, k -> Superior;
the last axis is axial), with C input channels per voxel (``engine.model.preprocess``: mean
HU, maximum HU, fractions of full-resolution voxels in HU bands).

1. **Groups.** The Z axial slices are cut into G = Z / 3 groups of 3 adjacent slices; each
   group is a 3C-channel 2D image (channel 3c + s = input channel c of slice k = 3g + s;
   image axes (i, j)).
2. **Backbone.** A small ResNet-style 2D network (stride-2 stem, one residual stage per
   width) runs on all B*G group images as one batch.  Optionally (``input_windows``) each
   group image first gains fixed windowed copies of its 3 slices, ``clamp((x - a) / (b - a),
   0, 1)`` per window (a, b) in model-input units, like a radiologist's lung, mediastinal
   and bone windows: the stem then sees a 100 HU difference in the lung range several times
   larger than in the full [-1000, 800] window.  No parameters; the CAM target layer and
   the head are unchanged.
3. **Reduce.** A few 3x3 conv layers bring the channels down to F.  Their output is the
   CAM target layer ``A`` with shape (B*G, F, h, w).  Optionally (``input_maxima``) the
   target layer also holds, per map cell, the maximum of every channel of the group image
   over the cell, batch-normalised: F grows by the group image's channels.  A one-voxel
   calcification then reaches the head directly instead of through strided convolutions
   (docs/training.md, "Where the focal findings break").  With ``backbone_channels`` k
   the backbone sees only the first k input channels; the others (the organ-gated evidence
   channels) reach A through the maxima alone, which keeps the stem as cheap as before.
4. **Head** (:mod:`engine.model.head`). Per-cell scores z = sum_f W[f, p] A[g, f, p], linear
   in A, pooled over all cells: ``"mean"`` (the paper's AxialNet: one linear layer over the
   flattened features of each group, mean over groups) or ``"lse"`` (log-sum-exp, so a
   finding in one cell of one group is not diluted by G).

Because z is linear in A, dy/dA = (dy/dz) W is known from the forward pass alone, which is
what the fast CAM path of :mod:`engine.cam.fast` exploits.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from engine.model.head import PooledLinearHead

SLICES_PER_GROUP = 3
TARGET_LAYER = "reduce"


def _conv_bn(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(cout),
    )


class ResBlock(nn.Module):
    """Basic residual block: conv-bn-relu-conv-bn + (projected) shortcut, then ReLU."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = _conv_bn(cin, cout, stride)
        self.conv2 = _conv_bn(cout, cout)
        self.shortcut: nn.Module
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout)
            )
        else:
            self.shortcut = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.conv1(x))
        out = self.conv2(out)
        return torch.relu(out + self.shortcut(x))


class AxialNet(nn.Module):
    """AxialNet-style multi-label classifier with a per-group linear head.

    Parameters
    ----------
    n_labels:
        Number of outputs L.
    input_shape:
        (X, Y, Z) of the model grid; Z must be a multiple of 3.
    stem_width, widths, strides:
        Stem conv (stride 2) width, then one residual stage per entry of ``widths`` with the
        given stride.  The in-plane downsampling is 2 * prod(strides).
    reduce_widths:
        Channels of the 3x3 conv layers after the backbone; the last one is F.
    """

    def __init__(
        self,
        n_labels: int,
        input_shape: Sequence[int] = (96, 96, 48),
        stem_width: int = 16,
        widths: Sequence[int] = (16, 32, 64),
        strides: Sequence[int] = (1, 2, 2),
        reduce_widths: Sequence[int] = (32, 16),
        input_windows: Sequence[Sequence[float]] = (),
        in_channels: int = 1,
        pooling: str = "mean",
        temperature: float = 1.0,
        input_maxima: bool = False,
        backbone_channels: int | None = None,
    ) -> None:
        super().__init__()
        self.input_windows = [(float(a), float(b)) for a, b in input_windows]
        if any(not b > a for a, b in self.input_windows):
            raise ValueError(f"input windows need low < high, got {self.input_windows}")
        X, Y, Z = (int(v) for v in input_shape)
        if Z % SLICES_PER_GROUP:
            raise ValueError(f"number of slices {Z} is not a multiple of {SLICES_PER_GROUP}")
        self.input_shape = (X, Y, Z)
        self.n_groups = Z // SLICES_PER_GROUP
        self.n_labels = int(n_labels)
        self.in_channels = int(in_channels)
        if self.in_channels < 1:
            raise ValueError(f"in_channels must be >= 1, got {in_channels}")
        self.backbone_channels = self.in_channels if backbone_channels is None else int(backbone_channels)
        if not 1 <= self.backbone_channels <= self.in_channels:
            raise ValueError(f"backbone_channels must be 1..{self.in_channels}, got {backbone_channels}")
        if self.backbone_channels < self.in_channels and not input_maxima:
            raise ValueError("channels the backbone does not see need input_maxima to reach the head")
        per_channel = SLICES_PER_GROUP * (1 + len(self.input_windows))
        group_channels = per_channel * self.in_channels
        layers: list[nn.Module] = [
            nn.Conv2d(per_channel * self.backbone_channels, stem_width, 3, stride=2, padding=1,
                      bias=False),
            nn.BatchNorm2d(stem_width),
            nn.ReLU(inplace=True),
        ]
        cin = stem_width
        down = 2
        for w, s in zip(widths, strides):
            layers.append(ResBlock(cin, int(w), int(s)))
            cin = int(w)
            down *= int(s)
        self.backbone = nn.Sequential(*layers)
        red: list[nn.Module] = []
        for w in reduce_widths:
            red += [nn.Conv2d(cin, int(w), 3, padding=1, bias=False), nn.BatchNorm2d(int(w)),
                    nn.ReLU(inplace=True)]
            cin = int(w)
        self.reduce = nn.Sequential(*red)
        if X % down or Y % down:
            raise ValueError(f"in-plane grid {X}x{Y} is not divisible by the downsampling {down}")
        self.down = down
        self.input_maxima = nn.BatchNorm2d(group_channels) if input_maxima else None
        self.target = nn.Identity()  # the CAM target layer A (a hook point; no parameters)
        if input_maxima:
            cin += group_channels
        self.feature_shape = (cin, X // down, Y // down)  # (F, h, w)
        self.head = PooledLinearHead(self.feature_shape, self.n_labels, self.n_groups,
                                     pooling, temperature)

    # -- pieces used by the CAM fast path and the mask loss ---------------------------------
    def to_groups(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, X, Y, Z) or (B, X, Y, Z) -> (B*G, 3C, X, Y); channel 3c + s of group g =
        input channel c of slice 3g + s."""
        if x.dim() == 4:
            x = x[:, None]
        B, C, X, Y, Z = x.shape
        if C != self.in_channels or (X, Y, Z) != self.input_shape:
            raise ValueError(f"input {tuple(x.shape)} does not fit the model "
                             f"({self.in_channels} channel(s) x {self.input_shape})")
        G = Z // SLICES_PER_GROUP
        return x.reshape(B, C, X, Y, G, SLICES_PER_GROUP).permute(0, 4, 1, 5, 2, 3).reshape(
            B * G, C * SLICES_PER_GROUP, X, Y
        )

    def windowed(self, g: torch.Tensor) -> torch.Tensor:
        """(N, 3, X, Y) group images -> (N, 3 * (1 + n_windows), X, Y) with window copies."""
        if not self.input_windows:
            return g
        return torch.cat([g] + [((g - a) / (b - a)).clamp(0.0, 1.0)
                                for a, b in self.input_windows], dim=1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Target-layer activations A, shape (B, G, F, h, w)."""
        B = x.shape[0]
        groups = self.to_groups(x)
        g = self.windowed(groups)
        seen = g if self.backbone_channels == self.in_channels else self.windowed(
            groups[:, :SLICES_PER_GROUP * self.backbone_channels])  # the leading channels only
        a = self.reduce(self.backbone(seen))
        if self.input_maxima is not None:
            a = torch.cat([a, self.input_maxima(nn.functional.max_pool2d(g, self.down))], dim=1)
        a = self.target(a)
        return a.reshape(B, -1, *a.shape[1:])

    @property
    def target_layer_name(self) -> str:
        """The module whose output is A: ``reduce`` (cards before input maxima), else ``target``."""
        return "target" if self.input_maxima is not None else TARGET_LAYER

    def classify(self, a: torch.Tensor) -> torch.Tensor:
        """Logits (B, L) from activations (B, G, F, h, w) (see :mod:`engine.model.head`)."""
        return self.head.pool(self.head.cell_scores(a))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classify(self.features(x))  # features: the target layer


def build_from_architecture(arch: dict, n_labels: int) -> AxialNet:
    """Build an :class:`AxialNet` from the ``architecture`` section of a model card."""
    return AxialNet(
        n_labels=n_labels,
        input_shape=arch["input_shape"],
        stem_width=arch["stem_width"],
        widths=arch["widths"],
        strides=arch["strides"],
        reduce_widths=arch["reduce_widths"],
        input_windows=arch.get("input_windows", ()),
        in_channels=arch.get("in_channels", 1),
        pooling=arch.get("pooling", "mean"),
        temperature=arch.get("temperature", 1.0),
        input_maxima=bool(arch.get("input_maxima", False)),
        backbone_channels=arch.get("backbone_channels"),
    )


def architecture_of(model: AxialNet) -> dict:
    """Inverse of :func:`build_from_architecture` (for writing cards)."""
    widths, strides = [], []
    stem_width = model.backbone[0].out_channels
    for m in model.backbone:
        if isinstance(m, ResBlock):
            widths.append(m.conv1[0].out_channels)
            strides.append(m.conv1[0].stride[0])
    reduce_widths = [m.out_channels for m in model.reduce if isinstance(m, nn.Conv2d)]
    return {
        "type": "axialnet",
        "input_shape": list(model.input_shape),
        "slices_per_group": SLICES_PER_GROUP,
        "stem_width": stem_width,
        "widths": widths,
        "strides": strides,
        "reduce_widths": reduce_widths,
        "feature_shape": list(model.feature_shape),
        "n_groups": model.n_groups,
        "in_channels": model.in_channels,
        "pooling": model.head.pooling,
        "temperature": model.head.temperature,
        **({"input_windows": [list(w) for w in model.input_windows]} if model.input_windows else {}),
        **({"input_maxima": True} if model.input_maxima is not None else {}),
        **({"backbone_channels": model.backbone_channels}
           if model.backbone_channels < model.in_channels else {}),
    }
