"""Set or clear a model card's test-time shifts (``test_time_shifts``, docs/methods.md,
"Test-time shifts").  The weights do not change; the card is validated before it is written.
Re-run ``ctcam evaluate --update-cards`` afterwards: the calibration and the operating
points are fitted on the logits the card produces, so they must be fitted again.

Usage::

    python tools/card_shifts.py --card resources/model/axialnet.json --shifts "0,0,0 4,0,0 0,4,0"
    python tools/card_shifts.py --card resources/model/axialnet.json --none
"""

from __future__ import annotations

import argparse
from pathlib import Path

from engine.errors import CTCamError
from engine.model.card import read_card, validate_card, write_card
from engine.model.shifts_card import KEY, parse_shifts


def parse(text: str) -> list[list[int]]:
    try:
        return parse_shifts(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--card", required=True, type=Path)
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--shifts", type=parse)
    g.add_argument("--none", action="store_true", help="remove the shifts (one unshifted run)")
    a = p.parse_args(argv)
    try:
        card = read_card(a.card)
        if a.none:
            card.pop(KEY, None)
        else:
            card[KEY] = a.shifts
        validate_card(card, source=str(a.card))
    except CTCamError as exc:
        print(f"error: {exc}")
        return 2
    write_card(card, a.card)
    print(f"{a.card}: {KEY} = {card.get(KEY, 'none')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
