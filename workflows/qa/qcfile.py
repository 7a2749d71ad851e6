"""QC output files: unwrap QualityControl's MonitorObjects so their objects are compared.

QualityControl stores each task's objects as an
`o2::quality_control::core::MonitorObjectCollection` (a TObjArray) of
`MonitorObject`s, under `int/<DETECTOR>/<TASK>` (integrated) and
`mw/<DETECTOR>/<TASK>/<start time>` (moving windows). A MonitorObject wraps the
real object (`mObject`) with its task, task class, detector, description, an
`Activity` and a user metadata `std::map<std::string, std::string>`.

uproot reads all of this from the streamers stored in the file, except the
metadata map: ROOT writes an empty map memberwise without the per-member
headers, and uproot 5.7 then reads past it. `streamed.py` reads a MonitorObject
member by member from the file's own streamer info instead (every class version
QualityControl has written is read as written), decoding that map itself.

Objects are named `<collection path>/<object name>`, which for a QC file is
`int/<DETECTOR>/<TASK>/<object>`; moving windows, whose names are start times
that differ between two runs, are listed once per task and not compared.
"""

from __future__ import annotations

from typing import Any

MONITOR_OBJECT = "o2::quality_control::core::MonitorObject"
COLLECTION = "o2::quality_control::core::MonitorObjectCollection"
MOVING_WINDOWS = "mw"


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
