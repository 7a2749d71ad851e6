"""Reading the archive: which runs it holds, one run's index, fetching a run.

    list_runs(backend, campaign=None, release=None) -> list[dict]     index documents, oldest first
    find_run(backend, campaign, release, run=None) -> dict            the latest, or the named run
    fetch_run(backend, index, destination, only=None) -> list[Path]   verified against the index
"""

from __future__ import annotations

import json
from pathlib import Path

from relval.errors import NoVerdictError
from relval.workflows.archive.backend import ArchiveError, Backend, join_key
from relval.workflows.archive.store import FORMAT, INDEX, release_key
from relval.workflows.archive.transfer import download_verified


def list_runs(backend: Backend, campaign: str | None = None, release: str | None = None) -> list[dict]:
    prefix = join_key(campaign or "", release_key(release) if (campaign and release) else "")
    runs = []
    for remote in backend.list(prefix):
        if not remote.key.endswith("/" + INDEX) or remote.key.count("/") != 3:
            continue
        index = load_index(backend, remote.key[:-len(INDEX) - 1])
        if release is None or index.get("release") == release:
            runs.append(index)
    return sorted(runs, key=lambda r: (r.get("created", ""), r.get("path", "")))


def load_index(backend: Backend, path: str) -> dict:
    key = join_key(path, INDEX)
    try:
        index = json.loads(backend.read(key))
    except ValueError:
        raise ArchiveError(f"{backend.url}/{key}: not a relval archive index (not JSON)") from None
    if not isinstance(index, dict) or index.get("format") != FORMAT:
        raise ArchiveError(f"{backend.url}/{key}: not a relval archive index (format "
                           f"{index.get('format') if isinstance(index, dict) else None!r})")
    return index


def find_run(backend: Backend, campaign: str, release: str, run: str | None = None) -> dict:
    runs = list_runs(backend, campaign, release)
    if run is not None:
        runs = [r for r in runs if r.get("run") == run or r.get("path") == run]
    if not runs:
        what = f"run {run} of " if run else ""
        raise NoVerdictError(f"{backend.url}: no archived {what}{release} for campaign {campaign}")
    return runs[-1]


def fetch_run(backend: Backend, index: dict, destination: Path, only: list[str] | None = None) -> list[Path]:
    """Download a run's files (or only the listed keys) under destination, each checked
    against the index's size and adler32."""
    files = [f for f in index["files"] if only is None or f["key"] in only]
    entries = [{**f, "key": join_key(index["path"], f["key"])} for f in files]
    staging = destination / ".relval-fetch"
    paths = download_verified(backend, entries, staging)
    placed = []
    for entry, path in zip(files, paths):
        target = destination / entry["key"]
        target.parent.mkdir(parents=True, exist_ok=True)
        path.replace(target)
        placed.append(target)
    _remove_tree(staging)
    return placed


def _remove_tree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)
