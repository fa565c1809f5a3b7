"""Writing a CTVolume as one Enhanced CT Image file (multi-frame, per-frame positions).

Geometry, pixel storage, dates and UIDs as in :mod:`engine.io.dicom_write`.  The file holds
every module and functional-group macro the Enhanced CT Image IOD requires (dciodvfy from
dicom3tools reports no error): the shared functional groups carry pixel measures, plane
orientation, the HU rescale, a lung-neutral soft-tissue window, frame anatomy (chest, no
laterality), the CT image frame type and the CT acquisition/geometry/reconstruction/
exposure/X-ray/table/position macros with the values a synthetic spiral chest CT has
(120 kV, standard kernel); the per-frame groups carry each frame's position and its place
in one stack, indexed by a two-level dimension (stack id, in-stack position).  Values that
a real scanner measures (exposure, table speed) are stated as nominal, never as measured.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import EnhancedCTImageStorage
from pydicom.valuerep import DSfloat

from engine.io.dicom_write import _base, _ds, _geometry, _pixel_module, _save, _storage, _Uids
from engine.volume import CTVolume

_FRAME_CONTENT = 0x00209111  # FrameContentSequence
_STACK_ID = 0x00209056
_IN_STACK_POSITION = 0x00209057


def _item(**values) -> Dataset:
    ds = Dataset()
    for k, v in values.items():
        setattr(ds, k, v)
    return ds


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    return _item(CodeValue=value, CodingSchemeDesignator=scheme, CodeMeaning=meaning)


def _shared_groups(geo: dict, intercept: float, n: int, uids: _Uids) -> Dataset:
    fov = float(max(geo["dr"], geo["dc"]) * 512)
    centre = _ds((geo["lps"] @ np.array([0.0, 0.0, (n - 1) / 2.0, 1.0]))[:3])
    shared = Dataset()
    shared.PixelMeasuresSequence = Sequence([_item(
        PixelSpacing=_ds([geo["dr"], geo["dc"]]), SliceThickness=_ds([geo["ds"]])[0])])
    shared.PlaneOrientationSequence = Sequence([_item(
        ImageOrientationPatient=_ds(np.concatenate([geo["row"], geo["col"]])))])
    shared.PixelValueTransformationSequence = Sequence([_item(
        RescaleIntercept=_ds([intercept])[0], RescaleSlope=DSfloat(1), RescaleType="HU")])
    shared.FrameVOILUTSequence = Sequence([_item(
        WindowCenter=DSfloat(40), WindowWidth=DSfloat(400))])
    shared.FrameAnatomySequence = Sequence([_item(
        AnatomicRegionSequence=Sequence([_code("51185008", "SCT", "Thorax")]), FrameLaterality="U")])
    shared.CTImageFrameTypeSequence = Sequence([_item(
        FrameType=["ORIGINAL", "PRIMARY", "VOLUME", "NONE"], PixelPresentation="MONOCHROME",
        VolumetricProperties="VOLUME", VolumeBasedCalculationTechnique="NONE")])
    shared.CTAcquisitionTypeSequence = Sequence([_item(
        AcquisitionType="SPIRAL", ConstantVolumeFlag="NO", FluoroscopyFlag="NO")])
    shared.CTAcquisitionDetailsSequence = Sequence([_item(
        DataCollectionDiameter=DSfloat(500), GantryDetectorTilt=DSfloat(0), TableHeight=DSfloat(150),
        RotationDirection="CW", RevolutionTime=0.5, SingleCollimationWidth=0.625,
        TotalCollimationWidth=40.0)])
    shared.CTTableDynamicsSequence = Sequence([_item(
        TableSpeed=80.0, TableFeedPerRotation=40.0, SpiralPitchFactor=1.0)])
    shared.CTGeometrySequence = Sequence([_item(
        DistanceSourceToDetector=DSfloat(1040), DistanceSourceToDataCollectionCenter=570.0)])
    shared.CTReconstructionSequence = Sequence([_item(
        ReconstructionAlgorithm="FILTER_BACK_PROJ", ConvolutionKernel="STANDARD",
        ConvolutionKernelGroup="SOFT_TISSUE", ReconstructionDiameter=_ds([fov])[0],
        ReconstructionPixelSpacing=[geo["dr"], geo["dc"]],
        ReconstructionAngle=360.0, ImageFilter="NONE")])
    shared.CTExposureSequence = Sequence([_item(
        ExposureTimeInms=500.0, XRayTubeCurrentInmA=200.0, ExposureInmAs=100.0,
        ExposureModulationType="NONE", CTDIvol=8.0,
        CTDIPhantomTypeCodeSequence=Sequence([_code("113691", "DCM", "IEC Body Dosimetry Phantom")]))])
    shared.CTXRayDetailsSequence = Sequence([_item(
        KVP=DSfloat(120), FocalSpots=[DSfloat(1.0)], FilterType="BODY", FilterMaterial=["ALUMINUM"])])
    shared.CTPositionSequence = Sequence([_item(
        TablePosition=0.0, ReconstructionTargetCenterPatient=[float(v) for v in centre],
        DataCollectionCenterPatient=[float(v) for v in centre])])
    shared.IrradiationEventIdentificationSequence = Sequence([_item(
        IrradiationEventUID=uids("irradiation"))])
    return shared


def write_dicom_enhanced(
    path: str | Path,
    vol: CTVolume,
    *,
    series_description: str = "ctcam enhanced",
    patient_id: str = "CTCAM-0001",
    patient_name: str = "ctcam^phantom",
    modality: str = "CT",
    orientation: str = "LPS",
    signed: bool | None = None,
    series_number: int = 1,
    uid_seed: str | None = None,
    when: _dt.datetime | None = None,
) -> Path:
    """Write ``vol`` as one Enhanced CT Image file with per-frame positions (module doc)."""
    path = Path(path)
    geo = _geometry(vol, orientation)
    pixels, intercept, signed = _storage(geo["data"], signed)
    uids = _Uids(uid_seed)
    when = _dt.datetime.now() if when is None else when
    ds = _base(EnhancedCTImageStorage, uids("sop"), uids("study"), uids("series"), uids("for"),
               patient_id, patient_name, modality, series_description, series_number, when)
    stamp = when.strftime("%Y%m%d%H%M%S")
    ds.ImageType = ["ORIGINAL", "PRIMARY", "VOLUME", "NONE"]
    ds.InstanceNumber = 1
    ds.ManufacturerModelName = "ctcam"
    ds.DeviceSerialNumber = "0"
    from engine import __version__

    ds.SoftwareVersions = f"ctcam {__version__}"
    ds.AcquisitionDateTime = stamp
    ds.AcquisitionDuration = 0.5 * pixels.shape[2]  # nominal: one 0.5 s rotation per frame
    ds.PixelPresentation = "MONOCHROME"
    ds.VolumetricProperties = "VOLUME"
    ds.VolumeBasedCalculationTechnique = "NONE"
    ds.PresentationLUTShape = "IDENTITY"
    ds.BurnedInAnnotation = "NO"
    ds.LossyImageCompression = "00"
    ds.ContentQualification = "RESEARCH"
    ds.AcquisitionContextSequence = Sequence([])
    n = pixels.shape[2]
    ds.NumberOfFrames = n
    organisation = uids("dimensions")
    ds.DimensionOrganizationSequence = Sequence([_item(DimensionOrganizationUID=organisation)])
    ds.DimensionIndexSequence = Sequence([
        _item(DimensionOrganizationUID=organisation, DimensionIndexPointer=_STACK_ID,
              FunctionalGroupPointer=_FRAME_CONTENT, DimensionDescriptionLabel="Stack ID"),
        _item(DimensionOrganizationUID=organisation, DimensionIndexPointer=_IN_STACK_POSITION,
              FunctionalGroupPointer=_FRAME_CONTENT, DimensionDescriptionLabel="In-Stack Position"),
    ])
    ds.SharedFunctionalGroupsSequence = Sequence([_shared_groups(geo, intercept, n, uids)])
    frames = []
    for k in range(n):
        pos = _item(ImagePositionPatient=_ds((geo["lps"] @ np.array([0.0, 0.0, float(k), 1.0]))[:3]))
        content = _item(StackID="1", InStackPositionNumber=k + 1, DimensionIndexValues=[1, k + 1],
                        FrameAcquisitionDateTime=stamp, FrameReferenceDateTime=stamp,
                        FrameAcquisitionDuration=500.0)
        frames.append(_item(PlanePositionSequence=Sequence([pos]),
                            FrameContentSequence=Sequence([content])))
    ds.PerFrameFunctionalGroupsSequence = Sequence(frames)
    _pixel_module(ds, np.transpose(pixels, (2, 1, 0)), signed)
    path.parent.mkdir(parents=True, exist_ok=True)
    _save(ds, path)
    return path
