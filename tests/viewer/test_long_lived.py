"""viewer/qt/long_lived.py: what exists at start-up is frozen for the garbage collector,
which still collects what is made afterwards."""

from __future__ import annotations

import gc
import weakref

from viewer.qt.long_lived import freeze_long_lived


class _Node:
    pass


def test_frozen_objects_are_skipped_and_new_cycles_still_collected():
    gc.unfreeze()
    try:
        before = len(gc.get_objects())
        frozen = freeze_long_lived(collect=True)
        assert frozen == gc.get_freeze_count() and frozen >= before // 2
        assert len(gc.get_objects()) < before // 2  # a full collection walks far fewer now

        a, b = _Node(), _Node()  # a cycle made after the freeze
        a.other, b.other = b, a
        gone = weakref.ref(a)
        del a, b
        gc.collect()
        assert gone() is None
    finally:
        gc.unfreeze()
