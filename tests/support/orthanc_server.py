"""A real Orthanc PACS with its DICOMweb plugin for the tests (Debian packages ``orthanc`` and
``orthanc-dicomweb``, installed by tools/setup.sh): started on a free localhost port with a
temporary storage folder and a generated configuration, stopped afterwards."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

ORTHANC = "/usr/sbin/Orthanc"
DICOMWEB_PLUGIN = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def require_orthanc() -> None:
    if not (Path(ORTHANC).exists() and Path(DICOMWEB_PLUGIN).exists()):
        pytest.skip("Orthanc with its DICOMweb plugin is not installed (Debian packages orthanc "
                    "and orthanc-dicomweb; `bash tools/setup.sh` as root installs them)")


@contextmanager
def orthanc(folder: Path, users: dict[str, str] | None = None, timeout_s: float = 30.0):
    """Yields the DICOMweb root URL of a running Orthanc; ``users``: basic-auth accounts."""
    require_orthanc()
    port = free_port()
    storage = folder / "storage"
    storage.mkdir(parents=True, exist_ok=True)
    cfg = {"Name": "ctcam-test", "HttpPort": port, "DicomServerEnabled": False,
           "StorageDirectory": str(storage), "IndexDirectory": str(storage),
           "RemoteAccessAllowed": False, "AuthenticationEnabled": bool(users),
           "RegisteredUsers": users or {}, "Plugins": [DICOMWEB_PLUGIN],
           "DicomWeb": {"Enable": True, "Root": "/dicom-web/"}}
    (folder / "orthanc.json").write_text(json.dumps(cfg))
    log = (folder / "orthanc.log").open("w")
    proc = subprocess.Popen([ORTHANC, str(folder / "orthanc.json")], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                urllib.request.urlopen(url + "/dicom-web/studies", timeout=1)
                break
            except urllib.error.HTTPError:  # 401 from a server with users: it is up
                break
            except (urllib.error.URLError, ConnectionError, OSError):
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    raise RuntimeError("Orthanc did not start: "
                                       + (folder / "orthanc.log").read_text()[-2000:]) from None
                time.sleep(0.2)
        yield url + "/dicom-web"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        shutil.rmtree(storage, ignore_errors=True)
