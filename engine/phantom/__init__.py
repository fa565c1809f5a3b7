"""Synthetic chest CT generator with exact ground truth (docs/architecture.md).

>>> from engine.phantom import generate
>>> case = generate(7, size="model")   # doctest: +SKIP
>>> case.volume, case.organs, case.masks, case.labels
"""

from .case import PhantomCase
from .generate import SIZES, generate

__all__ = ["PhantomCase", "SIZES", "generate"]
