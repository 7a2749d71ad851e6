"""Find the ROOT files of a comparison and the objects inside them.

Objects are named by their full path inside the file, as `dir/sub/name`.
TDirectory keys are listed without reading any object. Collections stored as
one key (TList, THashList, TObjArray) are read and their elements named
`collection/element`, recursively, so a histogram keeps the same name whether it
sits in a directory or in a list (and `relval qa merge`, which writes lists
out as directories, produces files that still match their sources).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from relval.errors import RelvalError

COLLECTIONS = ("TList", "THashList", "TObjArray", "TSeqCollection")
TREES = ("TTree", "TNtuple", "TNtupleD")
MEMMAP_MAX_BYTES = 256 * 1024 * 1024


@dataclass
class Entry:
    """An object inside a file: its class and a way to read it when needed.

    `load` returns uproot's model; `fast` (when set) decodes a TH1x/TH2x key
    straight into a `Hist` and may raise `fastread.Unsupported`.
    """

    path: str
    classname: str
    load: Callable[[], Any]
    fast: Callable[[], Any] | None = None

    def hist(self):
        """The object as a `Hist`: the direct decoder when it applies, else uproot."""
        from relval.workflows.qa import fastread
        from relval.workflows.qa.hist import from_uproot

        if self.fast is not None:
            try:
                return self.fast()
            except (fastread.Unsupported, struct.error, ValueError, IndexError):
                pass
        return from_uproot(self.load())


def key_of(file, key: str):
    """The TKey at `dir/sub/name;cycle`, read without uproot's path syntax.

    `file[key]` and `file.key(key)` treat ':' as the start of a TTree branch path,
    so `d/x:y` would be looked up as object `x`. Walking the directories one name
    at a time takes every name literally.
    """
    *directories, last = key.split("/")
    node = file
    for name in directories:
        node = node.key(name).get()
    return node.key(last)


def _fast_loader(file, key: str, classname: str) -> Callable[[], Any]:
    from relval.workflows.qa import fastread

    def decode():
        chunk, _ = key_of(file, key).get_uncompressed_chunk_cursor()
        return fastread.read_hist(classname, chunk.raw_data.tobytes())

    return decode


def one_line(error: BaseException) -> str:
    """An exception as one short line (uproot's messages span several, with key listings)."""
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def check_root_file(path: Path) -> None:
    """Refuse a file that is not ROOT or is shorter than its header says (a copy cut short).

    A truncated file otherwise opens and fails object by object, deep inside uproot.
    The header is `root`, fVersion, fBEGIN, then fEND, the file's length: 4 bytes, or
    8 when fVersion >= 1000000 (files over 2 GB).
    """
    try:
        with open(path, "rb") as handle:
            head = handle.read(20)
        size = Path(path).stat().st_size
    except FileNotFoundError:
        raise RelvalError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise RelvalError(f"{path}: is a directory, expected a ROOT file") from None
    except OSError as error:
        raise RelvalError(f"{path}: cannot read ({error.strerror or error})") from None
    if len(head) < 16 or head[:4] != b"root":
        raise RelvalError(f"{path}: not a ROOT file (no 'root' header)")
    version = struct.unpack(">i", head[4:8])[0]
    if version >= 1000000 and len(head) < 20:
        raise RelvalError(f"{path}: truncated ROOT file (cut inside its header)")
    end = struct.unpack(">q", head[12:20])[0] if version >= 1000000 else struct.unpack(">i", head[12:16])[0]
    if size < end:
        raise RelvalError(f"{path}: truncated ROOT file ({size} of {end} bytes)")


def open_root(path: Path):
    """uproot.open with input errors turned into one-line RelvalErrors."""
    import uproot

    check_root_file(path)
    from relval.workflows.qa import streamed

    try:
        # Memory-mapped reads: the default fsspec source opens the file again for every key.
        # Not for big files (AO2D): every page read would stay in the resident memory.
        # The custom classes read MonitorObjects and TEfficiency (streamed.py).
        big = Path(path).is_file() and Path(path).stat().st_size > MEMMAP_MAX_BYTES
        handler = uproot.MultithreadedFileSource if big else uproot.MemmapSource
        return uproot.open(path, handler=handler, custom_classes=streamed.custom_classes())
    except FileNotFoundError:
        raise RelvalError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise RelvalError(f"{path}: is a directory, expected a ROOT file") from None
    except Exception as error:  # noqa: BLE001 - uproot raises many kinds for a non-ROOT file
        raise RelvalError(f"{path}: not a ROOT file ({type(error).__name__})") from None


def pair_files(new: Path, ref: Path) -> list[tuple[str, Path | None, Path | None]]:
    """Match the inputs: two files, or two directories of `*.root` by relative path.

    Returns (label, new_file, ref_file); a file on one side only has None on the other.
    The label is '' for a file pair and the relative path for directories.
    """
    problems = []
    for label, path in (("NEW", new), ("REF", ref)):
        if not path.exists():
            problems.append(f"{label} {path}: no such file or directory")
    if problems:
        raise RelvalError(problems)
    if new.is_dir() != ref.is_dir():
        raise RelvalError(f"NEW and REF must both be files or both be directories "
                          f"(got {new} and {ref})")
    if not new.is_dir():
        return [("", new, ref)]
    new_files = {p.relative_to(new).as_posix(): p for p in sorted(new.rglob("*.root")) if p.is_file()}
    ref_files = {p.relative_to(ref).as_posix(): p for p in sorted(ref.rglob("*.root")) if p.is_file()}
    if not new_files and not ref_files:
        raise RelvalError(f"no *.root files under {new} or {ref}")
    return [(rel, new_files.get(rel), ref_files.get(rel)) for rel in sorted(set(new_files) | set(ref_files))]


def _element_name(obj: Any, index: int) -> str:
    for attempt in (lambda: obj.member("fName"), lambda: obj.name):
        try:
            name = attempt()
            if name:
                return str(name)
        except Exception:  # noqa: BLE001 - unnamed objects get their index
            continue
    return f"[{index}]"


def _expand(prefix: str, collection: Any, out: dict[str, Entry]) -> None:
    for index, element in enumerate(collection):
        classname = getattr(element, "classname", type(element).__name__)
        path = f"{prefix}/{_element_name(element, index)}"
        if path in out:  # two elements with one name: keep both, visibly
            path = f"{path}[{index}]"
        if classname in COLLECTIONS:
            _expand(path, element, out)
        else:
            out[path] = Entry(path, classname, lambda e=element: e)


def _raise(error: Exception):
    raise error


def list_objects(file) -> dict[str, Entry]:
    """Every object of an open uproot file by path (highest cycle of each key)."""
    best: dict[str, tuple[int, str, str]] = {}
    for key, classname in file.classnames(recursive=True).items():
        path, _, cycle = key.rpartition(";")
        cycle_n = int(cycle) if cycle.isdigit() else 0
        if path not in best or cycle_n > best[path][0]:
            best[path] = (cycle_n, classname, key)
    from relval.workflows.qa import qcfile

    out: dict[str, Entry] = {}
    tree_keys: dict[str, str] = {}
    for path, (_, classname, key) in sorted(best.items()):
        if classname in ("TDirectory", "TDirectoryFile"):
            continue
        if classname in TREES:  # one entry per column (trees.py), once every table is known
            tree_keys[path] = key
            continue
        if qcfile.is_qc_class(classname):
            window = qcfile.moving_window_task(path)
            if window is not None:  # one row per task: window start times differ between runs
                out.setdefault(window, Entry(window, "QC moving windows", lambda: None))
                continue
            try:
                out.update(qcfile.expand(path, file[key], classname, Entry))
                continue
            except Exception as error:  # noqa: BLE001 - an unreadable QC key is a finding
                out[path] = Entry(path, classname, lambda e=error: _raise(e))
                continue
        if classname in COLLECTIONS:
            try:
                _expand(path, key_of(file, key).get(), out)
                continue
            except Exception:  # noqa: BLE001 - an unreadable list is still listed, as itself
                pass
        from relval.workflows.qa.fastread import CLASSES

        fast = _fast_loader(file, key, classname) if classname in CLASSES else None
        out[path] = Entry(path, classname, lambda k=key: key_of(file, k).get(), fast)
    if tree_keys:
        from relval.workflows.qa import trees

        out.update(trees.expand({path: key_of(file, key).get() for path, key in tree_keys.items()}, Entry))
    return out
