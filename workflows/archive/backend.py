"""What every archive backend offers, and the checksums that verify a transfer.

    class Backend: put(pairs), stat(keys), get(pairs), list(prefix), read(key), write(key, data)
    adler32_of(path) -> "0a1b2c3d"     (XRootD's own checksum, also kept in every index)
    ArchiveError                       (exit 3: the archive is unreachable, a transfer failed)

Keys are relative `/`-separated paths under the archive's root URL. A backend moves
bytes and reports what the far side holds (`Remote`: size and a checksum the far side
computed itself: the stored copy's adler32 for file:// and root://, the S3 ETag for
s3://); judging whether that matches is the caller's job (`store.py`, `runs.py`).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Protocol

from relval.errors import NoVerdictError

CHUNK = 4 * 1024 * 1024


class ArchiveError(NoVerdictError):
    """The archive could not be read or written: no verdict on the archive (exit 3)."""


@dataclass(frozen=True)
class Remote:
    key: str
    size: int
    checksum: str | None = None      # in the backend's own kind, see Backend.checksum_kind


class Backend(Protocol):
    url: str
    checksum_kind: str               # "adler32" or "s3-etag"

    def put(self, pairs: list[tuple[Path, str]]) -> None:
        """Upload local files to keys; raises ArchiveError when the transfer fails."""

    def stat(self, keys: list[str]) -> dict[str, Remote]:
        """What the far side holds for each key (absent keys are left out)."""

    def get(self, pairs: list[tuple[str, Path]]) -> None:
        """Download keys to local files."""

    def list(self, prefix: str) -> list[Remote]:
        """Every file under prefix (recursively), checksum not filled in."""

    def read(self, key: str) -> bytes: ...

    def write(self, key: str, data: bytes) -> None: ...


def adler32_of(path: Path) -> str:
    value = 1
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            value = zlib.adler32(chunk, value)
    return f"{value & 0xFFFFFFFF:08x}"


def adler32_bytes(data: bytes) -> str:
    return f"{zlib.adler32(data) & 0xFFFFFFFF:08x}"


def join_key(*parts: str) -> str:
    return "/".join(p.strip("/") for p in parts if p.strip("/"))


def first(items: Iterable[str], n: int = 3) -> str:
    items = list(items)
    return ", ".join(items[:n]) + (f" and {len(items) - n} more" if len(items) > n else "")
