"""A PACS in (docs/pacs.md) — search, list, retrieve over DICOMweb from a real Orthanc."""

from __future__ import annotations

import json

import numpy as np
import pydicom
import pytest
from orthanc_server import free_port, orthanc
from test_batch import make_tiny_model

from engine.cli import main as ctcam
from engine.errors import Cancelled
from engine.io import load
from engine.io.dicom import write_dicom_series
from engine.pacs import PacsClient, PacsError, SeriesCache, check_uid
from engine.volume import CTVolume


def _volume(seed: int) -> CTVolume:
    rng = np.random.default_rng(seed)
    hu = rng.integers(-1000, 1200, size=(24, 20, 8)).astype(np.int16)
    return CTVolume(hu, np.diag([0.9, 0.9, 2.5, 1.0]))


def _series(folder, vol, **kw):
    return [pydicom.dcmread(p) for p in write_dicom_series(folder, vol, **kw)]


@pytest.fixture(scope="module")
def pacs(tmp_path_factory):
    """An Orthanc holding study A (one CT series), study B (a CT and an MR series)."""
    root = tmp_path_factory.mktemp("orthanc")
    with orthanc(root) as url:
        client = PacsClient(url)
        a = _series(root / "a", _volume(0), uid_seed="study-a", patient_id="PAT-A",
                    patient_name="Alpha^Ann", series_description="chest a")
        b_ct = _series(root / "b_ct", _volume(1), uid_seed="study-b", patient_id="PAT-B",
                       patient_name="Beta^Bob", series_description="chest b")
        b_mr = _series(root / "b_mr", _volume(2), uid_seed="study-b-mr", patient_id="PAT-B",
                       patient_name="Beta^Bob", modality="MR", series_number=2,
                       series_description="mr b")
        for ds in b_mr:  # the same study, another series
            ds.StudyInstanceUID = b_ct[0].StudyInstanceUID
        client.store(a + b_ct + b_mr)
        yield url, {"a": a, "b_ct": b_ct, "b_mr": b_mr}


def test_search_list_retrieve_gives_the_volume_that_was_stored(pacs, tmp_path):
    url, stored = pacs
    client = PacsClient(url)
    studies = client.search_studies(patient_id="PAT-A")
    assert [s.uid for s in studies] == [stored["a"][0].StudyInstanceUID]
    assert studies[0].patient_name == "Alpha^Ann" and "CT" in studies[0].modalities
    assert {s.patient_id for s in client.search_studies(patient_name="Beta*")} == {"PAT-B"}
    series = client.list_series(studies[0].uid)
    assert len(series) == 1 and series[0].modality == "CT" and series[0].n_instances == 8
    assert series[0].description == "chest a"
    messages = []
    cache = SeriesCache(tmp_path / "cache")
    folder = client.retrieve(series[0], cache, progress=lambda p: messages.append(p.message))
    assert messages[-1] == "retrieving image 8 of 8" and cache.has(studies[0].uid, series[0].uid)
    vol = load(folder)
    assert np.array_equal(vol.hu, _volume(0).hu)
    np.testing.assert_allclose(vol.affine, _volume(0).affine, atol=1e-4)


def test_a_cached_series_is_reused_without_the_server(pacs, tmp_path, monkeypatch):
    url, _ = pacs
    client = PacsClient(url)
    study = client.search_studies(patient_id="PAT-A")[0]
    chosen = client.choose_series(study.uid)
    cache = SeriesCache(tmp_path / "cache")
    first = client.retrieve(chosen, cache)
    monkeypatch.setattr(client, "_instances", lambda s: pytest.fail("retrieved again"))
    assert client.retrieve(chosen, cache) == first


def test_cancel_leaves_no_complete_series_and_the_next_retrieve_starts_again(pacs, tmp_path):
    url, _ = pacs
    client = PacsClient(url)
    chosen = client.choose_series(client.search_studies(patient_id="PAT-A")[0].uid)
    cache = SeriesCache(tmp_path / "cache")
    seen = []
    with pytest.raises(Cancelled):
        client.retrieve(chosen, cache, progress=seen.append, cancel=lambda: len(seen) >= 3)
    assert not cache.has(chosen.study_uid, chosen.uid)
    folder = client.retrieve(chosen, cache)
    assert len(list(folder.glob("*.dcm"))) == 8


def test_a_study_with_an_mr_series_picks_its_ct_and_refuses_the_mr(pacs):
    url, stored = pacs
    client = PacsClient(url)
    study = stored["b_ct"][0].StudyInstanceUID
    assert client.choose_series(study).uid == stored["b_ct"][0].SeriesInstanceUID
    with pytest.raises(PacsError, match="is MR, not CT"):
        client.choose_series(study, stored["b_mr"][0].SeriesInstanceUID)
    with pytest.raises(PacsError, match="has no series 1.2.3"):
        client.choose_series(study, "1.2.3")


def test_explain_from_the_pacs(pacs, tmp_path, capsys):
    url, stored = pacs
    model = make_tiny_model(tmp_path / "model")
    out = tmp_path / "out"
    rc = ctcam(["explain", "--pacs", url, "--study", stored["a"][0].StudyInstanceUID, "--out",
                str(out), "--model", model, "--organs", "none", "--quiet",
                "--pacs-cache", str(tmp_path / "cache")])
    assert rc == 0, capsys.readouterr().err
    doc = json.loads((out / "findings.json").read_text())
    assert len(doc["labels"]) > 0 and "1.2." in doc["input"]


def test_usage_and_server_errors_are_one_clear_line(tmp_path, capsys):
    with pytest.raises(SystemExit):
        ctcam(["explain", "--pacs", "http://127.0.0.1:9/dicom-web", "--out", str(tmp_path)])
    assert "--pacs needs --study" in capsys.readouterr().err
    down = f"http://127.0.0.1:{free_port()}/dicom-web"
    rc = ctcam(["explain", "--pacs", down, "--study", "1.2.3", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "cannot be reached" in err[0] and down in err[0]
    with pytest.raises(PacsError, match="must start with http"):
        PacsClient("localhost:8042")


@pytest.mark.parametrize("bad", ["../../etc", "1.2.abc", "", "1." + "2" * 70, "1.02.3"])
def test_uids_are_checked_before_they_become_paths(bad, tmp_path):
    with pytest.raises(PacsError, match="not a DICOM UID"):
        check_uid(bad, "StudyInstanceUID")
    with pytest.raises(PacsError):
        SeriesCache(tmp_path).folder(bad, "1.2.3")


def test_wrong_password_is_refused_with_a_message(tmp_path):
    with orthanc(tmp_path / "auth", users={"alice": "secret"}) as url:
        with pytest.raises(PacsError, match="refused the study search \\(HTTP 401\\)"):
            PacsClient(url, user="alice", password="wrong").search_studies()
        assert PacsClient(url, user="alice", password="secret").search_studies() == []


def test_the_cache_keeps_its_size_by_removing_the_least_recently_used(tmp_path):
    cache = SeriesCache(tmp_path, max_bytes=2500)
    folders = []
    for n in range(3):
        f = cache.folder("1.2.3", f"1.2.{n + 10}")
        f.mkdir(parents=True)
        (f / "00001.dcm").write_bytes(b"x" * 1000)
        cache.mark_complete("1.2.3", f"1.2.{n + 10}", 1)
        folders.append(f)
    import os

    os.utime(folders[0] / ".complete", (1, 1))  # the oldest use
    assert cache.evict(keep=folders[2]) == 1
    assert not folders[0].exists() and folders[1].exists() and folders[2].exists()


def test_a_qido_query_or_a_study_list_is_explained_as_a_batch(pacs, tmp_path, capsys):
    url, stored = pacs
    model = make_tiny_model(tmp_path / "model")
    out = tmp_path / "batch"
    rc = ctcam(["explain", "--pacs", url, "--pacs-query", "PatientName=*a*,ModalitiesInStudy=CT",
                "--out", str(out), "--model", model, "--organs", "none", "--quiet",
                "--pacs-cache", str(tmp_path / "cache")])
    assert rc == 0, capsys.readouterr().err
    done = sorted(d.name for d in out.iterdir() if (d / "findings.json").is_file())
    assert done == sorted([stored["a"][0].SeriesInstanceUID, stored["b_ct"][0].SeriesInstanceUID])
    studies = ",".join([stored["a"][0].StudyInstanceUID, "1.2.3.4"])  # one not on the server
    rc = ctcam(["explain", "--pacs", url, "--study", studies, "--out", str(tmp_path / "b2"),
                "--model", model, "--organs", "none", "--quiet", "--pacs-cache", str(tmp_path / "cache")])
    err = capsys.readouterr().err
    assert rc == 0 and "warning: skipped study 1.2.3.4" in err
    assert (tmp_path / "b2" / stored["a"][0].SeriesInstanceUID / "findings.json").is_file()
    with pytest.raises(SystemExit):
        ctcam(["explain", "--pacs", url, "--pacs-query", "PatientID=PAT-A", "--pacs-send",
               "--out", str(tmp_path / "b3")])
    assert "work on one scan" in capsys.readouterr().err
