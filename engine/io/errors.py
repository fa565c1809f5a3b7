"""Every user-facing failure (and warning) of reading or writing a CT volume.

One class per failure, all subclasses of :class:`engine.errors.CTCamError` through
:class:`VolumeReadError`.  Each message is a single line that names the file (or folder),
says what is wrong and what to do, so the viewer and ``ctcam info`` can show ``str(exc)``
as is.  The offending path is also kept in ``exc.path``.

Warnings (the volume still opens) are subclasses of :class:`CTCamWarning`; readers emit them
with :func:`warnings.warn` *and* record their text in ``CTVolume.meta["warnings"]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from engine.errors import CTCamError


class VolumeReadError(CTCamError):
    """Base of every failure to read a CT volume from a file or folder."""

    def __init__(self, message: str, path: str | Path | None = None) -> None:
        super().__init__(" ".join(message.split()))  # always one line
        self.path = Path(path) if path is not None else None


class PathNotFoundError(VolumeReadError):
    """The path given does not exist."""


class UnknownFileError(VolumeReadError):
    """The file is neither NIfTI nor DICOM (or a folder holds no DICOM image at all)."""


class NiftiPairError(UnknownFileError):
    """A NIfTI/Analyze .hdr/.img pair: ctcam reads single-file NIfTI only."""


class UnreadablePathError(VolumeReadError):
    """The file or folder exists but cannot be read (permissions)."""


class CorruptFileError(VolumeReadError):
    """The file claims to be NIfTI/DICOM but its header or data cannot be decoded."""


class TruncatedFileError(CorruptFileError):
    """The file ends before all the image data its header announces."""


class NotAVolumeError(VolumeReadError):
    """A 2D image or a single slice: nothing 3D to show or classify."""


class FourDimensionalError(VolumeReadError):
    """A 4D image or series (several volumes: time points, phases, echoes)."""


class UnsupportedPixelTypeError(VolumeReadError):
    """Colour, complex or otherwise non-scalar pixels: not a CT image."""


class NonFiniteValuesError(VolumeReadError):
    """The image holds NaN or infinite values (or a non-finite rescale)."""


class ImplausibleHeaderError(VolumeReadError):
    """Base of header values that cannot belong to a CT scan (checked before allocating)."""


class ImplausibleDimensionsError(ImplausibleHeaderError):
    """Array dimensions too large (or zero/negative) for a CT scan."""


class ImplausibleSpacingError(ImplausibleHeaderError):
    """Voxel spacing zero, negative, non-finite, absurdly small or large, or a singular affine."""


class MissingGeometryError(VolumeReadError):
    """DICOM images without ImagePositionPatient / ImageOrientationPatient / PixelSpacing."""


class MixedSeriesError(VolumeReadError):
    """One series mixes images of different size, orientation, spacing or position sets."""


class IncompleteSeriesError(VolumeReadError):
    """Slices are missing from a series (a gap wider than 1.5x the usual spacing)."""


class UnevenSpacingError(VolumeReadError):
    """Slice spacing varies by more than the tolerance we resample silently (10%)."""


class MissingPixelDataError(VolumeReadError):
    """A DICOM image without pixel data (e.g. a structured report or a header-only file)."""


class GantryTiltError(VolumeReadError):
    """Slices acquired with a tilted gantry (positions not along the slice normal)."""


class MissingDecoderError(VolumeReadError):
    """Compressed DICOM pixel data and no installed plugin can decode it."""

    def __init__(self, message: str, path: str | Path | None = None, packages: Sequence[str] = ()):
        super().__init__(message, path)
        self.packages = tuple(packages)


class MultipleSeriesError(VolumeReadError):
    """A folder holds several series and none was chosen (CLI ``--series``, API ``series=``)."""

    def __init__(self, message: str, path: str | Path | None = None, series: Sequence[Any] = ()):
        super().__init__(message, path)
        self.series = list(series)


class SeriesNotFoundError(VolumeReadError):
    """The series asked for is not in the folder."""

    def __init__(self, message: str, path: str | Path | None = None, series: Sequence[Any] = ()):
        super().__init__(message, path)
        self.series = list(series)


class VolumeWriteError(CTCamError):
    """An array or volume cannot be written in the format asked for."""


# -- warnings: the volume still opens --------------------------------------------------------
class CTCamWarning(UserWarning):
    """Base of warnings about a volume that still opens; the text is also in meta["warnings"]."""


class NonCTModalityWarning(CTCamWarning):
    """The DICOM Modality is not CT (e.g. MR, PT): HU windows and the model may not apply."""


class SpacingResampledWarning(CTCamWarning):
    """Slightly uneven slice spacing (<= 10%) was resampled to the median spacing."""


class MissingOrientationWarning(CTCamWarning):
    """A NIfTI file without sform or qform: orientation guessed from pixdim (Analyze style)."""


class HeaderRepairedWarning(CTCamWarning):
    """Invalid NIfTI header fields (e.g. an unknown sform code) were reset by nibabel."""


class ValuesClippedWarning(CTCamWarning):
    """HU values outside the int16 range were clipped."""


class NonImageSkippedWarning(CTCamWarning):
    """DICOM objects that are not images (SR, RT structure set/dose/plan, presentation
    states ...) lay beside the series and were skipped."""
