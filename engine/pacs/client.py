"""A DICOMweb PACS: search studies (QIDO-RS), list their series, retrieve one (WADO-RS).

Built on dicomweb-client (``dicomweb_client.api.DICOMwebClient``); this module turns its
answers into small records and its failures into :class:`PacsError` messages a user can act
on (server down, wrong credentials, a study or series that is not there, a series that is
not CT).  Credentials: ``user`` and ``password`` (HTTP basic); the CLI reads the password
from ``$CTCAM_PACS_PASSWORD``, never from the command line.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.pacs.cache import SeriesCache
from engine.pacs.errors import PacsError, check_uid
from engine.results import Progress

MAX_RESULTS = 500  # studies or series listed per search (a loop bound from the server)
MAX_INSTANCES = 5000  # instances retrieved for one series


@dataclass(frozen=True)
class StudySummary:
    uid: str
    patient_name: str
    patient_id: str
    date: str  # YYYYMMDD or ""
    description: str
    modalities: tuple[str, ...]
    n_series: int | None


@dataclass(frozen=True)
class SeriesSummary:
    study_uid: str
    uid: str
    modality: str
    description: str
    number: int | None
    n_instances: int | None


def _value(item: dict, tag: str, default: Any = "") -> Any:
    values = (item.get(tag) or {}).get("Value") or []
    if not values:
        return default
    v = values[0]
    if isinstance(v, dict):  # person name
        return str(v.get("Alphabetic", default))
    return v


def _int(item: dict, tag: str) -> int | None:
    v = _value(item, tag, None)
    try:
        return None if v is None else int(v)
    except (TypeError, ValueError):
        return None


class PacsClient:
    """One DICOMweb server (``url``: its DICOMweb root, e.g. http://host:8042/dicom-web)."""

    def __init__(self, url: str, user: str | None = None, password: str | None = None,
                 timeout_s: float = 30.0) -> None:
        from dicomweb_client.api import DICOMwebClient

        if not url.startswith(("http://", "https://")):
            raise PacsError(f"PACS address {url!r} must start with http:// or https:// (the "
                            "server's DICOMweb root, e.g. http://localhost:8042/dicom-web).")
        self.url = url.rstrip("/")
        session = None
        if user:
            from dicomweb_client.session_utils import create_session_from_user_pass

            session = create_session_from_user_pass(user, password or "")
        self._client = DICOMwebClient(url=self.url, session=session, timeout=timeout_s)
        # dicomweb-client's retry wrapper also retries every exception (a refused connection:
        # 5 attempts, 30 s of back-off); one quick retry is enough for a busy server's 503
        self._client.set_http_retry_params(retry=True, max_attempts=2, wait_exponential_multiplier=250)
        self.timeout_s = timeout_s

    # -- errors --------------------------------------------------------------------------
    def _call(self, what: str, fn: Callable[[], Any]) -> Any:
        import requests

        try:
            return fn()
        except requests.exceptions.HTTPError as exc:
            code = exc.response.status_code if exc.response is not None else None
            if code in (401, 403):
                raise PacsError(f"PACS {self.url} refused {what} (HTTP {code}): check the user "
                                "name and password ($CTCAM_PACS_PASSWORD) and that this user "
                                "may read the study.") from None
            if code == 404:
                raise PacsError(f"PACS {self.url}: {what} found nothing (HTTP 404); check the "
                                "UID, or search the PACS again.") from None
            raise PacsError(f"PACS {self.url}: {what} failed (HTTP {code}).") from None
        except requests.exceptions.ConnectionError:
            raise PacsError(f"PACS {self.url} cannot be reached (connection refused or no "
                            "route): check the address and that the server is running.") from None
        except requests.exceptions.Timeout:
            raise PacsError(f"PACS {self.url} did not answer {what} in time.") from None
        except requests.exceptions.RequestException as exc:
            raise PacsError(f"PACS {self.url}: {what} failed ({type(exc).__name__}).") from None

    # -- QIDO-RS -------------------------------------------------------------------------
    def search_studies(self, *, patient_name: str = "", patient_id: str = "",
                       date_from: str = "", date_to: str = "", modality: str = "",
                       limit: int = MAX_RESULTS) -> list[StudySummary]:
        """Studies matching the filters (empty: any).  Dates YYYYMMDD.  ``patient_name`` may
        hold wildcards * and ? (case-insensitive): such a name is matched here, not by the
        server, because the query string percent-encodes ``*`` and some servers (Orthanc
        1.12) then match it literally."""
        filters: dict[str, str] = {}
        wildcard = any(c in patient_name for c in "*?")
        if patient_name and not wildcard:
            filters["PatientName"] = patient_name
        if patient_id:
            filters["PatientID"] = patient_id
        if date_from or date_to:
            filters["StudyDate"] = f"{date_from}-{date_to}"
        if modality:
            filters["ModalitiesInStudy"] = modality
        limit = max(1, min(int(limit), MAX_RESULTS))
        items = self._call("the study search", lambda: self._client.search_for_studies(
            search_filters=filters, limit=limit,
            fields=["StudyDescription", "NumberOfStudyRelatedSeries", "ModalitiesInStudy"]))
        out = []
        for item in items[:limit]:
            try:
                uid = check_uid(_value(item, "0020000D"), "StudyInstanceUID")
            except PacsError:
                continue  # a malformed record from the server is skipped, not used
            mods = (item.get("00080061") or {}).get("Value") or []
            if wildcard and not fnmatch.fnmatchcase(str(_value(item, "00100010")).lower(),
                                                    patient_name.lower()):
                continue
            out.append(StudySummary(uid, str(_value(item, "00100010")), str(_value(item, "00100020")),
                                    str(_value(item, "00080020")), str(_value(item, "00081030")),
                                    tuple(str(m) for m in mods[:16]), _int(item, "00201206")))
        return out

    def list_series(self, study: str) -> list[SeriesSummary]:
        study = check_uid(study, "StudyInstanceUID")
        items = self._call(f"the series list of study {study}", lambda: self._client.search_for_series(
            study, fields=["SeriesDescription", "NumberOfSeriesRelatedInstances", "SeriesNumber"],
            limit=MAX_RESULTS))
        out = []
        for item in items[:MAX_RESULTS]:
            try:
                uid = check_uid(_value(item, "0020000E"), "SeriesInstanceUID")
            except PacsError:
                continue
            out.append(SeriesSummary(study, uid, str(_value(item, "00080060")),
                                     str(_value(item, "0008103E")), _int(item, "00200011"),
                                     _int(item, "00201209")))
        return out

    def choose_series(self, study: str, series: str | None = None) -> SeriesSummary:
        """The named series of the study, or its only CT series; a clear error otherwise."""
        listed = self.list_series(study)
        if series is not None:
            series = check_uid(series, "SeriesInstanceUID")
            match = [s for s in listed if s.uid == series]
            if not match:
                raise PacsError(f"PACS {self.url}: study {study} has no series {series}; "
                                f"its series: {_names(listed)}.")
            chosen = match[0]
        else:
            ct = [s for s in listed if s.modality == "CT"]
            if not ct:
                raise PacsError(f"PACS {self.url}: study {study} has no CT series "
                                f"({_names(listed) or 'no series'}); ctcam reads chest CT only.")
            if len(ct) > 1:
                raise PacsError(f"PACS {self.url}: study {study} has {len(ct)} CT series; choose "
                                f"one with --series: {_names(ct)}.")
            chosen = ct[0]
        if chosen.modality != "CT":
            kind = chosen.modality or "of no stated modality"
            raise PacsError(f"PACS {self.url}: series {chosen.uid} is {kind}, not CT; ctcam "
                            "reads chest CT only.")
        return chosen

    # -- WADO-RS -------------------------------------------------------------------------
    def retrieve(self, series: SeriesSummary, cache: SeriesCache,
                 progress: Callable[[Progress], None] | None = None,
                 cancel: Callable[[], bool] | None = None) -> Path:
        """The series' folder in ``cache`` (retrieved now unless it is already complete)."""
        from engine.io.progress import drive

        report = None if progress is None else (lambda f, m: progress(Progress("retrieve", f, m)))
        return drive(self.iter_retrieve(series, cache), report, cancel)

    def iter_retrieve(self, series: SeriesSummary, cache: SeriesCache) -> Generator[Progress, None, Path]:
        """:meth:`retrieve` as a generator (yields Progress per image, returns the folder; the
        viewer runs it in a worker and cancels by closing it)."""
        folder = cache.folder(series.study_uid, series.uid)
        if cache.has(series.study_uid, series.uid):
            cache.touch(series.study_uid, series.uid)
            return folder
        if folder.exists():  # an interrupted retrieve: start again from nothing
            import shutil

            shutil.rmtree(folder)
        folder.mkdir(parents=True, exist_ok=True)
        total = series.n_instances
        n = 0
        for ds in self._instances(series):
            n += 1
            if n > MAX_INSTANCES:
                raise PacsError(f"PACS {self.url}: series {series.uid} has more than "
                                f"{MAX_INSTANCES} instances; not a CT series ctcam reads.")
            _save_instance(ds, folder / f"{n:05d}.dcm")
            yield Progress("retrieve", min(n / total, 1.0) if total else 0.0,
                           f"retrieving image {n}" + (f" of {total}" if total else ""))
        if n == 0:
            raise PacsError(f"PACS {self.url}: series {series.uid} returned no images.")
        cache.mark_complete(series.study_uid, series.uid, n)
        cache.evict(keep=folder)
        return folder

    def _instances(self, series: SeriesSummary) -> Iterator[Any]:
        it = self._call(f"retrieving series {series.uid}",
                        lambda: self._client.iter_series(series.study_uid, series.uid))
        while True:
            ds = self._call(f"retrieving series {series.uid}", lambda: next(it, None))
            if ds is None:
                return
            yield ds

    def store(self, datasets: list[Any]) -> None:
        """STOW-RS: send DICOM objects (pydicom Datasets) to the server."""
        self._call("storing objects", lambda: self._client.store_instances(datasets))


def _names(series: list[SeriesSummary]) -> str:
    return "; ".join(f"{s.uid} ({s.modality or '?'}, {s.description or 'no description'}, "
                     f"{s.n_instances if s.n_instances is not None else '?'} images)"
                     for s in series[:8]) + ("; ..." if len(series) > 8 else "")


def _save_instance(ds: Any, path: Path) -> None:
    import pydicom

    tmp = path.with_suffix(".part")
    pydicom.dcmwrite(tmp, ds, enforce_file_format=True)
    tmp.replace(path)
