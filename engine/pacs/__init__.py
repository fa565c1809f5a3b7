"""Scans from a PACS over DICOMweb (QIDO-RS search, WADO-RS retrieve) into a local cache.

``PacsClient`` (engine/pacs/client.py) talks to the server through dicomweb-client;
``SeriesCache`` (engine/pacs/cache.py) keeps retrieved series on disk, size-bounded, so the
normal DICOM reader opens them.  Every failure is a :class:`PacsError` with a message that
says which server, what went wrong and what to do.
"""

from engine.pacs.cache import SeriesCache, default_cache_dir
from engine.pacs.client import PacsClient, SeriesSummary, StudySummary
from engine.pacs.errors import PacsError, check_uid

__all__ = ["PacsClient", "PacsError", "SeriesCache", "SeriesSummary", "StudySummary",
           "check_uid", "default_cache_dir"]
