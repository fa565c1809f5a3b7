"""Training checkpoints: model and optimiser tensors in safetensors plus counters in JSON
(no pickle), so an interrupted ``ctcam train`` continues with ``--resume``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from engine.errors import CTCamError


class TrainingError(CTCamError):
    """Training cannot start or continue (bad checkpoint, bad data)."""


def save_checkpoint(out: Path, model: torch.nn.Module, opt: torch.optim.Optimizer,
                    state: dict[str, Any]) -> None:
    from safetensors.torch import save_file

    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    params = [p for g in opt.param_groups for p in g["params"]]
    for i, p in enumerate(params):
        for name, t in opt.state.get(p, {}).items():
            tensors[f"opt.{i}.{name}"] = torch.as_tensor(t).detach().cpu().contiguous()
    tmp = out / "checkpoint.tmp.safetensors"
    save_file(tensors, str(tmp))
    tmp.replace(out / "checkpoint.safetensors")
    (out / "checkpoint.json").write_text(json.dumps(state, indent=1), encoding="utf-8")


def load_checkpoint(out: Path, model: torch.nn.Module, opt: torch.optim.Optimizer) -> dict[str, Any]:
    from safetensors.torch import load_file

    path, spath = out / "checkpoint.safetensors", out / "checkpoint.json"
    if not path.is_file() or not spath.is_file():
        raise TrainingError(f"--resume: no checkpoint in {out} (checkpoint.safetensors/.json); "
                            "start without --resume.")
    tensors = load_file(str(path))
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    params = [p for g in opt.param_groups for p in g["params"]]
    for i, p in enumerate(params):
        st = {k.split(".", 2)[2]: v for k, v in tensors.items() if k.startswith(f"opt.{i}.")}
        if st:
            opt.state[p] = st
    return json.loads(spath.read_text(encoding="utf-8"))
