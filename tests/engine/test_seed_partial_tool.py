"""tools/seed_partial.py: the partials it rebuilds from docs/evaluation.json/.md let
``ctcam evaluate`` reproduce docs/evaluation.json exactly without scoring anything (which
also checks that the docs describe the bundled weights), and it refuses other weights."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest

from engine.evaluate import evaluate

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("seed_partial", ROOT / "tools" / "seed_partial.py")
seed_partial = importlib.util.module_from_spec(spec)
spec.loader.exec_module(seed_partial)
MODELS = {"base": (ROOT / "resources/model/base/axialnet_base.safetensors",
                   ROOT / "resources/model/base/axialnet_base.json"),
          "mask": (ROOT / "resources/model/axialnet.safetensors", ROOT / "resources/model/axialnet.json")}


def test_seeded_partials_reproduce_the_documented_evaluation(tmp_path):
    for name, (_, card) in MODELS.items():
        assert seed_partial.main(["--name", name, "--card", str(card), "--from", str(ROOT / "docs"),
                                  "--out", str(tmp_path)]) == 0
    logged = []
    result = evaluate(MODELS, tmp_path, 200, 200, cache=None, workers=1, device="cpu", log=logged.append)
    assert sum("reused" in m for m in logged) == 2  # nothing rendered, nothing scored
    assert result == json.loads((ROOT / "docs/evaluation.json").read_text(encoding="utf-8"))
    md = (tmp_path / "evaluation.md").read_text(encoding="utf-8")
    doc = (ROOT / "docs/evaluation.md").read_text(encoding="utf-8")
    for start, end in (("## Localisation", "## Models"), ("## OrganIoU thresholds", "\n\n\n")):
        assert md.partition(start)[2].partition(end)[0] == doc.partition(start)[2].partition(end)[0]


def test_refuses_a_card_whose_weights_were_not_the_ones_evaluated(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copy(ROOT / "docs/evaluation.json", docs)
    md = (ROOT / "docs/evaluation.md").read_text(encoding="utf-8")
    card = json.loads(MODELS["base"][1].read_text(encoding="utf-8"))
    (docs / "evaluation.md").write_text(md.replace(f"(sha256 {card['weights']['sha256'][:12]})",
                                                   "(sha256 000000000000)"), encoding="utf-8")
    with pytest.raises(SystemExit, match="is not"):
        seed_partial.main(["--name", "base", "--card", str(MODELS["base"][1]), "--from", str(docs),
                           "--out", str(tmp_path / "out")])
