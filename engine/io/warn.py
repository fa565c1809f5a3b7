"""Warnings that go both to :mod:`warnings` and into ``CTVolume.meta["warnings"]``."""

from __future__ import annotations

import warnings

from engine.volume import CTVolume


def warn_and_record(vol: CTVolume, text: str, category: type[Warning]) -> None:
    """Emit ``text`` as a ``category`` warning and append it to ``vol.meta["warnings"]``."""
    vol.meta.setdefault("warnings", []).append(text)
    warnings.warn(text, category, stacklevel=3)
