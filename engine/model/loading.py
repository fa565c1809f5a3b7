"""Safe model loading and saving: safetensors weights + JSON card, never pickle.

Plugging in your own model: train it with ``ctcam train --data FOLDER --out DIR`` (or write
an :class:`~engine.model.net.AxialNet` state dict with :func:`save_model`), which writes
``DIR/<name>.safetensors`` and ``DIR/<name>.json``; then open it with
``ctcam explain SCAN --model DIR/<name>.safetensors`` or ``load_model(weights=...)``.
The card's sha256 must match the weights file, the tensor shapes must match the
architecture in the card and the head must have one row per card label.
"""

from __future__ import annotations

import contextlib
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from engine.labels import LabelInfo
from engine.model.card import (
    CARD_FORMAT,
    LICENCE_NOTE,
    SYNTHETIC_STATEMENT,
    file_sha256,
    label_infos,
    labels_section,
    read_card,
    validate_card,
    write_card,
)
from engine.model.errors import DeviceError, ModelCardError, ModelWeightsError
from engine.model.members_card import card_members
from engine.model.net import AxialNet, architecture_of, build_from_architecture
from engine.model.shifts_card import card_shifts
from engine.resources import bundled_model_paths


def select_device(requested: str | torch.device | None = None) -> torch.device:
    """CUDA if available, else Apple MPS, else CPU; ``requested`` ("cpu", "cuda", "cuda:1",
    "mps") overrides and must be available (:class:`DeviceError` otherwise)."""
    if requested is None or str(requested) == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(str(requested))
    except RuntimeError as exc:
        raise DeviceError(f"Unknown device {requested!r}; use cpu, cuda, cuda:N or mps.") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise DeviceError(f"Device {requested!r} requested but CUDA is not available; use --device cpu.")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise DeviceError(f"Device {requested!r} does not exist ({torch.cuda.device_count()} GPU(s)).")
    if dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise DeviceError(f"Device {requested!r} requested but MPS is not available; use --device cpu.")
    if dev.type not in ("cpu", "cuda", "mps"):
        raise DeviceError(f"Unsupported device {requested!r}; use cpu, cuda, cuda:N or mps.")
    return dev


@dataclass
class LoadedModel:
    """A model ready to run: the network (eval mode, on ``device``) and its card."""

    model: AxialNet
    card: dict[str, Any]
    device: torch.device
    weights_path: Path | None = None
    card_path: Path | None = None
    labels: list[LabelInfo] = field(default_factory=list)
    members: tuple[AxialNet, ...] = ()  # an ensemble's further networks (engine.model.members_card)

    @property
    def networks(self) -> tuple[AxialNet, ...]:
        """Every network the card runs: ``model``, then the ensemble's further members."""
        return (self.model, *self.members)

    @property
    def label_names(self) -> list[str]:
        return [lab.name for lab in self.labels]

    @property
    def target_layer(self) -> str:
        return str(self.card["target_layer"])

    @property
    def test_time_shifts(self) -> tuple[tuple[int, int, int], ...]:
        """The card's test-time shifts (:mod:`engine.model.shifts_card`); ((0, 0, 0),) if none."""
        return card_shifts(self.card)


def load_model(weights: str | Path | None = None, card: str | Path | None = None,
               device: str | torch.device | None = None) -> LoadedModel:
    """Load weights + card (default: the bundled model) and check they match.

    ``card`` defaults to the weights path with ``.json``.  Raises :class:`ModelCardError`
    or :class:`ModelWeightsError` (subclasses of CTCamError) naming the file and the problem.
    """
    if weights is None and card is None:
        weights, card = bundled_model_paths()
        if not Path(weights).is_file():
            raise ModelWeightsError(
                f"The bundled model is missing ({weights}). Reinstall ctcam or pass --model."
            )
    if weights is None:
        card_path = Path(card)  # type: ignore[arg-type]
        card_dict = read_card(card_path)
        weights = card_path.parent / card_dict["weights"].get("file", card_path.stem + ".safetensors")
    weights_path = Path(weights)
    card_path = Path(card) if card is not None else weights_path.with_suffix(".json")
    card_dict = read_card(card_path)
    model = load_network(card_dict, weights_path, card_path, str(card_dict["weights"]["sha256"]))
    # an ensemble's further members: plain file names beside the card (validated by read_card)
    members = [load_network(card_dict, card_path.parent / file, card_path, sha)
               for file, sha in card_members(card_dict)]
    dev = select_device(device)
    for net in (model, *members):
        net.eval().to(dev)
    return LoadedModel(model=model, card=card_dict, device=dev, weights_path=weights_path,
                       card_path=card_path, labels=label_infos(card_dict), members=tuple(members))


def load_network(card_dict: dict[str, Any], weights_path: Path, card_path: Path, sha256: str) -> AxialNet:
    """One network of the card's architecture from ``weights_path`` (CPU), after checking
    the file's sha256 against the card's and every tensor's name and shape."""
    if not weights_path.is_file():
        raise ModelWeightsError(f"Weights file not found: {weights_path}. Check the path.")
    sha = file_sha256(weights_path)
    if sha != sha256:
        raise ModelWeightsError(
            f"Weights file {weights_path} does not match its model card {card_path}: sha256 "
            f"{sha[:12]}... but the card records {sha256[:12]}.... "
            "Use the card written together with these weights."
        )
    try:
        state = load_file(str(weights_path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelWeightsError(
            f"{weights_path} is not a readable safetensors file ({exc}). ctcam only loads "
            "safetensors weights."
        ) from exc
    # Shapes are checked on the meta device first (no memory), so a card cannot make us
    # allocate a network larger than the weights file holds (found by the card fuzzer, docs/reliability.md); every layer
    # has at least one tensor, which bounds the work of building even the meta network.
    arch = card_dict["architecture"]
    if len(arch["widths"]) + len(arch["reduce_widths"]) > len(state):
        raise ModelWeightsError(
            f"Weights {weights_path} hold {len(state)} tensors, fewer than the layers the card "
            f"{card_path} describes. Use the card written together with these weights."
        )
    check_state(build_model(card_dict, source=str(card_path), device="meta"), state,
                weights_path, card_path)
    model = build_model(card_dict, source=str(card_path))
    check_state(model, state, weights_path, card_path)
    model.load_state_dict(state, strict=True)
    return model


def build_model(card: dict[str, Any], source: str = "<card>", device: str | None = None) -> AxialNet:
    """The card's network; ``device="meta"`` builds shapes only (no memory)."""
    try:
        with torch.device(device) if device else contextlib.nullcontext():
            return build_from_architecture(card["architecture"], n_labels=len(card["labels"]))
    except (KeyError, TypeError, ValueError, RuntimeError, ArithmeticError) as exc:
        raise ModelCardError(f"Model card {source}: cannot build the architecture ({exc}).") from exc


def check_state(model: torch.nn.Module, state: dict[str, torch.Tensor], weights_path: Path,
                card_path: Path) -> None:
    """Raise :class:`ModelWeightsError` when names, shapes or the label count differ."""
    expected = model.state_dict()
    head = "head.weight"
    if head in state and head in expected and state[head].shape[0] != expected[head].shape[0]:
        raise ModelWeightsError(
            f"Weights {weights_path} have {state[head].shape[0]} outputs but the card "
            f"{card_path} lists {expected[head].shape[0]} labels. Use the matching card."
        )
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    bad = [f"{k}: file {tuple(state[k].shape)} vs card {tuple(v.shape)}"
           for k, v in expected.items() if k in state and state[k].shape != v.shape]
    if missing or extra or bad:
        parts = []
        if missing:
            parts.append(f"missing tensors {missing[:5]}")
        if extra:
            parts.append(f"unexpected tensors {extra[:5]}")
        if bad:
            parts.append(f"wrong shapes {bad[:5]}")
        raise ModelWeightsError(
            f"Weights {weights_path} do not fit the architecture in {card_path}: "
            + "; ".join(parts) + ". Use the card written together with these weights."
        )


def new_card(model: AxialNet, labels: list[str] | tuple[str, ...], organ_codes: dict[str, int],
             preprocessing: dict[str, Any], name: str = "ctcam-axialnet",
             version: str = "1.0", **extra: Any) -> dict[str, Any]:
    """A card for ``model`` (weights section filled in by :func:`save_model`)."""
    card: dict[str, Any] = {
        "format": CARD_FORMAT,
        "name": name,
        "version": version,
        "architecture": architecture_of(model),
        "labels": labels_section(list(labels)),
        "organ_codes": dict(organ_codes),
        "preprocessing": dict(preprocessing),
        "target_layer": model.target_layer_name,
        "map": {
            "grid": [*model.feature_shape[1:], model.n_groups],
            "layout": "maps[method] has shape (labels, mi, mj, mk); mk = slice group",
            "units": ("logit contribution" if model.head.pooling == "mean" else
                      "logit contribution (each cell's evidence weighted by the log-sum-exp "
                      "pooling's softmax; docs/methods.md)"),
        },
        "weights": {"file": None, "sha256": None},
        "licence": LICENCE_NOTE,
        "synthetic_data_statement": SYNTHETIC_STATEMENT,
    }
    card.update(extra)
    return card


def save_model(model: AxialNet, card: dict[str, Any], out_dir: str | Path,
               stem: str = "axialnet") -> tuple[Path, Path]:
    """Write ``out_dir/stem.safetensors`` and ``out_dir/stem.json`` (sha256 filled in)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    wpath, cpath = out / f"{stem}.safetensors", out / f"{stem}.json"
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(wpath), metadata={"format": "pt", "card": cpath.name})
    card = dict(card)
    card["weights"] = {"file": wpath.name, "sha256": file_sha256(wpath)}
    validate_card(card, source=str(cpath))
    write_card(card, cpath)
    return wpath, cpath


def hardware_string() -> str:
    import os

    threads = torch.get_num_threads()
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs, "
            f"torch {torch.__version__} with {threads} thread(s)")


__all__ = ["LoadedModel", "load_model", "save_model", "select_device", "new_card",
           "build_model", "check_state", "ModelCardError", "ModelWeightsError"]
