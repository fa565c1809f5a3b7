"""Seed an evaluation folder with one model's earlier result, so that ``ctcam evaluate``
scores only the model that changed.

``ctcam evaluate`` keeps each model's scores in ``OUT/partial-<name>.json`` and reuses them
when the weights' sha256 and the case counts match.  The docs keep only ``evaluation.json``
and ``evaluation.md``; this rebuilds the partial of one model from those two (the OrganIoU
thresholds are read from the markdown table) and that model's card, refusing when the card's
weights are not the ones evaluated.  The test and validation phantoms are seeded, so an
unchanged model scores the same on them; re-scoring it would only cost time.

Usage::

    python tools/seed_partial.py --name base --card resources/model/base/axialnet_base.json \
        --from docs --out /work/r35/eval_all
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from engine.evaluate import ensemble_note, shifts_note
from engine.model.card import file_sha256
from engine.model.members_card import card_members, weights_id
from engine.model.shifts_card import card_shifts
from engine.results import METHODS


def thresholds_from_markdown(md: str, name: str, labels: list[str]) -> dict[str, dict[int, float]]:
    """The model's per-label OrganIoU thresholds from evaluation.md's last table."""
    table = md.partition("## OrganIoU thresholds")[2]
    if not table:
        raise SystemExit("evaluation.md has no 'OrganIoU thresholds' table")
    rows = [r.strip().strip("|").split("|") for r in table.splitlines() if r.startswith("|")]
    columns = [c.strip() for c in rows[0]]
    out: dict[str, dict[int, float]] = {m: {} for m in METHODS}
    for m in METHODS:
        col = columns.index(f"{name} {m}")
        for row in rows[2:]:
            lab = row[0].strip()
            if lab not in labels:
                raise SystemExit(f"evaluation.md: unknown label {lab!r} in the thresholds table")
            cell = row[col].strip()
            if cell:
                out[m][labels.index(lab)] = float(cell)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--name", required=True, choices=("base", "mask"))
    p.add_argument("--card", required=True, type=Path)
    p.add_argument("--from", dest="src", required=True, type=Path, help="folder with evaluation.json/.md")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--n-val", type=int, default=200)
    a = p.parse_args(argv)
    ev = json.loads((a.src / "evaluation.json").read_text(encoding="utf-8"))
    md = (a.src / "evaluation.md").read_text(encoding="utf-8")
    card = json.loads(a.card.read_text(encoding="utf-8"))
    weights = a.card.parent / card["weights"]["file"]
    for file, want in [(card["weights"]["file"], card["weights"]["sha256"]), *card_members(card)]:
        if file_sha256(a.card.parent / file) != want:  # every network of an ensemble
            raise SystemExit(f"{a.card.parent / file}: sha256 differs from its card's")
    sha = weights_id(card)
    line = md.partition(f"- **{a.name}**:")[2].partition("\n")[0]
    if f"(sha256 {sha[:12]})" not in line or ensemble_note(sha) not in line or (
            "networks (further members" in line and not ensemble_note(sha)):
        raise SystemExit(f"{a.src / 'evaluation.md'}: model {a.name} there is not {weights}")
    shifts = [list(v) for v in card_shifts(card)]
    if ((shifts_note(shifts) and not line.endswith(shifts_note(shifts)))
            or ("test-time shifts" in line and not shifts_note(shifts))):
        raise SystemExit(f"{a.src / 'evaluation.md'}: model {a.name} was scored with other "
                         f"test-time shifts than {a.card} holds ({shifts})")
    labels = list(ev["models"][a.name]["auroc"])
    section = md.partition("## Classification")[2].partition("\n## ")[0]
    prevalence = [float(r.split("|")[2]) for r in section.splitlines()
                  if r.startswith("|") and r.split("|")[1].strip() in labels]
    if len(prevalence) != len(labels):
        raise SystemExit("evaluation.md: the classification table's prevalence column is incomplete")
    extra = {"thresholds": thresholds_from_markdown(md, a.name, labels), "prevalence": prevalence,
             "card": str(a.card), "sha256": sha, "test_time_shifts": shifts,
             "training": card.get("training", {})}
    a.out.mkdir(parents=True, exist_ok=True)
    target = a.out / f"partial-{a.name}.json"
    target.write_text(json.dumps({"sha256": sha, "n_cases": ev["n_cases"], "n_val": a.n_val,
                                  "test_time_shifts": shifts,
                                  "result": ev["models"][a.name], "extra": extra}), encoding="utf-8")
    print(f"written {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
