"""ctcam engine: CT volumes, synthetic phantoms, the AxialNet-style classifier and its
explanations (HiResCAM, Grad-CAM). Never imports Qt, pyqtgraph or VTK."""

__version__ = "0.1.0"
