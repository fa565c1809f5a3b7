"""Make a model card an ensemble of runs, or a single network again (``ensemble_members``,
docs/methods.md, "Ensembles of runs").  Each member is copied beside the card (a plain file
name) and its sha256 recorded; the card is validated and the whole ensemble loaded (every
member must fit the card's architecture) before the card is written.  Re-run ``ctcam
evaluate --update-cards`` afterwards: the calibration and the operating points are fitted on
the logits the card produces, so they must be fitted again.

Usage::

    python tools/card_members.py --card resources/model/axialnet.json --add RUN2/axialnet.safetensors --name axialnet_run2.safetensors
    python tools/card_members.py --card resources/model/axialnet.json --none
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from engine.errors import CTCamError
from engine.model.card import file_sha256, read_card, validate_card, write_card
from engine.model.loading import load_model
from engine.model.members_card import KEY


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--card", required=True, type=Path)
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--add", type=Path, help="a member's weights (.safetensors of the same recipe)")
    g.add_argument("--none", action="store_true", help="remove every member (one network)")
    p.add_argument("--name", help="the member's file name beside the card (default: the file's own)")
    a = p.parse_args(argv)
    try:
        card = read_card(a.card)
        copied = None
        if a.none:
            card.pop(KEY, None)
        else:
            if not a.add.is_file():
                print(f"error: {a.add} is not a file")
                return 2
            name = a.name or a.add.name
            entry = {"file": name, "sha256": file_sha256(a.add)}
            card[KEY] = [*(card.get(KEY) or []), entry]
            validate_card(card, source=str(a.card))  # the name is checked before it becomes a path
            target = a.card.parent / name
            if target.exists() and file_sha256(target) != entry["sha256"]:
                print(f"error: {target} exists and differs from {a.add}; choose another --name")
                return 2
            if not target.exists():
                shutil.copyfile(a.add, target)
                copied = target
        old = a.card.read_bytes()
        write_card(card, a.card)
        try:
            lm = load_model(card=a.card)
        except CTCamError:
            a.card.write_bytes(old)
            if copied is not None:
                copied.unlink()
            raise
    except CTCamError as exc:
        print(f"error: {exc}")
        return 2
    print(f"{a.card}: {len(lm.networks)} network(s): "
          + ", ".join([str(card['weights']['file']), *(m['file'] for m in card.get(KEY) or [])]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
