"""The explanation methods by name: the one list every path reads.

The fast path (:func:`engine.cam.fast.batch_maps`), the generic autograd path
(:class:`engine.cam.generic.GenericCAM`), the training's mask loss (``engine/train.py``), the
outputs (``METHODS``: CLI ``--methods``, findings, NIfTI folders) and the viewer's method list
(``viewer/model/state.py``) all take their methods from here.

Adding a method (docs/architecture.md, "Where each kind of change goes"): one module beside
``hirescam.py`` with a :class:`~engine.cam.core.CAMMethod` subclass (``name``, ``title``, the
generic rule ``weights`` and, when it has a cheaper one, the closed form ``head_maps``), its
line in ``_BUILTIN`` below, and a test.  Code outside ctcam (or a test) can
:func:`register` a method at run time; it then flows through both paths.

Importing this module never imports torch.
"""

from __future__ import annotations

from engine.cam.core import CAMMethod
from engine.cam.gradcam import GradCAM
from engine.cam.hirescam import HiResCAM

_REGISTRY: dict[str, CAMMethod] = {}


def register(method: CAMMethod) -> CAMMethod:
    """Add ``method`` under ``method.name`` (a new name; returns the method)."""
    if not isinstance(method, CAMMethod):
        raise TypeError(f"{method!r} is not a CAMMethod")
    if method.name in _REGISTRY:
        raise ValueError(f"a CAM method named {method.name!r} is already registered")
    _REGISTRY[method.name] = method
    return method


def unregister(name: str) -> None:
    """Remove a method added with :func:`register` (built-in methods stay)."""
    if name in METHODS:
        raise ValueError(f"{name!r} is a built-in CAM method")
    _REGISTRY.pop(name, None)


def get_method(name: str) -> CAMMethod:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown CAM method {name!r}; choose from {', '.join(_REGISTRY)}") from None


def registered() -> tuple[CAMMethod, ...]:
    """Every registered method, built-in ones first, in registration order."""
    return tuple(_REGISTRY.values())


def names() -> tuple[str, ...]:
    return tuple(_REGISTRY)


def title(name: str) -> str:
    return get_method(name).title


_BUILTIN = (HiResCAM(), GradCAM())
for _m in _BUILTIN:
    register(_m)

METHODS: tuple[str, ...] = names()
"""The built-in methods, in order: what the pipeline computes and the outputs write by default."""
