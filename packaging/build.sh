#!/usr/bin/env bash
# Build the one-folder desktop bundle dist/ctcam/ with PyInstaller (packaging/README.md).
#
#   bash packaging/build.sh            # uses .venv (created if missing)
#   CTCAM_BUILD_VENV=build/venv bash packaging/build.sh   # a separate build venv
#
# Takes several minutes and ~1 GB of disk; runs under `nice` (CTCAM_BUILD_NICE, default 19)
# so it does not slow other work on the machine.  CI does not run it: tests/test_packaging.py
# validates the recipe instead.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${CTCAM_BUILD_VENV:-.venv}
NICE=${CTCAM_BUILD_NICE:-19}

[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
. "$VENV/bin/activate"
pipargs=(-q --disable-pip-version-check -c constraints.txt)
if [ -d /opt/wheels ]; then
  pipargs+=(--find-links /opt/wheels)
else
  # CPU-only torch (the PyPI Linux wheel pulls ~3 GB of CUDA libraries).
  pipargs+=(--extra-index-url https://download.pytorch.org/whl/cpu)
fi
pip install "${pipargs[@]}" -e ".[packaging]"
python - <<'PY'
import torch, sys
if torch.version.cuda is not None:
    sys.exit(f"build venv has CUDA torch {torch.__version__}; the bundle must use the CPU wheel")
print(f"torch {torch.__version__} (CPU)")
PY

[ -f resources/icons/ctcam-256.png ] || python packaging/make_icons.py

start=$(date +%s)
nice -n "$NICE" pyinstaller --noconfirm --clean --log-level WARN \
  --distpath dist --workpath build/pyinstaller packaging/ctcam.spec
if command -v strip >/dev/null; then
  nice -n "$NICE" python - <<'PY'
import subprocess, sys
from pathlib import Path
sys.path.insert(0, "packaging")
import bundle_config as cfg
base = Path("dist/ctcam/_internal")
files = sorted({p for g in cfg.STRIP_GLOBS for p in base.glob(g) if p.is_file() and not p.is_symlink()})
before = sum(p.stat().st_size for p in files)
subprocess.run(["strip", "--strip-unneeded", *map(str, files)], check=True)
after = sum(p.stat().st_size for p in files)
print(f"stripped {len(files)} libraries: {before / 2**20:.0f} -> {after / 2**20:.0f} MiB")
PY
else
  echo "note: no strip (binutils); the bundle stays ~200 MB larger"
fi
end=$(date +%s)
# Desktop integration travels with the bundle: dist/ctcam/install.sh installs it.
mkdir -p dist/ctcam/share
cp packaging/ctcam.desktop packaging/ctcam-mime.xml dist/ctcam/share/
cp packaging/install.sh dist/ctcam/install.sh
echo "built dist/ctcam in $((end - start)) s, $(du -sh dist/ctcam | cut -f1) ($(find dist/ctcam -type f | wc -l) files)"
echo "smoke test: bash packaging/smoke.sh"
if [ "${CTCAM_BUILD_TARBALL:-0}" = 1 ]; then
  ver=$(python -c "import importlib.metadata as m; print(m.version('ctcam'))")
  tar -C dist -czf "dist/ctcam-$ver-linux-$(uname -m).tar.gz" ctcam
  echo "archive: $(du -sh dist/ctcam-$ver-linux-$(uname -m).tar.gz)"
fi
