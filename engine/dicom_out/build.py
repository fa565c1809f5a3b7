"""Build the DICOM result objects of one explained scan (see the package doc).

Geometry: a ctcam array (i, j, k) with a RAS affine is handed to highdicom as a
``highdicom.Volume`` in axial frame order (k, j, i) with the LPS affine
``diag(-1, -1, 1) A P`` (P swaps the axes), in the source series' frame of reference, so
highdicom writes each frame's position and orientation from the same affine the viewer uses.

* Segmentation (BINARY, one segment per organ of the organ map, on the scan grid);
* Parametric Map per (label, method): the raw signed map (logit contribution) resampled
  trilinearly onto a grid of the scan's extent with at most ``MAX_PM_DIM`` voxels per axis
  (a few MB, not the 20 MB of the full scan grid; the map itself has 32 mm cells);
* Comprehensive 3D SR: per label the probability, operating point and call, the share of
  each method's positive map mass inside the organ, the peak in patient coordinates, and
  the model's name and version; the source series is its evidence.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine import __version__
from engine.dicom_out.sources import DicomOutError, source_series
from engine.dicom_out.sr import build_sr

MAX_PM_DIM = 96
LPS = np.diag([-1.0, -1.0, 1.0, 1.0])
ORGAN_CODES_SCT = {  # SNOMED CT codes of the organs ctcam segments
    "right_lung": ("3341006", "Right lung"), "left_lung": ("44029006", "Left lung"),
    "heart": ("80891009", "Heart"),
}
EQUIPMENT = dict(manufacturer="ctcam", manufacturer_model_name="ctcam",
                 software_versions=f"ctcam {__version__}", device_serial_number="0")


def _volume(array: np.ndarray, affine: np.ndarray, frame_of_reference: str):
    import highdicom as hd

    a = np.asarray(affine, dtype=np.float64)
    perm = np.eye(4)[:, [2, 1, 0, 3]]  # (k, j, i) -> (i, j, k)
    return hd.Volume(np.ascontiguousarray(np.transpose(array, (2, 1, 0))), LPS @ a @ perm,
                     coordinate_system="PATIENT", frame_of_reference_uid=frame_of_reference)


def _coarse_grid(volume) -> tuple[np.ndarray, tuple[int, int, int]]:
    step = [max(1, int(np.ceil(n / MAX_PM_DIM))) for n in volume.shape]
    shape = tuple(max(1, n // s) for n, s in zip(volume.shape, step))
    scale = np.eye(4)
    scale[:3, :3] = np.diag(step)
    scale[:3, 3] = (np.asarray(step) - 1) / 2.0
    return np.asarray(volume.affine, np.float64) @ scale, shape  # type: ignore[return-value]


def build_seg(sources, organ_map: np.ndarray, volume, codes: dict[str, int], uid):
    import highdicom as hd
    from pydicom.sr.codedict import codes as dcm_codes

    present = [(name, int(code)) for name, code in codes.items()
               if name in ORGAN_CODES_SCT and np.any(organ_map == int(code))]
    if not present:
        return None
    labels = np.zeros(organ_map.shape, np.uint8)
    descriptions = []
    for n, (name, code) in enumerate(present, start=1):
        labels[organ_map == code] = n
        value, meaning = ORGAN_CODES_SCT[name]
        descriptions.append(hd.seg.SegmentDescription(
            segment_number=n, segment_label=meaning,
            segmented_property_category=dcm_codes.SCT.Organ,
            segmented_property_type=hd.sr.CodedConcept(value, "SCT", meaning),
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
            algorithm_identification=hd.AlgorithmIdentificationSequence(
                name="ctcam organ segmentation", version=__version__,
                family=dcm_codes.cid7162.ArtificialIntelligence)))
    return hd.seg.Segmentation(
        source_images=sources, pixel_array=_volume(labels, volume.affine, sources[0].FrameOfReferenceUID),
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY, segment_descriptions=descriptions,
        omit_empty_frames=False,  # the whole scan grid: readers get the exact geometry back
        series_instance_uid=uid("seg-series"), series_number=901, sop_instance_uid=uid("seg"),
        instance_number=1, series_description="ctcam organ masks", **EQUIPMENT)


def build_parametric_map(sources, result, volume, label: int, method: str, number: int, uid):
    import highdicom as hd
    from pydicom.sr.codedict import codes as dcm_codes

    from engine.cam.sampling import sample_on_grid

    aff, shape = _coarse_grid(volume)
    data = sample_on_grid(result.maps[method][label], result.map_affine, aff, shape)
    lo, hi = float(np.min(data)), float(np.max(data))
    if hi <= lo:
        hi = lo + 1e-6
    name = result.labels[label].name
    mapping = hd.pm.RealWorldValueMapping(
        lut_label=method[:16], lut_explanation=f"{method} evidence for {name}"[:64],
        unit=dcm_codes.UCUM.NoUnits, value_range=(lo, hi), slope=1, intercept=0)
    peak = max(abs(lo), abs(hi))
    pm = hd.pm.ParametricMap(
        source_images=sources, pixel_array=_volume(data.astype(np.float32), aff, sources[0].FrameOfReferenceUID),
        series_instance_uid=uid("pm-series", label, method), series_number=910 + number,
        sop_instance_uid=uid("pm", label, method), instance_number=1,
        contains_recognizable_visual_features=False, real_world_value_mappings=[mapping],
        voi_lut_transformations=[hd.VOILUTTransformation(
            window_center=0.0, window_width=2 * peak if peak > 0 else 1.0,
            voi_lut_function="LINEAR_EXACT")],  # widths under 1 are allowed only with it
        series_description=f"ctcam {method} {name}"[:64], **EQUIPMENT)
    pm.BodyPartExamined = "CHEST"  # settles General Series' Laterality condition (dciodvfy)
    return pm


def _labels_for_maps(findings, labels: list[str] | None, limit: int = 5) -> list[int]:
    if labels:
        return [f.index for f in findings if f.name in set(labels)]
    positive = [f for f in findings if f.positive]
    chosen = positive or sorted(findings, key=lambda f: -f.probability)[:1]
    return [f.index for f in sorted(chosen, key=lambda f: -f.probability)[:limit]]


def build_objects(result, volume, out: Path, *, labels: list[str] | None = None,
                  methods=("hirescam", "gradcam"), seed: str | None = None) -> list:
    """SEG (when an organ map is known), Parametric Maps (``labels``; default: the positive
    findings at the operating point, at most 5, else the most probable) and the SR."""
    from pydicom.uid import generate_uid

    from engine.findings import summarise

    def uid(*role) -> str:
        return str(generate_uid(entropy_srcs=[seed, *map(str, role)]) if seed else generate_uid())

    sources = source_series(volume, Path(out) / "source_ct")
    if not sources:
        raise DicomOutError("no source CT series to reference.")
    findings = summarise(result, volume.affine)
    objects = []
    codes = (result.card.get("organ_codes") or {})
    if result.organ_map is not None:
        seg = build_seg(sources, np.asarray(result.organ_map), volume, codes, uid)
        if seg is not None:
            objects.append(seg)
    number = 0
    for index in _labels_for_maps(findings, labels):
        for method in methods:
            if method in result.maps:
                objects.append(build_parametric_map(sources, result, volume, index, method, number, uid))
                number += 1
    objects.append(build_sr(sources, findings, result.card, uid, EQUIPMENT))
    return objects


def write_objects(objects, folder: Path) -> list[Path]:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for n, ds in enumerate(objects, start=1):
        kind = {"SEG": "seg", "SR": "sr"}.get(str(ds.Modality), "pm")
        path = folder / f"{n:02d}_{kind}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths
