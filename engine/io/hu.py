"""Conversion of stored voxel values to int16 Hounsfield units.

``HU = stored * slope + intercept`` (DICOM RescaleSlope/Intercept, NIfTI scl_slope/inter),
then rounded to the nearest integer and clipped to int16 [-32768, 32767].  NaN or infinite
values are refused; clipping is counted and reported once as a warning.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.io.errors import NonFiniteValuesError, ValuesClippedWarning

_I16 = np.iinfo(np.int16)
#: integer rescale is exact in int64 for 32-bit stored values below this (docs/reliability.md, "Fuzzing")
_EXACT_LIMIT = 2**24


class HUConverter:
    """Callable converting blocks of stored values to int16 HU for one source file/series."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.clipped = 0

    def __call__(
        self,
        stored: np.ndarray,
        slope: float = 1.0,
        intercept: float = 0.0,
        where: str | Path | None = None,
    ) -> np.ndarray:
        where = where or self.path
        if not (np.isfinite(slope) and np.isfinite(intercept)):
            raise NonFiniteValuesError(
                f"{where}: the rescale slope/intercept ({slope}, {intercept}) is not finite, so "
                "no HU value can be computed. The file is damaged; re-export the scan.",
                where,
            )
        stored = np.asarray(stored)
        if (
            stored.dtype.kind in "iub"
            and float(slope).is_integer()
            and float(intercept).is_integer()
            and abs(slope) < _EXACT_LIMIT  # huge integral floats (1e308) overflow int64
            and abs(intercept) < _EXACT_LIMIT
        ):
            values = stored.astype(np.int64) * int(slope) + int(intercept)
        else:
            values = stored.astype(np.float64) * slope + intercept
            if not np.all(np.isfinite(values)):
                n_bad = int(np.count_nonzero(~np.isfinite(values)))
                raise NonFiniteValuesError(
                    f"{where}: {n_bad:,} voxels are NaN or infinite, which a CT scan cannot "
                    "hold. Fix or re-export the image (e.g. replace NaN by -1024 HU).",
                    where,
                )
            values = np.rint(values)
        low, high = values < _I16.min, values > _I16.max
        n_clip = int(np.count_nonzero(low) + np.count_nonzero(high))
        if n_clip:
            self.clipped += n_clip
            values = np.clip(values, _I16.min, _I16.max)
        return values.astype(np.int16)

    def warnings(self) -> list[tuple[str, type]]:
        if not self.clipped:
            return []
        return [
            (
                f"{self.path}: {self.clipped:,} voxels lay outside the int16 HU range and were "
                "clipped to [-32768, 32767]; check the rescale slope/intercept.",
                ValuesClippedWarning,
            )
        ]
