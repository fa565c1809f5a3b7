"""``ctcam evaluate``: base vs mask-loss model on held-out phantoms (docs/training.md,
"ctcam evaluate"; metrics in docs/methods.md).

For each model: AUROC per label and macro AUROC on the test phantoms (seeds from
3_000_000); for each method (HiResCAM, Grad-CAM) OrganIoU and in-organ mass share over the
present labels (:mod:`engine.model.metrics`).  The OrganIoU threshold is chosen per label,
model and method on validation phantoms (seeds from 2_000_000, the same ones training used
for validation) from 0.05, 0.10, ..., 0.95 as the one with the best mean validation
OrganIoU; localisation scores are averaged over the present cases of each label and then
over labels (macro).  Writes ``OUT/evaluation.json``::

    {"n_cases": N, "models": {"base": {"macro_auroc", "auroc": {label: x},
      "organ_iou": {"hirescam", "gradcam"}, "mass_in_organ": {"hirescam", "gradcam"},
      "peak_distance_mm", "operating_point", "calibration", "reliability": {"raw", "calibrated"},
      "confusion": {label: {"raised_by", "auroc"}}}, "mask": {...}}}

``confusion`` (:func:`engine.model.metrics.label_confusion`): per label, the other finding of
its organ whose presence most raises its output where it is absent.

The calibration (Platt per label, :mod:`engine.model.calibration`) is fitted on the
validation logits; the operating points' probabilities are in its terms, and
``--update-cards`` stores it in the card, so the app reports calibrated probabilities.

and ``OUT/evaluation.md`` (tables, thresholds, models used).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.cam.shifts import shifted_batch_maps
from engine.errors import CTCamError
from engine.model import calibration
from engine.model.batches import batch_tensors
from engine.model.card import write_card
from engine.model.dataset import ArrayDataset, cache_cell_shape, cached_phantom_dataset
from engine.model.loading import LoadedModel, load_model
from engine.model.members_card import weights_id, weights_id_shas
from engine.model.metrics import (
    THRESHOLDS,
    auroc_per_label,
    label_confusion,
    localisation_scores,
    operating_points,
    peak_distance_mm,
    sensitivity_specificity,
    upsample_maps,
)
from engine.operating import MIN_CALL_AUROC, no_call_reasons
from engine.resources import resources_dir
from engine.results import METHODS


def _rel(path: Path | None) -> str:
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))  # type: ignore[arg-type]
    except ValueError:
        return str(path)


def base_model_paths() -> tuple[Path, Path]:
    d = resources_dir() / "model" / "base"
    return d / "axialnet_base.safetensors", d / "axialnet_base.json"


@torch.no_grad()
def score_model(loaded: LoadedModel, ds: ArrayDataset, batch_size: int = 8
                ) -> tuple[np.ndarray, dict[str, list[tuple[int, int, np.ndarray, float]]]]:
    """Logits (N, L) and, per method, (case, label, OrganIoU per threshold, mass, peak
    distance to the lesion in mm or NaN) for every present label."""
    card = loaded.card
    mean = card["preprocessing"]["mean"]
    codes = [lab.organ_code for lab in loaded.labels]
    shape = tuple(card["preprocessing"]["shape"])
    spacing = card["preprocessing"]["spacing_mm"]
    logits_all = []
    loc: dict[str, list] = {m: [] for m in METHODS}
    dev = loaded.device
    for s in range(0, len(ds), batch_size):
        idx = np.arange(s, min(len(ds), s + batch_size))
        x = batch_tensors(ds, idx, mean, dev)[0]
        # logits (B, L), maps (B, L, mi, mj, mk): the mean over the card's networks and test-time
        # shifts (one unshifted network: exactly the fast path's maps on the map grid)
        raw = shifted_batch_maps(loaded.networks, x, loaded.test_time_shifts, METHODS)
        logits_all.append(raw["logits"].float().cpu().numpy())
        for bi, case in enumerate(idx):
            present = np.flatnonzero(ds.y[case])
            if len(present) == 0:
                continue
            organs = torch.from_numpy(ds.organs[case])  # type: ignore[index]
            inside = torch.stack([organs == codes[c] for c in present])
            lesion = None
            if ds.lesion_bits is not None:
                lesion = np.stack([(ds.lesion_bits[case] >> np.uint32(c)) & np.uint32(1)
                                   for c in present]).astype(bool)
            for m in METHODS:
                up = upsample_maps(raw[m][bi, present].cpu().numpy(), shape)
                ious, mass = localisation_scores(up, inside)
                dist = (peak_distance_mm(up, lesion, spacing) if lesion is not None
                        else np.full(len(present), np.nan))
                for k, c in enumerate(present):
                    loc[m].append((int(case), int(c), ious[k], float(mass[k]), float(dist[k])))
    return np.concatenate(logits_all), loc


def _num(v) -> float | None:
    return None if v is None or not np.isfinite(v) else round(float(v), 4)


def peak_summary(loc: dict, labels: list[str], within_mm: float = 20.0) -> dict[str, Any]:
    """Per method: median peak-to-lesion distance and the share of present cases within
    ``within_mm``, over all present cases and per label."""
    out: dict[str, Any] = {"within_mm": within_mm}
    for m in METHODS:
        d = np.array([r[4] for r in loc[m]], dtype=float)
        lab = np.array([r[1] for r in loc[m]], dtype=int)
        ok = np.isfinite(d)
        per = {}
        for c, name in enumerate(labels):
            dc = d[ok & (lab == c)]
            if len(dc):
                per[name] = {"median": _num(np.median(dc)), "share_within": _num((dc <= within_mm).mean()),
                             "n": int(len(dc))}
        out[m] = {"median": _num(np.median(d[ok])) if ok.any() else None,
                  "share_within": _num((d[ok] <= within_mm).mean()) if ok.any() else None,
                  "n": int(ok.sum()), "per_label": per}
    return out


def shifts_note(shifts: list) -> str:
    """The models line's note on test-time shifts ("" for one unshifted run)."""
    if len(shifts) <= 1 and all(v == 0 for s in shifts for v in s):
        return ""
    return f"; scored as the mean of {len(shifts)} test-time shifts {shifts}"


def summarise(loc_val: dict, loc_test: dict, n_labels: int) -> tuple[dict, dict, dict]:
    """Macro OrganIoU and mass per method, and the chosen thresholds per label."""
    iou, mass, thr = {}, {}, {}
    for m in METHODS:
        per_label_iou, per_label_mass, chosen = [], [], {}
        for c in range(n_labels):
            v = np.array([r[2] for r in loc_val[m] if r[1] == c])
            t = [r for r in loc_test[m] if r[1] == c]
            if not t:
                continue
            k = int(np.argmax(v.mean(0))) if len(v) else len(THRESHOLDS) // 2
            chosen[c] = float(THRESHOLDS[k])
            per_label_iou.append(np.mean([r[2][k] for r in t]))
            per_label_mass.append(np.mean([r[3] for r in t]))
        iou[m] = float(np.mean(per_label_iou))
        mass[m] = float(np.mean(per_label_mass))
        thr[m] = chosen
    return iou, mass, thr


def evaluate(models: dict[str, tuple[Path, Path]], out: Path, n_cases: int, n_val: int,
             cache: str | None, workers: int, device: str | None, log) -> dict[str, Any]:
    loaded = {k: load_model(w, c, device=device) for k, (w, c) in models.items()}
    first = next(iter(loaded.values()))
    prep = first.card["preprocessing"]
    for k, lm in loaded.items():
        p = lm.card["preprocessing"]
        if [p["shape"], p["spacing_mm"], p["hu_window"], p.get("centre")] != \
           [prep["shape"], prep["spacing_mm"], prep["hu_window"], prep.get("centre")]:
            raise CTCamError(f"model {k!r} ({lm.card_path}) uses another model grid than "
                             f"{first.card_path}; evaluate models with the same preprocessing.")
        if lm.label_names != first.label_names:
            raise CTCamError(f"model {k!r} ({lm.card_path}) has other labels than {first.card_path}.")
    labels = first.label_names
    codes = first.card["organ_codes"]
    datasets: dict[str, tuple[ArrayDataset, ArrayDataset]] = {}

    def data_for(lm) -> tuple[ArrayDataset, ArrayDataset]:
        """The test and validation phantoms as this model's input (models may differ in their
        channels: each distinct input is built, or read from the cache, once)."""
        p = lm.card["preprocessing"]
        map_shape = (*lm.model.feature_shape[1:], lm.model.n_groups)
        key = json.dumps([p.get("channels"), p.get("interpolation"), list(map_shape)], sort_keys=True)
        if key not in datasets:
            t0 = time.perf_counter()
            cells = cache_cell_shape(p["shape"], map_shape)  # the cache training uses too
            pair = tuple(cached_phantom_dataset(cache, split, n, p, cells, labels, codes,
                                                keep_organs=True, workers=workers, log=log)
                         for split, n in (("test", n_cases), ("val", n_val)))
            for ds in pair:
                ds.pool_to(map_shape)
            log(f"data ready in {time.perf_counter() - t0:.0f} s")
            datasets[key] = pair  # type: ignore[assignment]
        return datasets[key]

    result: dict[str, Any] = {"n_cases": int(n_cases), "models": {}}
    extra: dict[str, Any] = {}
    out.mkdir(parents=True, exist_ok=True)
    for name, lm in loaded.items():
        t1 = time.perf_counter()
        sha = weights_id(lm.card)  # an ensemble: every member's sha256
        shifts = [list(v) for v in lm.test_time_shifts]  # the same weights run otherwise score otherwise
        partial = out / f"partial-{name}.json"  # lets a run score one model at a time
        if partial.is_file():
            saved = json.loads(partial.read_text(encoding="utf-8"))
            if (saved.get("sha256") == sha and saved.get("n_cases") == n_cases and saved.get("n_val") == n_val
                    and saved.get("test_time_shifts", [[0, 0, 0]]) == shifts):
                result["models"][name] = saved["result"]
                extra[name] = saved["extra"]
                extra[name]["thresholds"] = {m: {int(k): v for k, v in t.items()}
                                             for m, t in extra[name]["thresholds"].items()}
                log(f"{name}: reused {partial}")
                continue
        test, val = data_for(lm)
        logits, loc_test = score_model(lm, test)
        logits_val, loc_val = score_model(lm, val)
        aucs = auroc_per_label(test.y, logits)
        iou, mass, thr = summarise(loc_val, loc_test, len(labels))
        op = operating_points(val.y, logits_val)
        not_called = no_call_reasons(labels, [float(a) for a in auroc_per_label(val.y, logits_val)])
        op = np.where([lab in not_called for lab in labels], np.nan, op)
        sens, spec = sensitivity_specificity(test.y, logits, op)
        cal = calibration.fit(val.y, logits_val, labels,
                              f"{len(val)} validation phantoms (seeds 2000000+), ctcam evaluate")
        calibrated = {"calibration": cal}
        reliability = {"raw": calibration.reliability(test.y, calibration.probabilities(None, labels, logits)),
                       "calibrated": calibration.reliability(
                           test.y, calibration.probabilities(calibrated, labels, logits))}
        op_prob = calibration.probabilities(calibrated, labels, np.nan_to_num(op, nan=0.0))
        peaks = peak_summary(loc_test, labels)
        result["models"][name] = {
            "confusion": label_confusion(test.y, logits, labels),
            "macro_auroc": float(np.nanmean(aucs)),
            "auroc": {lab: (None if np.isnan(v) else float(v)) for lab, v in zip(labels, aucs)},
            "organ_iou": iou,
            "mass_in_organ": mass,
            "peak_distance_mm": peaks,
            "operating_point": {
                "rule": ("per label, the validation logit that maximises sensitivity + specificity; "
                         f"no call where the validation AUROC is under {MIN_CALL_AUROC:.2f}"),
                "not_called": not_called,
                "probability": {lab: (None if np.isnan(t) else _num(p))
                                for lab, t, p in zip(labels, op, op_prob)},
                "sensitivity": {lab: _num(v) for lab, v in zip(labels, sens)},
                "specificity": {lab: _num(v) for lab, v in zip(labels, spec)},
                "macro_sensitivity": _num(np.nanmean(sens)),
                "macro_specificity": _num(np.nanmean(spec)),
            },
            "calibration": cal,
            "reliability": reliability,
        }
        extra[name] = {"thresholds": thr, "prevalence": test.y.mean(0).tolist(),
                       "card": _rel(lm.card_path), "sha256": sha, "test_time_shifts": shifts,
                       "training": lm.card.get("training", {})}
        partial.write_text(json.dumps({"sha256": sha, "n_cases": n_cases, "n_val": n_val, "test_time_shifts": shifts,
                                       "result": result["models"][name], "extra": extra[name]}),
                           encoding="utf-8")
        log(f"{name}: macro AUROC {np.nanmean(aucs):.4f}, OrganIoU {iou}, mass {mass} "
            f"({time.perf_counter() - t1:.0f} s)")
    (out / "evaluation.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    (out / "evaluation.md").write_text(markdown(result, extra, labels, n_val), encoding="utf-8")
    return result


def markdown(result: dict, extra: dict, labels: list[str], n_val: int) -> str:
    names = list(result["models"])
    lines = [
        "# Evaluation on held-out phantoms",
        "",
        f"Written by `ctcam evaluate`. Test set: {result['n_cases']} phantoms (seeds 3000000+); "
        f"OrganIoU thresholds chosen per label on {n_val} validation phantoms (seeds 2000000+). "
        "All data is synthetic.",
        "",
        "## Localisation (macro over labels, present cases only)",
        "",
        "| model | method | OrganIoU | mass in organ |",
        "|---|---|---|---|",
    ]
    for n in names:
        r = result["models"][n]
        for m in METHODS:
            lines.append(f"| {n} | {m} | {r['organ_iou'][m]:.3f} | {r['mass_in_organ'][m]:.3f} |")
    lines += ["", "## Where the map points: peak of the map to the true lesion (present cases)", "",
              "| model | method | median distance (mm) | share within "
              f"{result['models'][names[0]]['peak_distance_mm']['within_mm']:g} mm | cases |",
              "|---|---|---|---|---|"]
    for n in names:
        pk = result["models"][n]["peak_distance_mm"]
        for m in METHODS:
            med, sh = pk[m]["median"], pk[m]["share_within"]
            lines.append(f"| {n} | {m} | {'n/a' if med is None else f'{med:.1f}'} | "
                         f"{'n/a' if sh is None else f'{sh:.3f}'} | {pk[m]['n']} |")
    lines += ["", "## Classification (AUROC)", "",
              "| label | prevalence | " + " | ".join(names) + " |",
              "|---|---|" + "---|" * len(names)]
    prev = extra[names[0]]["prevalence"]
    for i, lab in enumerate(labels):
        vals = []
        for n in names:
            v = result["models"][n]["auroc"][lab]
            vals.append("n/a" if v is None else f"{v:.3f}")
        lines.append(f"| {lab} | {prev[i]:.2f} | " + " | ".join(vals) + " |")
    lines.append("| **macro** | | " + " | ".join(
        f"**{result['models'][n]['macro_auroc']:.3f}**" for n in names) + " |")
    confused = [n for n in names if "confusion" in result["models"][n]]
    if confused:
        lines += ["", "## Confusion: the other finding of the same organ that most raises a label's "
                  "output where the label is absent (AUROC over its negatives; 0.5 = ignores it)", "",
                  "| label | " + " | ".join(confused) + " |", "|---|" + "---|" * len(confused)]
        for lab in labels:
            cells = []
            for n in confused:
                c = result["models"][n]["confusion"].get(lab, {})
                cells.append("n/a" if c.get("raised_by") is None else
                             f"{c['raised_by'].partition('/')[2]} {c['auroc']:.2f}")
            lines.append(f"| {lab} | " + " | ".join(cells) + " |")
    lines += ["", "## Operating points (threshold chosen on validation: max sensitivity + "
              "specificity)", "",
              "| label | " + " | ".join(f"{n} p / sens / spec" for n in names) + " |",
              "|---|" + "---|" * len(names)]

    def f3(v):
        return "n/a" if v is None else f"{v:.2f}"
    for lab in labels:
        cells = []
        for n in names:
            o = result["models"][n]["operating_point"]
            cells.append(f"{f3(o['probability'][lab])} / {f3(o['sensitivity'][lab])} / "
                         f"{f3(o['specificity'][lab])}")
        lines.append(f"| {lab} | " + " | ".join(cells) + " |")
    lines.append("| **macro** | " + " | ".join(
        f"sens {f3(result['models'][n]['operating_point']['macro_sensitivity'])}, spec "
        f"{f3(result['models'][n]['operating_point']['macro_specificity'])}" for n in names) + " |")
    lines += ["", "## Probabilities: calibration (Platt per label, fitted on validation)", "",
              "| model | Brier raw | Brier calibrated | ECE raw | ECE calibrated |",
              "|---|---|---|---|---|"]
    for n in names:
        rel = result["models"][n]["reliability"]
        lines.append(f"| {n} | {rel['raw']['brier']:.4f} | {rel['calibrated']['brier']:.4f} | "
                     f"{rel['raw']['ece']:.4f} | {rel['calibrated']['ece']:.4f} |")
    lines += ["", "## Models", ""]
    for n in names:
        tr = extra[n]["training"]
        lines.append(f"- **{n}**: `{extra[n]['card']}` (sha256 {extra[n]['sha256'][:12]}), mask loss "
                     f"{tr.get('mask_loss')}, {tr.get('epochs')} epochs on {tr.get('n_train')} "
                     f"phantoms, {tr.get('train_time_s')} s training on {tr.get('hardware')}"
                     + ensemble_note(extra[n]["sha256"])
                     + shifts_note(extra[n].get("test_time_shifts", [[0, 0, 0]])))
    lines += ["", "## OrganIoU thresholds (chosen on validation)", "",
              "| label | " + " | ".join(f"{n} {m}" for n in names for m in METHODS) + " |",
              "|---|" + "---|" * (len(names) * len(METHODS))]
    for i, lab in enumerate(labels):
        cells = [str(extra[n]["thresholds"][m].get(i, "")) for n in names for m in METHODS]
        lines.append(f"| {lab} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def ensemble_note(weights_id: str) -> str:
    """", the mean of N networks (ensemble members sha256 ...)" for an ensemble's weights id."""
    shas = weights_id_shas(weights_id)
    return "" if len(shas) == 1 else (f", the mean of {len(shas)} networks (further members "
                                      + ", ".join(x[:12] for x in shas[1:]) + ")")


def update_cards(result: dict, models: dict[str, tuple[Path, Path]]) -> None:
    """Store the test metrics in each model's card (the weights, hence sha256, are unchanged)."""
    for name, (_, cpath) in models.items():
        card = json.loads(Path(cpath).read_text(encoding="utf-8"))
        r = result["models"][name]
        card.setdefault("metrics", {})["test"] = {
            "n_cases": result["n_cases"],
            "macro_auroc": round(r["macro_auroc"], 4),
            "auroc": {k: (None if v is None else round(v, 4)) for k, v in r["auroc"].items()},
            "organ_iou": {k: round(v, 4) for k, v in r["organ_iou"].items()},
            "mass_in_organ": {k: round(v, 4) for k, v in r["mass_in_organ"].items()},
            "peak_within_20mm": {m: r["peak_distance_mm"][m]["share_within"] for m in METHODS},
            "peak_median_mm": {m: r["peak_distance_mm"][m]["median"] for m in METHODS},
            "operating_point": {k: r["operating_point"][k] for k in
                                ("rule", "probability", "sensitivity", "specificity", "not_called")},
            "reliability": r["reliability"],
            "source": "ctcam evaluate (docs/evaluation.md)",
        }
        card["calibration"] = r["calibration"]  # the operating points are in its probabilities
        write_card(card, cpath)
