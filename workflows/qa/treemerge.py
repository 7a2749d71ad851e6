"""TTrees in `relval qa merge`: the rows of every input, one after the other, as hadd does.

A tree is merged when every branch is a number or a fixed-size array of numbers
(what AO2D tables and most QA trees hold) and every input that has the tree has
the same branches with the same types; uproot then writes it back. Otherwise:
- branches that differ between inputs are bad input (the rows cannot be stacked);
- a tree with other branches (variable-size arrays, strings, objects) is skipped
  with one reason naming the first such branch: uproot reads them, but the merge
  would have to rebuild ROOT's object streamers to write them back.
Rows are copied in chunks, so a tree larger than memory merges too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from relval.workflows.qa.reader import TREES

CHUNK = "100 MB"  # rows read at once per input


@dataclass
class TreePlan:
    """What to write for one tree path: the branch types and where the rows come from."""

    path: str
    types: dict[str, np.dtype]
    sources: list[tuple[Path, str]] = field(default_factory=list)  # (file, key with its cycle)
    rows: int = 0


def tree_keys(handle) -> dict[str, tuple[str, str]]:
    """{path: (key, classname)} of the trees in an open file, highest cycle of each."""
    best: dict[str, tuple[int, str, str]] = {}
    for key, classname in handle.classnames(recursive=True).items():
        if classname not in TREES:
            continue
        path, _, cycle = key.rpartition(";")
        number = int(cycle) if cycle.isdigit() else 0
        if path not in best or number > best[path][0]:
            best[path] = (number, key, classname)
    return {path: (key, classname) for path, (_, key, classname) in best.items()}


def branch_types(tree) -> tuple[dict[str, np.dtype] | None, str]:
    """(writable dtype per branch, '') or (None, why the tree cannot be merged)."""
    from uproot.interpretation.numerical import AsDtype

    types: dict[str, np.dtype] = {}
    for branch in tree.branches:
        interpretation = branch.interpretation
        dtype = np.dtype(interpretation.to_dtype) if isinstance(interpretation, AsDtype) else None
        if branch.branches or dtype is None or dtype.base.kind not in "iufb":
            return None, (f"branch {branch.name!r} ({branch.typename}) is not a number or a fixed-size "
                          "array of numbers")
        base = dtype.base.newbyteorder("=")
        types[branch.name] = np.dtype((base, dtype.shape)) if dtype.shape else base
    if not types:
        return None, "no branches"
    return types, ""


def plan_trees(handles: list, inputs: list[Path]) -> tuple[list[TreePlan], dict[str, str], list[str]]:
    """(trees to write, {skipped tree: reason}, problems) for open input files."""
    plans: dict[str, TreePlan] = {}
    skipped: dict[str, str] = {}
    problems: list[str] = []
    first_source: dict[str, Path] = {}
    for handle, source in zip(handles, inputs):
        for path, (key, classname) in sorted(tree_keys(handle).items()):
            if path in skipped:
                continue
            tree = handle[key]
            types, why = branch_types(tree)
            if types is None:
                skipped[path] = f"{classname} not merged: {why}"
                plans.pop(path, None)
                continue
            plan = plans.setdefault(path, TreePlan(path, types))
            if plan.types != types:
                problems.append(f"{path}: branches differ between {first_source[path]} and {source} "
                                "(cannot concatenate the rows)")
                continue
            first_source.setdefault(path, source)
            plan.sources.append((source, key))
            plan.rows += int(tree.num_entries)
    return list(plans.values()), skipped, problems


def write_tree(directory, name: str, plan: TreePlan) -> None:
    """Create the tree `name` in an uproot writable directory and copy every source's rows into it."""
    import uproot

    tree = directory.mktree(name, plan.types)
    for source, key in plan.sources:
        with uproot.open(source) as handle:
            for chunk in handle[key].iterate(list(plan.types), step_size=CHUNK, library="np"):
                tree.extend({branch: np.asarray(chunk[branch], dtype=plan.types[branch].base)
                             for branch in plan.types})
