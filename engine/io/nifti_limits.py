"""How much image data a NIfTI file may make ctcam decompress and allocate.

The header announces ``vox_offset + prod(dim) x bytes per voxel``; every check here runs on
that number *before* any voxel is read (limits documented in docs/reliability.md):

* at most :data:`MAX_IMAGE_BYTES` (2 GiB, a 1024^3 int16 volume) of image data per file;
* an uncompressed file must hold what it announces;
* a ``.nii.gz`` cannot expand by more than deflate's :data:`MAX_GZIP_RATIO`; and a *scan*
  announcing more than :data:`LARGE_BYTES` may expand at most :data:`MAX_SCAN_GZIP_RATIO`
  times (CT noise compresses about 2-4:1; a few MB of zeros claiming gigabytes is a
  compression bomb); a large label map (organ map) at most :data:`MAX_LABELMAP_GZIP_RATIO`
  times (ctcam's own organ maps compress 60-230:1; zeros compress 1000:1).

Then :class:`CappedStream` wraps the decompressing stream so that no read goes past the
announced size: a file can never make ctcam decompress more than its header promised.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from engine.io.errors import ImplausibleDimensionsError, NiftiPairError, TruncatedFileError

#: deflate cannot compress better than about 1032:1.
MAX_GZIP_RATIO = 1032
#: Most bytes of image data read from one NIfTI file.
MAX_IMAGE_BYTES = 2 << 30
#: Above this many announced bytes a compressed scan must look like CT data.
LARGE_BYTES = 256 << 20
#: Largest expansion accepted for a large compressed scan, and for a large label map.
MAX_SCAN_GZIP_RATIO = 50
MAX_LABELMAP_GZIP_RATIO = 500


def announced_bytes(img) -> int:
    """Bytes the header says the file holds up to the end of the image data (the data
    offset nibabel will actually use, plus shape x bytes per voxel)."""
    hdr = img.header
    shape = tuple(int(d) for d in hdr.get_data_shape())
    offset = getattr(img.dataobj, "offset", None)
    offset = int(hdr.get_data_offset() if offset is None else offset)
    return offset + math.prod(shape) * np.dtype(hdr.get_data_dtype()).itemsize


def check_data_size(img, path: Path, *, gz: bool, scan: bool = True) -> int:
    """Refuse a header that announces more than the limits allow; returns the announced bytes."""
    hdr = img.header
    needed = announced_bytes(img)
    shape = tuple(int(d) for d in hdr.get_data_shape())
    size = path.stat().st_size
    if needed > MAX_IMAGE_BYTES:
        raise ImplausibleDimensionsError(
            f"{path}: the header announces {needed:,} bytes of image data (shape {shape}), "
            f"above ctcam's limit of {MAX_IMAGE_BYTES >> 30} GiB per file. Crop or "
            "downsample the scan (or store it as int16) and open it again.",
            path,
        )
    if not gz:
        if size < needed:
            raise TruncatedFileError(
                f"{path}: the file is truncated: the header announces {needed:,} bytes of image "
                f"{shape} but the file has {size:,}. Copy or export the file again.",
                path,
            )
        return needed
    if needed > MAX_GZIP_RATIO * size + (1 << 16):
        raise TruncatedFileError(
            f"{path}: the header announces {needed:,} bytes of image {shape} but a "
            f"compressed file of {size:,} bytes cannot hold that much. The file is "
            "truncated or damaged; copy or export it again.",
            path,
        )
    ratio = MAX_SCAN_GZIP_RATIO if scan else MAX_LABELMAP_GZIP_RATIO
    if needed > LARGE_BYTES and needed > ratio * size:
        raise ImplausibleDimensionsError(
            f"{path}: {size:,} compressed bytes announce {needed:,} bytes of image {shape}, a "
            f"{needed / max(1, size):,.0f}:1 expansion; {'CT data' if scan else 'a label map'} "
            f"compresses at most about {ratio}:1, so this looks like a compression bomb. If "
            "the file is genuine, decompress it (gunzip) and use the .nii file.",
            path,
        )
    return needed


class CappedStream:
    """A read-only file object that never returns (or seeks to) bytes past ``limit``.

    ``limit`` is None until the header has been checked; from then on the underlying
    (decompressing) stream is never asked for more than the header announced.
    """

    def __init__(self, fobj, path: Path) -> None:
        self._f = fobj
        self._path = path
        self.limit: int | None = None

    def _left(self) -> int | None:
        return None if self.limit is None else max(0, self.limit - self._f.tell())

    def read(self, n: int | None = -1) -> bytes:
        left = self._left()
        if left is None:
            return self._f.read(n)
        if n is None or n < 0 or n > left:
            n = left
        return self._f.read(n)

    def readinto(self, buf) -> int:
        data = self.read(len(memoryview(buf).cast("B")))
        memoryview(buf).cast("B")[: len(data)] = data
        return len(data)

    def seek(self, offset: int, whence: int = 0) -> int:
        pos = self._f.seek(offset, whence)
        if self.limit is not None and pos > self.limit:
            raise TruncatedFileError(
                f"{self._path}: reading would go past the {self.limit:,} bytes the header "
                "announces; the file is damaged. Copy or export it again.",
                self._path,
            )
        return pos

    def tell(self) -> int:
        return self._f.tell()

    def __getattr__(self, name: str):
        return getattr(self._f, name)


def load_bounded(path: Path, *, scan: bool = False):
    """``nib.load`` for files read outside the scan reader (organ label maps): the header's
    announced data size is checked (:func:`check_data_size`) before nibabel reads any voxel."""
    import nibabel as nib

    from engine.io.limits import check_regular_file

    check_regular_file(path)
    img = nib.load(str(path))
    with open(path, "rb") as f:
        gz = f.read(2) == b"\x1f\x8b"
    check_data_size(img, Path(path), gz=gz, scan=scan)
    return img


def check_single_file(head: bytes, path: Path) -> None:
    """Refuse a .hdr/.img pair (``ni1`` magic or the names) with what to do instead of
    reading the header's file as if the voxels followed it ("truncated")."""
    if head[344:348] == b"ni1\x00" or path.suffix.lower() in (".hdr", ".img"):
        raise NiftiPairError(
            f"{path}: a NIfTI/Analyze header + image pair (.hdr/.img); ctcam reads single-file "
            "NIfTI. Convert it, e.g. python -c \"import nibabel as n; n.save(n.load("
            f"'{path.with_suffix('.hdr').name}'), 'scan.nii.gz')\", and open the .nii.gz.",
            path,
        )
