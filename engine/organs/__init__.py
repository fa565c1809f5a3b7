"""Organ label maps (0 background, 1 right lung, 2 heart, 3 left lung) for any scan.

Three sources:

* :func:`from_phantom` - the exact truth of a synthetic case;
* :func:`from_labelmap` - a user's label map (NIfTI path or array) with a code mapping,
  resampled onto the scan grid by nearest neighbour in world coordinates (``labelmap.py``);
* :func:`segment` - classical segmentation of a chest CT (thresholds, connected
  components, morphology), described step by step in its docstring (``segment.py``, with
  the body, airway and lung steps in ``lungs.py`` and the heart in ``heart.py``).
"""

from engine.organs.labelmap import (
           HEART,
           LEFT,
           MAPPINGS,
           RIGHT,
           OrganMapError,
           from_labelmap,
           from_phantom,
)
from engine.organs.segment import OrganSegmentation, segment

__all__ = ["HEART", "LEFT", "MAPPINGS", "RIGHT", "OrganMapError", "OrganSegmentation", "from_labelmap",
           "from_phantom", "segment"]
