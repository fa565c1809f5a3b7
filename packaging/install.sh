#!/usr/bin/env bash
# Install the built bundle for the current user (no root):
#   bash packaging/install.sh [BUNDLE_DIR]        # default dist/ctcam
#   PREFIX=/opt/ctcam-root bash packaging/install.sh   # elsewhere (default ~/.local)
# Works from the repository (packaging/install.sh) and from inside a bundle (dist/ctcam/install.sh,
# copied there by build.sh with share/ctcam.desktop and share/ctcam-mime.xml).
# Copies the bundle to $PREFIX/lib/ctcam, links $PREFIX/bin/ctcam, installs the .desktop
# entry, the icons (hicolor theme) and the NIfTI MIME type.  Uninstall: bash packaging/install.sh --uninstall
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
PREFIX=${PREFIX:-$HOME/.local}
APPS="$PREFIX/share/applications"
ICONS="$PREFIX/share/icons/hicolor"
MIME="$PREFIX/share/mime"

if [ "${1:-}" = "--uninstall" ]; then
  rm -rf "$PREFIX/lib/ctcam" "$PREFIX/bin/ctcam" "$APPS/ctcam.desktop" "$MIME/packages/ctcam-mime.xml"
  rm -f "$ICONS"/*/apps/ctcam.png "$ICONS/scalable/apps/ctcam.svg"
  command -v update-mime-database >/dev/null && update-mime-database "$MIME" || true
  echo "ctcam removed from $PREFIX"
  exit 0
fi

if [ -x "$here/ctcam" ]; then  # inside a bundle
  BUNDLE=$here SHARE="$here/share"
else
  BUNDLE=${1:-$here/../dist/ctcam} SHARE="$here"
fi
ICONSRC="$BUNDLE/_internal/resources/icons"
[ -x "$BUNDLE/ctcam" ] || { echo "no bundle at $BUNDLE: run bash packaging/build.sh first" >&2; exit 1; }
mkdir -p "$PREFIX/lib" "$PREFIX/bin" "$APPS" "$MIME/packages"
rm -rf "$PREFIX/lib/ctcam"
mkdir -p "$PREFIX/lib/ctcam"
cp -a "$BUNDLE/." "$PREFIX/lib/ctcam/"
ln -sfn "$PREFIX/lib/ctcam/ctcam" "$PREFIX/bin/ctcam"
for n in 256 128 64 48; do
  install -D -m 644 "$ICONSRC/ctcam-$n.png" "$ICONS/${n}x${n}/apps/ctcam.png"
done
install -D -m 644 "$ICONSRC/ctcam.svg" "$ICONS/scalable/apps/ctcam.svg"
# Exec with the absolute path, so the menu entry works even when $PREFIX/bin is not on PATH.
sed "s|^Exec=ctcam |Exec=$PREFIX/bin/ctcam |; s|^TryExec=ctcam\$|TryExec=$PREFIX/bin/ctcam|" \
  "$SHARE/ctcam.desktop" >"$APPS/ctcam.desktop"
install -m 644 "$SHARE/ctcam-mime.xml" "$MIME/packages/ctcam-mime.xml"
command -v update-mime-database >/dev/null && update-mime-database "$MIME" || true
command -v update-desktop-database >/dev/null && update-desktop-database "$APPS" || true
command -v gtk-update-icon-cache >/dev/null && gtk-update-icon-cache -q -t "$ICONS" || true
echo "installed: $PREFIX/bin/ctcam, $APPS/ctcam.desktop, icons in $ICONS"
case ":$PATH:" in *":$PREFIX/bin:"*) ;; *) echo "note: add $PREFIX/bin to PATH to run ctcam from a terminal";; esac
