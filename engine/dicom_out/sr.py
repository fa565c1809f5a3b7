"""Findings as a Comprehensive 3D Structured Report (highdicom).

Content tree (concept names: DCM and LOINC codes where one exists, else the private
coding scheme ``99CTCAM`` for ctcam's own quantities)::

    CONTAINER  Imaging report (LOINC 18748-4)
      TEXT       Algorithm Name (DCM 111001)          model name
      TEXT       Algorithm Version (DCM 111003)       model version
      CONTAINER  Finding (DCM 121071)                 one per label
        TEXT       Finding (DCM 121071)               "left lung: nodule"
        NUM        probability (99CTCAM)              0..1, unit {ratio}
        NUM        operating point (99CTCAM)          when the card has one
        TEXT       call (99CTCAM)                     "positive" / "negative"
        NUM        <method> share in organ (99CTCAM)  per method, when known
        SCOORD3D   <method> peak (99CTCAM)            POINT in patient (LPS) mm
"""

from __future__ import annotations

import numpy as np

PRIVATE = "99CTCAM"


def _code(value: str, scheme: str, meaning: str):
    import highdicom as hd

    return hd.sr.CodedConcept(value, scheme, meaning)


def _finding_items(f, frame_of_reference: str) -> list:
    import highdicom as hd
    from highdicom.sr import RelationshipTypeValues as R

    ratio = _code("1", "UCUM", "no units")
    items = [
        hd.sr.TextContentItem(name=_code("121071", "DCM", "Finding"),
                              value=f"{f.organ.replace('_', ' ')}: {f.abnormality.replace('_', ' ')}",
                              relationship_type=R.CONTAINS),
        hd.sr.NumContentItem(name=_code("prob", PRIVATE, "Probability"), value=float(f.probability),
                             unit=ratio, relationship_type=R.CONTAINS),
    ]
    if f.threshold is not None:
        items.append(hd.sr.NumContentItem(name=_code("thr", PRIVATE, "Operating point"),
                                          value=float(f.threshold), unit=ratio,
                                          relationship_type=R.CONTAINS))
        items.append(hd.sr.TextContentItem(name=_code("call", PRIVATE, "Call"),
                                           value="positive" if f.positive else "negative",
                                           relationship_type=R.CONTAINS))
    for method, share in (f.organ_share or {}).items():
        if share is not None and np.isfinite(share):
            items.append(hd.sr.NumContentItem(
                name=_code(f"share-{method}"[:16], PRIVATE, f"{method} share in organ"),
                value=float(share), unit=ratio, relationship_type=R.CONTAINS))
    for method, peak in (f.peak or {}).items():
        ras = np.asarray(peak.get("ras", []), dtype=np.float64)
        if ras.shape == (3,) and np.all(np.isfinite(ras)):
            lps = ras * np.array([-1.0, -1.0, 1.0])
            items.append(hd.sr.Scoord3DContentItem(
                name=_code(f"peak-{method}"[:16], PRIVATE, f"{method} peak"),
                graphic_type=hd.sr.GraphicTypeValues3D.POINT, graphic_data=lps[None, :],
                frame_of_reference_uid=frame_of_reference, relationship_type=R.CONTAINS))
    return items


def build_sr(sources, findings, card: dict, uid, equipment: dict):
    import highdicom as hd
    from highdicom.sr import RelationshipTypeValues as R

    for_uid = str(sources[0].FrameOfReferenceUID)
    children = [
        hd.sr.TextContentItem(name=_code("111001", "DCM", "Algorithm Name"),
                              value=str(card.get("name", "ctcam model"))[:64],
                              relationship_type=R.HAS_OBS_CONTEXT),
        hd.sr.TextContentItem(name=_code("111003", "DCM", "Algorithm Version"),
                              value=str(card.get("version", "?"))[:64],
                              relationship_type=R.HAS_OBS_CONTEXT),
    ]
    for f in findings:
        box = hd.sr.ContainerContentItem(name=_code("121071", "DCM", "Finding"),
                                         relationship_type=R.CONTAINS)
        box.ContentSequence = hd.sr.ContentSequence(_finding_items(f, for_uid))
        children.append(box)
    root = hd.sr.ContainerContentItem(name=_code("18748-4", "LN", "Diagnostic imaging report"))
    root.ContentSequence = hd.sr.ContentSequence(children)
    sr = hd.sr.Comprehensive3DSR(
        evidence=sources, content=root, series_instance_uid=uid("sr-series"), series_number=900,
        sop_instance_uid=uid("sr"), instance_number=1, manufacturer=equipment["manufacturer"],
        series_description="ctcam findings", is_complete=True, is_final=False, is_verified=False)
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    scheme = Dataset()  # declares the private coding scheme (PS3.3 C.12.1.1.3)
    scheme.CodingSchemeDesignator = PRIVATE
    scheme.CodingSchemeName = "ctcam quantities"
    scheme.CodingSchemeResponsibleOrganization = "ctcam"
    sr.CodingSchemeIdentificationSequence = Sequence([scheme])
    return sr
