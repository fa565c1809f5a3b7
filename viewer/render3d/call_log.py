"""The ordered, coalesced record of 3D scene calls the widget keeps: calls deferred while the
view is hidden, and every call so far (replayed into an offscreen scene for exports)."""

from __future__ import annotations

# Calls that fully define one aspect of the scene: a later call of the same group replaces
# every earlier queued call of that group.  Other calls are kept in order.
_GROUPS: dict[str, str] = {
    "set_volume": "volume",
    "clear_volume": "volume",
    "set_preset": "preset",
    "set_organs": "organs",
    "clear_organs": "organs",
    "set_organ_opacity": "organ_opacity",
    "set_map": "maps",
    "set_maps_side_by_side": "maps",
    "set_cursor": "cursor",
    "set_clip": "clip",
    "reset_camera": "camera",
}
_APPENDED = ("clear_map", "set_single", "set_organ_visible")


class CallLog:
    """Ordered, coalesced record of scene calls (to defer while hidden, or to replay)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple, dict]] = []

    def add(self, name: str, args: tuple, kwargs: dict) -> None:
        group = _GROUPS.get(name)
        if name == "set_organ_visible":
            code = int(args[0] if args else kwargs["code"])
            self.calls = [c for c in self.calls if not (c[0] == name and int(c[1][0]) == code)]
        elif name in ("set_volume", "clear_volume"):
            # Organ maps given without an affine belong to the previous scan's grid.
            self.calls = [c for c in self.calls
                          if c[0] not in ("set_volume", "clear_volume")
                          and not (c[0] == "set_organs" and len(c[1]) < 4 and "affine" not in c[2])]
        elif group is not None:
            # A full definition supersedes earlier calls of its group, including the
            # partial ones (clear_map / set_single after set_map are moot once re-set).
            drop = {n for n, g in _GROUPS.items() if g == group}
            if group == "maps":
                drop |= {"clear_map", "set_single"}
            self.calls = [c for c in self.calls if c[0] not in drop]
        elif self.calls and self.calls[-1][0] == name:
            return  # repeated clear_map / set_single
        self.calls.append((name, args, kwargs))

    def replay(self, scene) -> None:
        for name, args, kwargs in self.calls:
            getattr(scene, name)(*args, **kwargs)

    def clear(self) -> None:
        self.calls = []
