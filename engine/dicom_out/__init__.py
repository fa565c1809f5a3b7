"""Results as standard DICOM objects (highdicom): organ masks as a Segmentation, heat maps as
Parametric Maps, findings as a Comprehensive 3D Structured Report, each referencing the
source CT series, written to a folder (Slicer, OHIF and PACS viewers open them) or stored to
a PACS with STOW-RS (engine/pacs)."""

from engine.dicom_out.build import build_objects, source_series, write_objects

__all__ = ["build_objects", "source_series", "write_objects"]
