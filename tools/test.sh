#!/usr/bin/env bash
# The README's test command: install (venv + pinned CPU torch) and run the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
. .venv/bin/activate
export QT_QPA_PLATFORM=offscreen VTK_DEFAULT_OPENGL_WINDOW=vtkEGLRenderWindow
ruff check engine viewer tests benchmarks tools
lint-imports --no-cache  # the layering contracts in pyproject.toml (docs/architecture.md)
python -m pytest -q "$@"
