"""Pytest side of `root_writer`: write ROOT files with ROOT, skip where ROOT is absent."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from .root_writer import write_files

needs_root = pytest.mark.skipif(importlib.util.find_spec("ROOT") is None, reason="ROOT (pip root) not installed")


def root_write(cache_dir: Path, files: dict[Path, list[dict]]) -> dict[Path, Path]:
    """Write `{path: [object, ...]}` with ROOT; returns the paths."""
    write_files([{"path": str(path), "objects": objects} for path, objects in files.items()], cache_dir)
    return {path: path for path in files}


@pytest.fixture(scope="session")
def root_build(request) -> Path:
    """Where ACLiC keeps the compiled QC layout between test sessions."""
    return Path(request.config.cache.mkdir("relval-root-build"))
