"""Nothing changes the data without a word.

A garbled rescale is an error (not 0 or 1), a slice that cannot be read refuses the series
(it was dropped, and at the ends of a scan nothing noticed), and objects that are not images
(SR, RT structure sets, presentation states) beside a CT series are skipped with a warning
instead of failing or counting as scans.
"""

from __future__ import annotations

import pydicom
import pytest
from pydicom.dataset import FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from engine.batch.inputs import expand_inputs
from engine.io import errors as E
from engine.io import list_series, load
from engine.io.dicom import write_dicom_series


@pytest.fixture
def series(tmp_path, io_volume):
    return write_dicom_series(tmp_path / "series", io_volume)


def _edit_raw(path, keyword, raw: bytes):
    from pydicom.datadict import tag_for_keyword
    from pydicom.dataelem import RawDataElement
    from pydicom.tag import Tag

    ds = pydicom.dcmread(path)
    tag = Tag(tag_for_keyword(keyword))
    ds._dict[tag] = RawDataElement(tag, "DS", len(raw), raw, 0, False, True)
    ds.save_as(path, enforce_file_format=True)


@pytest.mark.parametrize("keyword", ["RescaleIntercept", "RescaleSlope"])
@pytest.mark.parametrize("raw", [b"abc ", b"1\\2 ", b"  "])
def test_garbled_rescale_is_an_error_naming_the_file(series, keyword, raw):
    _edit_raw(series[2], keyword, raw)
    with pytest.raises(E.CorruptFileError) as err:
        load(series[0].parent)
    text = str(err.value)
    assert series[2].name in text and keyword in text and "HU" in text and "\n" not in text


def test_absent_rescale_still_defaults(series, io_volume):
    for p in series:
        ds = pydicom.dcmread(p)
        ds.RescaleIntercept, ds.RescaleSlope = 0, 1
        ds.save_as(p, enforce_file_format=True)
    vol = load(series[0].parent)
    assert vol.hu.shape == io_volume.hu.shape


@pytest.mark.parametrize("which", [0, -1])
def test_unreadable_first_or_last_slice_refuses_the_series(series, which):
    bad = series[which]
    bad.write_bytes(bad.read_bytes()[:700])  # cut inside the header
    with pytest.raises(E.CorruptFileError) as err:
        load(series[0].parent if which else series[1].parent)
    text = str(err.value)
    assert bad.name in text and "never left out silently" in text


def _non_image(folder, modality, sop_class):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = pydicom.Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.SeriesInstanceUID, ds.StudyInstanceUID = modality, generate_uid(), generate_uid()
    ds.SeriesNumber = 99
    path = folder / f"{modality}.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path


def test_non_image_objects_beside_a_series_are_skipped_with_a_note(series):
    folder = series[0].parent
    sr = _non_image(folder, "SR", "1.2.840.10008.5.1.4.1.1.88.11")
    rt = _non_image(folder, "RTSTRUCT", "1.2.840.10008.5.1.4.1.1.481.3")
    pr = _non_image(folder, "PR", "1.2.840.10008.5.1.4.1.1.11.1")
    with pytest.warns(E.NonImageSkippedWarning):
        vol = load(folder)
    note = " ".join(vol.meta["warnings"])
    assert all(p.name in note for p in (sr, rt, pr)) and "not images" in note
    assert len(list_series(folder)) == 1
    jobs = expand_inputs([str(folder.parent)])
    assert len(jobs) == 1 and jobs[0].series is None  # one scan, not four
