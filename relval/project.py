"""Locate the Pulumi project and its stack files."""

from __future__ import annotations

import os
from pathlib import Path

from relval.errors import RelvalError

PROJECT_FILE = "Pulumi.yaml"


def project_dir(start: Path | None = None) -> Path:
    """The directory holding Pulumi.yaml: the cwd or a parent, else relval's own checkout."""
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / PROJECT_FILE).is_file():
            return candidate
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / PROJECT_FILE).is_file():
        return checkout
    raise RelvalError(f"no {PROJECT_FILE} found in {here} or its parents; run relval from the project")


def stack_file(stack: str, root: Path | None = None) -> Path:
    return (root or project_dir()) / f"Pulumi.{stack}.yaml"


def known_stacks(root: Path | None = None) -> list[str]:
    root = root or project_dir()
    return sorted(p.name[len("Pulumi."):-len(".yaml")] for p in root.glob("Pulumi.*.yaml"))


def resolve_stack(stack: str | None, root: Path | None = None) -> str:
    """An explicit --stack, else $PULUMI_STACK/$RELVAL_STACK, else the only stack file."""
    stack = stack or os.environ.get("RELVAL_STACK") or os.environ.get("PULUMI_STACK")
    if stack:
        return stack
    stacks = known_stacks(root)
    if len(stacks) == 1:
        return stacks[0]
    listing = ", ".join(stacks) if stacks else "none"
    raise RelvalError(f"--stack is required (stack files found: {listing})")
