"""Read a class member by member from the streamer info stored in the file.

uproot generates a reader for every class from the file's streamers, but some
standard-library members defeat it: an empty `std::map<std::string,
std::string>` written memberwise (QualityControl's MonitorObject metadata) and
a memberwise `std::vector<std::pair<double, double>>` (TEfficiency's
`fBeta_bin_params`). The model built here walks the same streamer elements and
uses uproot for everything else (bases, pointers, strings, embedded objects,
basic types); of the containers it decodes string maps and skips any other one
by its byte count (the member is then None), which every container has.

`custom_classes()` is what `reader.open_root` hands to `uproot.open`.
"""

from __future__ import annotations

import struct
from typing import Any

# Classes read this way: QualityControl's wrapper, and TEfficiency.
CLASSES = ("o2::quality_control::core::MonitorObject", "TEfficiency")
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
    if num_bytes is None:
        raise ud.DeserializationError("std::map member without a byte count", chunk, cursor, context,
                                      file_path)
    out: dict[str, str] | None = None
    if memberwise:
        pair_version = cursor.field(chunk, _I16, context)
        if pair_version <= 0:
            cursor.skip(4)  # checksum of the pair's streamer info
        size = cursor.field(chunk, _I32, context)
        keys: list[str] = []
        values: list[str] = []
        if size > 0:
            for column in (keys, values):
                ud.numbytes_version(chunk, cursor, context)
                column.extend(cursor.string(chunk, context) for _ in range(size))
        out = dict(zip(keys, values))
    cursor.move_to(start.index + num_bytes)
    return out


def skip_container(chunk, cursor, context, file_path: str = "") -> None:
    """Skip a container member by its byte count."""
    import uproot.deserialization as ud

    start = cursor.copy()
    num_bytes, _version, _memberwise = ud.numbytes_version(chunk, cursor, context)
    if num_bytes is None:
        raise ud.DeserializationError("container member without a byte count", chunk, cursor, context,
                                      file_path)
    cursor.move_to(start.index + num_bytes)


def streamer_model(classname: str):
    """An uproot model class reading `classname` (any version) from the file's streamer info."""
    import uproot
    from uproot import streamers as us
    from uproot.containers import AsString

    def fail(message, chunk, cursor, context, file):
        raise uproot.deserialization.DeserializationError(f"{classname}: {message}", chunk, cursor, context,
                                                          file.file_path)

    class StreamedModel(uproot.model.Model):
        def read_members(self, chunk, cursor, context, file):
            info = file.streamer_named(classname, self._instance_version)
            if info is None:
                fail(f"no streamer for version {self._instance_version}", chunk, cursor, context, file)
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
                    if element.typename.replace(" ", "") in _MAP_OF_STRINGS:
                        self._members[name] = read_string_map(chunk, cursor, context, file.file_path)
                    else:
                        skip_container(chunk, cursor, context, file.file_path)
                        self._members[name] = None
                elif isinstance(element, (us.Model_TStreamerObjectAny, us.Model_TStreamerObject)):
                    self._members[name] = file.class_named(element.typename).read(
                        chunk, cursor, context, file, self._file, self.concrete)
                elif isinstance(element, us.Model_TStreamerBasicType) and element.array_length == 0:
                    code = ">" + us._ftype_to_struct(element.member("fType"))
                    self._members[name] = cursor.field(chunk, struct.Struct(code), context)
                else:
                    fail(f"unexpected member {name} ({type(element).__name__})", chunk, cursor, context, file)

    StreamedModel.__name__ = uproot.model.classname_encode(classname)
    return StreamedModel


_MODELS: dict[str, Any] = {}


def custom_classes() -> dict[str, Any]:
    """uproot's classes plus the streamer-driven models, for `uproot.open(custom_classes=...)`."""
    import uproot

    if not _MODELS:
        _MODELS.update({name: streamer_model(name) for name in CLASSES})
    return {**uproot.classes, **_MODELS}
