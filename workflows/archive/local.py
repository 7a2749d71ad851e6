"""The file:// backend: a directory (the default archive, `./relval-archive`).

Writes go to a temporary name first and are renamed into place, so a reader never sees
half a file; `stat` reads the stored copy back to checksum it, as a remote server would."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from relval.workflows.archive.backend import ArchiveError, Remote, adler32_of


class LocalBackend:
    checksum_kind = "adler32"

    def __init__(self, root: Path, url: str):
        self.root, self.url = Path(root), url

    def _path(self, key: str) -> Path:
        return self.root / key

    def put(self, pairs: list[tuple[Path, str]]) -> None:
        for source, key in pairs:
            target = self._path(key)
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                partial = target.with_name(target.name + ".part")
                shutil.copyfile(source, partial)
                os.replace(partial, target)
            except OSError as error:
                raise ArchiveError(f"{self.url}: cannot write {key}: {error.strerror or error}") from None

    def stat(self, keys: list[str]) -> dict[str, Remote]:
        found = {}
        for key in keys:
            path = self._path(key)
            if path.is_file():
                found[key] = Remote(key, path.stat().st_size, adler32_of(path))
        return found

    def get(self, pairs: list[tuple[str, Path]]) -> None:
        for key, target in pairs:
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(self._path(key), target)
            except OSError as error:
                raise ArchiveError(f"{self.url}: cannot read {key}: {error.strerror or error}") from None

    def list(self, prefix: str) -> list[Remote]:
        base = self._path(prefix) if prefix else self.root
        if not base.is_dir():
            if self.root.exists() and not self.root.is_dir():
                raise ArchiveError(f"{self.url}: not a directory")
            return []
        found = []
        for dirpath, _, names in os.walk(base):
            for name in names:
                if name.endswith(".part"):
                    continue
                path = Path(dirpath) / name
                found.append(Remote(path.relative_to(self.root).as_posix(), path.stat().st_size))
        return sorted(found, key=lambda r: r.key)

    def read(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except OSError as error:
            raise ArchiveError(f"{self.url}: cannot read {key}: {error.strerror or error}") from None

    def write(self, key: str, data: bytes) -> None:
        target = self._path(key)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(target.name + ".part")
            partial.write_bytes(data)
            os.replace(partial, target)
        except OSError as error:
            raise ArchiveError(f"{self.url}: cannot write {key}: {error.strerror or error}") from None
