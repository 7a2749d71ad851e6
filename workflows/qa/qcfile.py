"""QC output files: unwrap QualityControl's MonitorObjects so their objects are compared.

QualityControl stores each task's objects as an
`o2::quality_control::core::MonitorObjectCollection` (a TObjArray) of
`MonitorObject`s, under `int/<DETECTOR>/<TASK>` (integrated) and
`mw/<DETECTOR>/<TASK>/<start time>` (moving windows). A MonitorObject wraps the
real object (`mObject`) with its task, task class, detector, description, an
`Activity` and a user metadata `std::map<std::string, std::string>`.

uproot reads all of this from the streamers stored in the file, except the
metadata map: ROOT writes an empty map memberwise without the per-member
headers, and uproot 5.7 then reads past it. `MonitorObjectModel` reads a
MonitorObject element by element from the file's own streamer info (so every
class version QualityControl has written is read as written), using uproot for
every member except that map, which `read_string_map` decodes.

Objects are named `<collection path>/<object name>`, which for a QC file is
`int/<DETECTOR>/<TASK>/<object>`; moving windows, whose names are start times
that differ between two runs, are listed once per task and not compared.
"""

from __future__ import annotations

import struct
from typing import Any

MONITOR_OBJECT = "o2::quality_control::core::MonitorObject"
COLLECTION = "o2::quality_control::core::MonitorObjectCollection"
MOVING_WINDOWS = "mw"
_MAP_OF_STRINGS = ("map<string,string>", "std::map<std::string,std::string>")
_I16, _I32 = struct.Struct(">h"), struct.Struct(">i")


def read_string_map(chunk, cursor, context, file_path: str = "") -> dict[str, str] | None:
    """A `std::map<std::string, std::string>` data member, as ROOT streams it.

    Memberwise (ROOT's default for a map inside a class): byte count and version
    with the memberwise bit, the pair's class version (and its checksum when that
    version is 0), the size, then, only when the map is not empty, all the keys
    and all the values, each as a block with its own byte count and version.
    Objectwise maps are skipped (None). The cursor always ends at the byte count.
    """
    import uproot.deserialization as ud

    start = cursor.copy()
    num_bytes, _version, memberwise = ud.numbytes_version(chunk, cursor, context)
    out: dict[str, str] | None = None
    if memberwise:
        pair_version = cursor.field(chunk, _I16, context)
        if pair_version <= 0:
            cursor.skip(4)  # checksum of the pair's streamer info
        size = cursor.field(chunk, _I32, context)
        keys, values = [], []
        if size > 0:
            for column in (keys, values):
                ud.numbytes_version(chunk, cursor, context)
                column.extend(cursor.string(chunk, context) for _ in range(size))
        out = dict(zip(keys, values))
    if num_bytes is None:
        raise ud.DeserializationError("std::map member without a byte count", chunk, cursor, context,
                                      file_path)
    cursor.move_to(start.index + num_bytes)
    return out


def _monitor_object_model():
    import uproot
    from uproot import streamers as us
    from uproot.containers import AsString

    class MonitorObjectModel(uproot.model.Model):
        """A MonitorObject of any class version, read member by member from the file's streamer."""

        def read_members(self, chunk, cursor, context, file):
            info = file.streamer_named(MONITOR_OBJECT, self._instance_version)
            if info is None:
                raise uproot.deserialization.DeserializationError(
                    f"no streamer for {MONITOR_OBJECT} version {self._instance_version}", chunk, cursor,
                    context, file.file_path)
            for element in info.elements:
                name = element.name
                if isinstance(element, us.Model_TStreamerBase):
                    base = file.class_named(name, element.base_version)
                    self._bases.append(base.read(chunk, cursor, context, file, self._file, self._parent,
                                                 concrete=self.concrete))
                elif isinstance(element, (us.Model_TStreamerObjectPointer, us.Model_TStreamerObjectAnyPointer)):
                    self._members[name] = uproot.deserialization.read_object_any(
                        chunk, cursor, context, file, self._file, self)
                elif isinstance(element, us.Model_TStreamerSTLstring):
                    self._members[name] = AsString(True).read(chunk, cursor, context, file, self._file,
                                                              self.concrete)
                elif isinstance(element, us.Model_TStreamerSTL):
                    if element.typename.replace(" ", "") not in _MAP_OF_STRINGS:
                        raise uproot.deserialization.DeserializationError(
                            f"{MONITOR_OBJECT}: unexpected container {element.typename} {name}", chunk,
                            cursor, context, file.file_path)
                    self._members[name] = read_string_map(chunk, cursor, context, file.file_path)
                elif isinstance(element, (us.Model_TStreamerObjectAny, us.Model_TStreamerObject)):
                    self._members[name] = file.class_named(element.typename).read(
                        chunk, cursor, context, file, self._file, self.concrete)
                elif isinstance(element, us.Model_TStreamerBasicType):
                    code = ">" + us._ftype_to_struct(element.member("fType"))
                    self._members[name] = cursor.field(chunk, struct.Struct(code), context)
                else:
                    raise uproot.deserialization.DeserializationError(
                        f"{MONITOR_OBJECT}: unexpected member {name} ({type(element).__name__})", chunk,
                        cursor, context, file.file_path)

    MonitorObjectModel.__name__ = uproot.model.classname_encode(MONITOR_OBJECT)
    return MonitorObjectModel


_CLASSES: dict[str, Any] = {}


def custom_classes() -> dict[str, Any]:
    """uproot's classes plus the MonitorObject reader, for `uproot.open(custom_classes=...)`."""
    import uproot

    if not _CLASSES:
        _CLASSES[MONITOR_OBJECT] = _monitor_object_model()
    return {**uproot.classes, **_CLASSES}


def is_qc_class(classname: str) -> bool:
    return classname in (COLLECTION, MONITOR_OBJECT)


def wrapped(monitor_object) -> tuple[str, Any]:
    """(name, object) of a MonitorObject: its name is that of the object it wraps."""
    inner = monitor_object.member("mObject")
    if inner is None:
        return "", None
    try:
        name = str(inner.member("fName"))
    except Exception:  # noqa: BLE001 - objects without fName are named by their class
        name = inner.classname
    return name, inner


def describe(monitor_object) -> dict[str, Any]:
    """Task, detector, activity and metadata of a MonitorObject (for reports and tests)."""
    members = monitor_object.all_members
    activity = members.get("mActivity")
    return {
        "task": members.get("mTaskName"),
        "task_class": members.get("mTaskClass"),
        "detector": members.get("mDetectorName"),
        "description": members.get("mDescription"),
        "metadata": members.get("mUserMetadata"),
        "run": None if activity is None else activity.member("mId"),
        "period": None if activity is None else activity.member("mPeriodName"),
    }


def monitor_objects(collection) -> list:
    """The MonitorObjects of a MonitorObjectCollection (its TObjArray base)."""
    array = collection.bases[0] if collection.bases else collection
    return [element for element in array if getattr(element, "classname", "") == MONITOR_OBJECT]


def expand(path: str, obj, classname: str, entry_type) -> dict[str, Any]:
    """Entries for the objects wrapped in a QC key at `path` (a collection or one MonitorObject)."""
    out: dict[str, Any] = {}
    if classname == MONITOR_OBJECT:
        items = [(path, obj)]
    else:
        items = []
        for monitor_object in monitor_objects(obj):
            name, _ = wrapped(monitor_object)
            items.append((f"{path}/{name or '[unnamed]'}", monitor_object))
    for name, monitor_object in items:
        if name in out:  # two objects with one name: keep both, visibly
            name = f"{name}[{len(out)}]"
        _, inner = wrapped(monitor_object)
        inner_class = inner.classname if inner is not None else "MonitorObject without object"
        out[name] = entry_type(name, inner_class, lambda o=inner: o)
    return out


def moving_window_task(path: str) -> str | None:
    """`mw/DET/TASK/<start>` -> `mw/DET/TASK`; None for any other path."""
    parts = path.split("/")
    if len(parts) == 4 and parts[0] == MOVING_WINDOWS:
        return "/".join(parts[:3])
    return None
