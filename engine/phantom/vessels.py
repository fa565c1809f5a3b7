"""Pulmonary vessel and airway trees.

A tree is grown from a hilar root toward N target points scattered inside the lung by
recursive bisection: a node covering a set S of targets splits S in two along its
principal axis; each child branch runs from the node toward its half's centroid (a
fraction ``f`` of the way, the full way for a single target).  Radii follow Murray's
law: a branch feeding n of N targets has radius ``r_root * (n / N) ** (1/3)``.  The result
is a space-filling tree of tapering tubes, cheap to build (2N - 1 nodes).
"""

from __future__ import annotations

import numpy as np

from .geometry import Capsules


def grow_tree(rng: np.random.Generator, root: np.ndarray, targets: np.ndarray, r_root: float) -> tuple[Capsules, np.ndarray]:
    """Tree from ``root`` to ``targets`` (N, 3).  Returns (segments, generation per segment)."""
    n_all = len(targets)
    a, b, ra, rb, gen = [], [], [], [], []
    if n_all == 0:
        return Capsules.empty(), np.zeros(0, int)
    fr = rng.uniform(0.35, 0.6, size=2 * n_all)
    counter = [0]

    def radius(n):
        return r_root * (n / n_all) ** (1.0 / 3.0)

    stack = [(np.asarray(root, float), np.arange(n_all), r_root, 0)]
    while stack:
        pos, idx, r_in, g = stack.pop()
        pts = targets[idx]
        if len(idx) == 1:
            continue
        c = pts.mean(0)
        dev = pts - c
        # split along the coordinate axis of largest spread (a k-d split)
        proj = dev[:, int(np.argmax(np.ptp(dev, axis=0)))]
        order = np.argsort(proj)
        half = len(idx) // 2
        for part in (idx[order[:half]], idx[order[half:]]):
            if len(part) == 1:
                end = targets[part[0]]
            else:
                f = fr[counter[0] % len(fr)]
                counter[0] += 1
                end = pos + f * (targets[part].mean(0) - pos)
            r = radius(len(part))
            a.append(pos)
            b.append(end)
            ra.append(min(r_in, r * 1.08))
            rb.append(r)
            gen.append(g + 1)
            stack.append((end, part, r, g + 1))
    return Capsules(np.array(a), np.array(b), np.array(ra), np.array(rb)), np.array(gen)


def airway_from_vessels(tree: Capsules, gen: np.ndarray, rng: np.random.Generator, min_r: float = 1.6) -> Capsules:
    """Bronchi running beside the arteries of the first generations (lumen radius ~0.85 r)."""
    keep = (tree.rb >= min_r) & (gen <= 6)
    t = tree.select(keep)
    if len(t) == 0:
        return t
    d = t.b - t.a
    d /= np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-9)
    side = np.cross(d, rng.normal(size=(1, 3)))
    side /= np.maximum(np.linalg.norm(side, axis=1, keepdims=True), 1e-9)
    off_a = (t.ra * 1.9 + 0.8)[:, None] * side
    off_b = (t.rb * 1.9 + 0.8)[:, None] * side
    return Capsules(t.a + off_a, t.b + off_b, t.ra * 0.85, t.rb * 0.85)
