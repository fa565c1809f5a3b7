"""Regenerate the bundled demo case deterministically: ``python tools/make_demo.py [OUT]``.

Writes resources/demo/ (case.nii.gz, organs.nii.gz, masks/, labels.json) from the fixed
seed and findings in :mod:`engine.phantom.demo`.  Run it again after any change to the
phantom generator; tests/engine/test_phantom_demo.py checks the bundled files match.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.phantom.demo import DEMO_SEED, make_demo  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    out = Path(argv[0]) if argv else ROOT / "resources" / "demo"
    if (out / "masks").exists():
        shutil.rmtree(out / "masks")  # stale masks of labels no longer present
    case = make_demo(out)
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"demo case (seed {DEMO_SEED}) -> {out}: shape {case.volume.shape}, findings {case.present}, {size / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
