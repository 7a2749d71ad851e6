"""The campaign archive: results that outlive the cluster.

    resolve_url(option=None) -> str          # --archive, else $RELVAL_ARCHIVE, else ./relval-archive
    open_archive(url) -> Backend             # file://, s3:// or root:// (see the backends)
    store_outcome(outcome, url, ...) -> ArchiveReport     (store.py: after the verdict)
    list_runs / load_index / fetch_run       (runs.py: the read side)
    resolve_reference(campaign, root, url)   (reference.py: references taken from it)

Layout, the same on every backend:

    <archive>/<campaign>/<release slug>/<UTC timestamp>/
        index.json            written last: what the run was and every file's size and adler32
        outputs/<file>        the compared outputs (`compare.files`) of the chain
        qa/...                Summary.json, index.html, plots, junit.xml (candidate runs)
        report.md, report.json
        logs.json             the tail of every job's log
        resources.json        CPU, wall time, peak memory and bytes written per job

A run directory without `index.json` is an upload that did not finish: readers skip it.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

from relval.errors import RelvalError
from relval.workflows.archive.backend import ArchiveError, Backend

DEFAULT_ARCHIVE = "relval-archive"
ENV_VAR = "RELVAL_ARCHIVE"


def resolve_url(option: str | None = None) -> str:
    """The archive URL: the option, else $RELVAL_ARCHIVE, else ./relval-archive (file://)."""
    value = option or os.environ.get(ENV_VAR) or DEFAULT_ARCHIVE
    if "://" not in value:
        value = Path(value).expanduser().resolve().as_uri()
    return value


def open_archive(url: str) -> Backend:
    scheme = urlsplit(url).scheme
    if scheme == "file":
        from urllib.request import url2pathname

        from relval.workflows.archive.local import LocalBackend

        return LocalBackend(Path(url2pathname(urlsplit(url).path)), url)
    if scheme == "s3":
        from relval.workflows.archive.s3 import S3Backend

        return S3Backend(url)
    if scheme in ("root", "xroot"):
        from relval.workflows.archive.xrootd import XRootDBackend

        return XRootDBackend(url)
    raise RelvalError(f"--archive: {url}: unknown URL scheme {scheme!r} (file://, s3:// or root://)")


__all__ = ["ArchiveError", "resolve_url", "open_archive", "DEFAULT_ARCHIVE", "ENV_VAR"]
