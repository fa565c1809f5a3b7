"""How much of a recipe's error is run-to-run variance: score several models of one recipe
(same input channels) on the cached held-out phantoms and on the demo, each alone and as
the mean of their logits (an ensemble, whose HiResCAM would be the mean of the members'
maps: each member's map sums to its own logit's identity, so the mean's map sums to the
mean's).

Usage::

    python tools/ensemble_probe.py --cache DIR --model W.safetensors CARD.json \\
        --model W2.safetensors CARD2.json [--split test] [--n 200] [--demo] \\
        [--shifts "0,0,0 4,0,0 0,4,0 0,0,1"]

Prints, per label, each model's AUROC, the spread between them and the ensemble's AUROC,
then the macro values; with ``--demo`` the demo's probabilities (each model's calibrated
output and the ensemble's raw sigmoid) beside the truth.  ``--shifts`` also scores every
model on its input rolled by each shift (model voxels; test-time augmentation) and reports
each model's mean over the shifts against itself as is, and (with three or more models) the
macro of every smaller ensemble of them over the shifts.  Reads the same cache as
``ctcam evaluate`` (renders what is missing).
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import numpy as np
import torch

from engine.cam.shifts import shifted_batch_maps
from engine.errors import CTCamError
from engine.model import shifts_card
from engine.model.batches import batch_tensors
from engine.model.dataset import ArrayDataset, cache_cell_shape, cached_phantom_dataset
from engine.model.loading import LoadedModel, load_model
from engine.model.metrics import auroc_per_label
from engine.resources import resources_dir


@torch.no_grad()
def case_logits(lm: LoadedModel, ds: ArrayDataset, shifts: list[tuple[int, int, int]] | None = None,
                batch_size: int = 8) -> np.ndarray:
    """(N, L) logits of every case of ``ds``; with ``shifts`` (model voxels along i, j, k) the
    mean of the logits of the input rolled by each (test-time augmentation)."""
    mean = lm.card["preprocessing"]["mean"]
    out = []
    for s in range(0, len(ds), batch_size):
        x = batch_tensors(ds, np.arange(s, min(len(ds), s + batch_size)), mean, lm.device)[0]
        out.append(shifted_batch_maps(lm.networks, x, shifts or shifts_card.NO_SHIFT, ())["logits"].float().cpu().numpy())
    return np.concatenate(out)


def parse_shifts(text: str) -> list[tuple[int, int, int]]:
    """"0,0,0 4,0,0" -> [(0, 0, 0), (4, 0, 0)], bounded as a card's shifts are."""
    shifts = shifts_card.parse_shifts(text)
    problems = shifts_card.shift_problems(shifts)
    if problems:
        raise ValueError("; ".join(problems))
    return [tuple(v) for v in shifts]


def same_input(models: list[LoadedModel]) -> None:
    """Refuse models whose inputs or labels differ (their logits would not be comparable)."""
    first = models[0]
    key = lambda lm: (lm.card["preprocessing"], lm.label_names, list(lm.model.feature_shape[1:]),  # noqa: E731
                      lm.model.n_groups)
    for lm in models[1:]:
        if key(lm) != key(first):
            raise CTCamError(f"{lm.card_path} has another input, map grid or label list than "
                             f"{first.card_path}; an ensemble needs one recipe's inputs.")


def ensemble_table(y: np.ndarray, logits: list[np.ndarray], labels: list[str]) -> tuple[str, dict]:
    """Markdown rows per label (each model, spread, ensemble) and the macro values."""
    per = [auroc_per_label(y, lg) for lg in logits]
    ens = auroc_per_label(y, np.mean(logits, axis=0))
    names = " | ".join(f"model {i + 1}" for i in range(len(logits)))
    rows = [f"| label | {names} | spread | ensemble |", "|---" * (len(logits) + 3) + "|"]
    for c, lab in enumerate(labels):
        vals = [p[c] for p in per]
        rows.append(f"| {lab} | " + " | ".join(f"{v:.3f}" for v in vals) +
                    f" | {max(vals) - min(vals):.3f} | {ens[c]:.3f} |")
    macro = [float(np.nanmean(p)) for p in per]
    rows.append("| **macro** | " + " | ".join(f"{v:.3f}" for v in macro) +
                f" | {max(macro) - min(macro):.3f} | **{float(np.nanmean(ens)):.3f}** |")
    return "\n".join(rows), {"macro": macro, "ensemble_macro": float(np.nanmean(ens)),
                             "auroc": [p.tolist() for p in per], "ensemble_auroc": ens.tolist()}


def subset_macros(y: np.ndarray, logits: list[np.ndarray]) -> dict[str, float]:
    """Macro AUROC of the mean logit of every proper subset of two or more models (keys
    "1+2", "1+3", ...): with three or more models, whether a further run adds anything over
    the ensemble without it."""
    out = {}
    for k in range(2, len(logits)):
        for idx in itertools.combinations(range(len(logits)), k):
            mean = np.mean([logits[i] for i in idx], axis=0)
            out["+".join(str(i + 1) for i in idx)] = float(np.nanmean(auroc_per_label(y, mean)))
    return out


def demo_rows(paths: list[tuple[str, str]]) -> str:
    from engine.pipeline import explain_scan, run

    case = resources_dir() / "demo"
    truth = json.loads((case / "labels.json").read_text(encoding="utf-8"))["labels"]
    res = [run(explain_scan(case / "case.nii.gz", model=w, organs=case / "organs.nii.gz")) for w, _ in paths]
    names = [lab.name for lab in res[0].labels]
    ens = 1 / (1 + np.exp(-np.mean([r.logits for r in res], axis=0)))
    rows = ["| finding | truth | " + " | ".join(f"model {i + 1}" for i in range(len(res))) + " | ensemble (raw) |",
            "|---" * (len(res) + 3) + "|"]
    for i in np.argsort(-ens):
        rows.append(f"| {names[i]} | {'PRESENT' if truth.get(names[i]) else ''} | " +
                    " | ".join(f"{r.probabilities[i]:.2f}" for r in res) + f" | {ens[i]:.2f} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", nargs=2, action="append", required=True, metavar=("WEIGHTS", "CARD"))
    p.add_argument("--cache", required=True)
    p.add_argument("--split", choices=("test", "val"), default="test")
    p.add_argument("--n", type=int, default=200)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--demo", action="store_true")
    p.add_argument("--json", type=Path, help="write the numbers here too")
    p.add_argument("--shifts", type=parse_shifts, default=None,
                   help='test-time shifts in model voxels, e.g. "0,0,0 4,0,0 0,4,0 0,0,1": each '
                        "model alone, then each averaged over the shifts, then the ensemble of those")
    a = p.parse_args(argv)
    if len(a.model) < 2 and not a.shifts:
        p.error("give at least two --model, or --shifts")
    models = [load_model(w, c, device="cpu") for w, c in a.model]
    same_input(models)
    first = models[0]
    prep = first.card["preprocessing"]
    map_shape = (*first.model.feature_shape[1:], first.model.n_groups)
    ds = cached_phantom_dataset(a.cache, a.split, a.n, prep, cache_cell_shape(prep["shape"], map_shape),
                                first.label_names, first.card["organ_codes"], keep_organs=True,
                                workers=a.workers, log=print)
    ds.pool_to(map_shape)
    plain = [case_logits(lm, ds) for lm in models]
    table, numbers = ensemble_table(ds.y, plain, first.label_names)
    print(f"{a.split} phantoms: {len(ds)}\n\n{table}")
    if a.shifts:
        tta = [case_logits(lm, ds, a.shifts) for lm in models]
        for i in range(len(models)):
            t, _ = ensemble_table(ds.y, [plain[i], tta[i]], first.label_names)
            print(f"\nmodel {i + 1}: model 1 = as is, model 2 = mean over shifts {a.shifts}; "
                  f"'ensemble' = both\n\n{t}")
        t, numbers["tta"] = ensemble_table(ds.y, tta, first.label_names)
        print(f"\nevery model averaged over the shifts, and their ensemble\n\n{t}")
        numbers["tta_subsets"] = subset_macros(ds.y, tta)
        for name, v in numbers["tta_subsets"].items():
            print(f"ensemble of models {name} (over the shifts): macro {v:.3f}")
    if a.demo:
        print("\nDemo\n\n" + demo_rows(a.model))
    if a.json:
        a.json.write_text(json.dumps(numbers, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
