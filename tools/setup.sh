#!/usr/bin/env bash
# Create .venv and install ctcam with its test tools. Works on a fresh Debian machine.
set -euo pipefail
cd "$(dirname "$0")/.."
# System libraries Qt and VTK need when the machine lacks them (headless EGL/offscreen),
# Xvfb for the tests that embed the VTK widget in a real X server, and the DICOM validators
# the writer's tests run (dciodvfy from dicom3tools, dcm2niix) and a real PACS for the DICOMweb
# tests (Orthanc with its DICOMweb plugin); those tests skip without them.
# Without apt (or not as root) nothing is installed here.
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  need=""
  for p in libegl1 libgl1 libxkbcommon0 libfontconfig1 libdbus-1-3 libglib2.0-0 libxrender1 libxcb-cursor0 xvfb libxcb-icccm4 libxcb-keysyms1 desktop-file-utils dicom3tools dcm2niix orthanc orthanc-dicomweb; do
    dpkg -s "$p" >/dev/null 2>&1 || need="$need $p"
  done
  if [ -n "$need" ]; then
    { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need >/dev/null; } ||
      echo "warning: could not install:$need (offline?); tests that need them skip or fail" >&2
  fi
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
. .venv/bin/activate
extra=()
[ -d /opt/wheels ] && extra+=(--find-links /opt/wheels)
pip install -q --disable-pip-version-check "${extra[@]}" -c constraints.txt -e ".[test]"
