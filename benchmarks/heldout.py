"""Shared start of the benchmarks that read held-out test phantoms with one model
(resolution_robustness.py, organ_gating.py): their options and the model, on one CPU thread."""

from __future__ import annotations

import argparse

import torch

from engine.model import load_model


def model_and_options(doc: str | None, argv: list[str] | None, n: int):
    """(options with --n, --weights, --workers; the loaded model on the CPU, one thread)."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=n, help="held-out test phantoms")
    p.add_argument("--weights", default=None, help="default: the bundled model")
    p.add_argument("--workers", type=int, default=2)
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    return a, load_model(a.weights, device="cpu")
