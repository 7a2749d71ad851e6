"""Verified transfers: every upload is checked against what the far side reports (size
and checksum), retried, and only then counted as stored; every download is checked
against the index's size and adler32, so a corrupt copy is never used.

    upload_verified(backend, pairs, retries=2, backoff_s=1.0, sleep=time.sleep) -> int (bytes)
    download_verified(backend, files, destination) -> list[Path]
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Iterable

from relval.workflows.archive.backend import ArchiveError, Backend, adler32_of, first


def local_checksum(path: Path, kind: str) -> str:
    if kind == "s3-etag":
        from relval.workflows.archive.s3 import expected_etag

        return expected_etag(path)
    return adler32_of(path)


def upload_verified(backend: Backend, pairs: list[tuple[Path, str]], retries: int = 2,
                    backoff_s: float = 1.0, sleep: Callable[[float], None] = time.sleep) -> int:
    """Upload (local, key) pairs; a file counts only when the far side holds its size and
    checksum. Failed or mismatching files are sent again, up to `retries` more times;
    then ArchiveError names them."""
    expected = {key: (path.stat().st_size, local_checksum(path, backend.checksum_kind))
                for path, key in pairs}
    pending = list(pairs)
    problem = ""
    for attempt in range(retries + 1):
        if attempt:
            sleep(backoff_s * 2 ** (attempt - 1))
        try:
            backend.put(pending)
            remote = backend.stat([key for _, key in pending])
        except ArchiveError as error:
            problem = str(error)
            continue
        bad = []
        for path, key in pending:
            held = remote.get(key)
            size, checksum = expected[key]
            if held is None:
                bad.append((path, key, "missing after upload"))
            elif held.size != size:
                bad.append((path, key, f"{held.size} bytes stored, {size} sent"))
            elif held.checksum is not None and held.checksum != checksum:
                bad.append((path, key, f"{backend.checksum_kind} {held.checksum} stored, {checksum} sent"))
        if not bad:
            return sum(size for size, _ in expected.values())
        problem = f"{len(bad)} file(s) did not verify: " + first(f"{k} ({why})" for _, k, why in bad)
        pending = [(path, key) for path, key, _ in bad]
    raise ArchiveError(f"archiving to {backend.url} failed after {retries + 1} attempt(s): {problem}")


def download_verified(backend: Backend, files: Iterable[dict], destination: Path) -> list[Path]:
    """Download index entries (`key`, `size`, `adler32`) under destination/<key> and check
    each; a mismatch removes the bad copy and raises ArchiveError naming the file."""
    entries = list(files)
    targets = [(entry["key"], destination / entry["key"]) for entry in entries]
    try:
        backend.get(targets)
        failed = None
    except ArchiveError as error:
        # A batched copy that fails (xrdcp's own checksum check, say) need not name the
        # file: what did arrive is checked below, so the message names it anyway.
        failed = error
    corrupt = []
    for entry, (key, target) in zip(entries, targets):
        size = target.stat().st_size if target.is_file() else None
        if size is None and failed is not None:
            corrupt.append(f"{key} (not downloaded)")
        elif size != entry["size"]:
            corrupt.append(f"{key} ({size} bytes, the index says {entry['size']})")
        elif adler32_of(target) != entry["adler32"]:
            corrupt.append(f"{key} (adler32 {adler32_of(target)}, the index says {entry['adler32']})")
        else:
            continue
        target.unlink(missing_ok=True)
    if corrupt:
        raise ArchiveError(f"corrupt download from {backend.url}: " + first(corrupt)
                           + (f" ({failed})" if failed else ""))
    if failed is not None:
        raise failed
    return [target for _, target in targets]
