"""The output directory of a comparison: checked before any work, cleared of stale plots.

Checking up front means a bad `-o` costs one line and no computation, and
nothing is left half-written. Only files this module's writers own are
removed on a rerun (plots/*.png, the grid pages and their HTML), never anything
else a user keeps in that directory.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from relval.errors import RelvalError

PLOTS = "plots"
OWNED_GLOBS = (f"{PLOTS}/*.png", "grid_*.png", "grid_*.html")


def os_reason(error: OSError) -> str:
    """Why a write failed, in words (mkdir under a file raises "File exists" or "Not a directory")."""
    if isinstance(error, (NotADirectoryError, FileExistsError)):
        return "a part of the path is a file"
    return error.strerror or type(error).__name__


def prepare_output_dir(path: Path) -> Path:
    """Create `path` if needed, prove it writable, and remove stale plots from a previous run.

    Raises RelvalError (exit 2) with one line naming the path.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise RelvalError(f"{path}: exists and is not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
        # os.access is not enough: root passes it on read-only mounts and /sys.
        with tempfile.NamedTemporaryFile(dir=path, prefix=".relval-write-test-"):
            pass
    except OSError as error:
        raise RelvalError(f"{path}: cannot write the output directory ({os_reason(error)})") from None
    remove_stale(path)
    return path


def remove_stale(path: Path) -> None:
    """Delete the plots a previous comparison wrote here, so none of them outlives its row."""
    for pattern in OWNED_GLOBS:
        for stale in path.glob(pattern):
            if stale.is_file() and not stale.is_symlink():
                stale.unlink()
    plots = path / PLOTS
    if plots.is_dir() and not any(plots.iterdir()):
        os.rmdir(plots)
