"""A whole retrain of the bundled model in one command, compared with the model it would
replace: ``ctcam train`` with the bundled card's own recipe (plus any changed options),
``ctcam evaluate`` of the new model on the 200 held-out test phantoms, ``tools/demo_check.py``
on the demo, then a side-by-side table.

Usage::

    python tools/retrain.py --out DIR [--version 3.5] [-- OPTIONS FOR ctcam train ...]
    python tools/retrain.py --out /tmp/r35 --version 3.5 -- --channels evidence_depth

Writes ``DIR/model/`` (weights + card, the card's version set to ``--version``),
``DIR/eval/`` (evaluation.json/.md of the new model), ``DIR/demo.txt`` and
``DIR/compare.md`` (per label test AUROC new against docs/evaluation.json's mask model,
macro, localisation, the demo), and each step's log ``DIR/<step>.log``.  A step whose
output exists is not run again, so after an interruption the same command continues
(training itself resumes from its checkpoint).  The training cache is ``DIR/cache`` unless
``--cache`` says otherwise.  Nothing in resources/ is touched: whether the new model ships
is a person's decision (docs/training.md, "Retraining").
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

from engine.model.card import write_card

ROOT = Path(__file__).resolve().parent.parent
BUNDLED_CARD = ROOT / "resources" / "model" / "axialnet.json"
BUNDLED_EVALUATION = ROOT / "docs" / "evaluation.json"


def train_args(recipe: str, overrides: list[str], out: Path, cache: Path, workers: int,
               threads: int, resume: bool) -> list[str]:
    """``ctcam train`` arguments: the recipe, then the overrides (argparse keeps the last)."""
    args = ["train", *shlex.split(recipe), *overrides, "--out", str(out), "--cache", str(cache),
            "--workers", str(workers), "--threads", str(threads)]
    return args + (["--resume"] if resume else [])


def compare_table(new: dict, old: dict, old_name: str) -> str:
    """Markdown: macro and per-label test AUROC, OrganIoU, peak share, new against old."""
    def f(v) -> str:
        return "" if v is None else f"{v:.3f}"

    def peak(r: dict, m: str):
        return (r.get("peak_distance_mm") or {}).get(m, {}).get("share_within")

    rows = [f"| | {old_name} | new | change |", "|---|---|---|---|"]
    pairs = [("macro AUROC", old.get("macro_auroc"), new.get("macro_auroc"))]
    pairs += [(f"AUROC {lab}", old.get("auroc", {}).get(lab), v) for lab, v in new.get("auroc", {}).items()]
    for m in ("hirescam", "gradcam"):
        pairs.append((f"OrganIoU {m}", old.get("organ_iou", {}).get(m), new.get("organ_iou", {}).get(m)))
        pairs.append((f"peak within 20 mm {m}", peak(old, m), peak(new, m)))
    for name, a, b in pairs:
        change = "" if a is None or b is None else f"{b - a:+.3f}"
        rows.append(f"| {name} | {f(a)} | {f(b)} | {change} |")
    under = [lab for lab, v in new.get("auroc", {}).items() if v is not None and v < 0.90]
    rows.append("")
    rows.append(f"labels under 0.90 (new): {', '.join(under) if under else 'none'}")
    return "\n".join(rows)


def _run(step: str, cmd: list[str], out: Path) -> None:
    log = out / f"{step}.log"
    t = time.perf_counter()
    print(f"[{time.strftime('%H:%M:%S')}] {step}: {shlex.join(cmd)}  (log: {log})", flush=True)
    with log.open("a", encoding="utf-8") as fh:
        rc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=ROOT).returncode
    if rc != 0:
        raise SystemExit(f"{step} failed (exit {rc}); see {log}")
    print(f"[{time.strftime('%H:%M:%S')}] {step}: done in {time.perf_counter() - t:.0f} s", flush=True)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    overrides = argv[argv.index("--") + 1:] if "--" in argv else []
    own = argv[:argv.index("--")] if "--" in argv else argv
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--version", help="the new card's version (default: the training default)")
    p.add_argument("--cache", type=Path, help="training cache (default OUT/cache)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--eval-cases", type=int, default=200, help="test phantoms (a smoke run: fewer)")
    p.add_argument("--eval-val", type=int, default=200, help="validation phantoms of the evaluation")
    a = p.parse_args(own)
    out: Path = a.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    cache = (a.cache or out / "cache").resolve()
    ctcam = [sys.executable, "-m", "engine.cli"]
    bundled = json.loads(BUNDLED_CARD.read_text(encoding="utf-8"))
    recipe = bundled["training"]["recipe"]
    model = out / "model"
    weights, card_path = model / "axialnet.safetensors", model / "axialnet.json"
    if not card_path.is_file():
        _run("train", ctcam + train_args(recipe, overrides, model, cache, a.workers, a.threads,
                                         resume=(model / "checkpoint.json").is_file()), out)
    card = json.loads(card_path.read_text(encoding="utf-8"))
    if a.version and card.get("version") != a.version:
        card["version"] = a.version  # the card's sha256 is of the weights, which do not change
        write_card(card, card_path)
    evaluation = out / "eval" / "evaluation.json"
    if not evaluation.is_file():
        _run("evaluate", ctcam + ["evaluate", "--mask", str(weights), str(card_path), "--only", "mask",
                                  "--update-cards", "--cache", str(cache), "--out", str(out / "eval"),
                                  "--workers", str(a.workers), "--threads", str(a.threads),
                                  "--n-cases", str(a.eval_cases), "--n-val", str(a.eval_val)], out)
    demo = out / "demo.txt"
    if not demo.is_file():
        (out / "demo.log").unlink(missing_ok=True)
        _run("demo", [sys.executable, str(ROOT / "tools" / "demo_check.py"), "--weights", str(weights)], out)
        demo.write_text((out / "demo.log").read_text(encoding="utf-8"), encoding="utf-8")
    new = json.loads(evaluation.read_text(encoding="utf-8"))["models"]["mask"]
    old = json.loads(BUNDLED_EVALUATION.read_text(encoding="utf-8"))["models"]["mask"]
    table = compare_table(new, old, f"bundled {bundled.get('version')}")
    (out / "compare.md").write_text(f"# Retrain in {out}\n\ntrain options beyond the bundled recipe: "
                                    f"{shlex.join(overrides) or 'none'}\n\n{table}\n\n## Demo\n\n"
                                    f"{demo.read_text(encoding='utf-8')}\n", encoding="utf-8")
    print(table)
    print(f"written: {out / 'compare.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
