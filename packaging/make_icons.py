"""Draw the ctcam app icon: ``python packaging/make_icons.py [OUT_DIR]``.

A stylised axial chest CT slice (body outline, two dark lungs, heart, spine) in radiological
convention (the patient's left lung on the screen's right) with a warm heat blob over the
right lung, on a rounded dark tile.  Drawn once at 1024 px with Pillow and downsampled
(Lanczos) to each PNG size, so edges are antialiased; the SVG is the same drawing in
vector form.  Writes ``ctcam-<N>.png`` for N in :data:`SIZES` and ``ctcam.svg`` into
``resources/icons/`` by default.  Deterministic: same Pillow, same bytes.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image, ImageChops, ImageDraw, ImageFilter

ROOT = Path(__file__).resolve().parent.parent
SIZES = (256, 128, 64, 48)
BIG = 1024

# Geometry in a 0..100 box (shared by the PNG and the SVG drawing).
TILE = (4, 4, 96, 96, 18)  # x0, y0, x1, y1, corner radius
BODY = (12, 22, 88, 80)  # ellipse bbox
LUNG_R = (19, 30, 47, 72)  # patient's right lung: screen left
LUNG_L = (53, 30, 81, 72)
HEART = (45, 36, 67, 60)
SPINE = (44, 66, 56, 77)
BLOB = (31, 44, 12)  # centre x, y, radius (over the patient's right lung)

COLOURS = {
    "tile": (28, 34, 46), "body": (150, 150, 146), "lung": (34, 38, 44),
    "heart": (176, 172, 166), "spine": (236, 234, 226),
}


def _scale(box, s):
    return tuple(v * s for v in box)


def draw(size: int = BIG) -> Image.Image:
    """The icon as an RGBA image of ``size`` x ``size`` pixels."""
    s = size / 100.0
    img = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    x0, y0, x1, y1, r = TILE
    d.rounded_rectangle(_scale((x0, y0, x1, y1), s), radius=r * s, fill=COLOURS["tile"] + (255,))
    d.ellipse(_scale(BODY, s), fill=COLOURS["body"] + (255,))
    d.ellipse(_scale(LUNG_R, s), fill=COLOURS["lung"] + (255,))
    d.ellipse(_scale(LUNG_L, s), fill=COLOURS["lung"] + (255,))
    d.ellipse(_scale(HEART, s), fill=COLOURS["heart"] + (255,))
    d.ellipse(_scale(SPINE, s), fill=COLOURS["spine"] + (255,))

    # Heat blob: red -> orange -> yellow rings, blurred, clipped to the body.
    heat = Image.new("RGBA", (size, size), (220, 40, 30, 0))  # red, not black, at the blurred rim
    h = ImageDraw.Draw(heat)
    cx, cy, rad = BLOB
    for frac, colour in ((1.0, (220, 40, 30, 210)), (0.68, (250, 130, 20, 235)), (0.36, (255, 230, 90, 255))):
        rr = rad * frac
        h.ellipse(_scale((cx - rr, cy - rr, cx + rr, cy + rr), s), fill=colour)
    heat = heat.filter(ImageFilter.GaussianBlur(radius=2.2 * s))
    clip = Image.new("L", (size, size), 0)
    ImageDraw.Draw(clip).ellipse(_scale(BODY, s), fill=255)
    heat.putalpha(ImageChops.multiply(heat.getchannel("A"), clip))
    return Image.alpha_composite(img, heat)


def svg() -> str:
    """The same drawing as an SVG document (viewBox 0 0 100 100)."""
    x0, y0, x1, y1, r = TILE
    cx, cy, rad = BLOB

    def rgb(c):
        return "#" + "".join(f"{v:02x}" for v in c)

    def ell(box, colour, extra=""):
        a, b, c, e = box
        return (f'<ellipse cx="{(a + c) / 2:g}" cy="{(b + e) / 2:g}" rx="{(c - a) / 2:g}" '
                f'ry="{(e - b) / 2:g}" fill="{colour}"{extra}/>')

    return "\n".join([
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<svg xmlns="http://www.w3.org/2000/svg" width="256" height="256" viewBox="0 0 100 100">',
        "  <title>ctcam</title>",
        "  <defs>",
        '    <radialGradient id="heat">',
        '      <stop offset="0" stop-color="#ffe65a" stop-opacity="1"/>',
        '      <stop offset="0.45" stop-color="#fa8214" stop-opacity="0.92"/>',
        '      <stop offset="0.8" stop-color="#dc281e" stop-opacity="0.8"/>',
        '      <stop offset="1" stop-color="#dc281e" stop-opacity="0"/>',
        "    </radialGradient>",
        f'    <clipPath id="body">{ell(BODY, "#000")}</clipPath>',
        "  </defs>",
        f'  <rect x="{x0}" y="{y0}" width="{x1 - x0}" height="{y1 - y0}" rx="{r}" fill="{rgb(COLOURS["tile"])}"/>',
        "  " + ell(BODY, rgb(COLOURS["body"])),
        "  " + ell(LUNG_R, rgb(COLOURS["lung"])),
        "  " + ell(LUNG_L, rgb(COLOURS["lung"])),
        "  " + ell(HEART, rgb(COLOURS["heart"])),
        "  " + ell(SPINE, rgb(COLOURS["spine"])),
        f'  <circle cx="{cx}" cy="{cy}" r="{rad * 1.25:g}" fill="url(#heat)" clip-path="url(#body)"/>',
        "</svg>",
        "",
    ])


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    out = Path(argv[0]) if argv else ROOT / "resources" / "icons"
    out.mkdir(parents=True, exist_ok=True)
    big = draw(BIG)
    for n in SIZES:
        big.resize((n, n), Image.Resampling.LANCZOS).save(out / f"ctcam-{n}.png", optimize=True)
    (out / "ctcam.svg").write_text(svg(), encoding="utf-8")
    print(f"icons -> {out}: " + ", ".join(f"ctcam-{n}.png" for n in SIZES) + ", ctcam.svg")
    return 0


if __name__ == "__main__":
    sys.exit(main())
