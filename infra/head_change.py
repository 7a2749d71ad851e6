"""What applying a stack would do to its head, in words, from the engine's planned steps.

The head holds the schedd's queue and the campaigns: replacing it (a new VM) or
rebuilding it (the provider's answer to a new image: same VM, root disk wiped) loses
them. `relval plan --diff` runs `pulumi preview` and says which of these applying
would do, naming the properties that cause it. Pure: the steps come from
`automation.preview_steps`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

HEAD_TYPE = "openstack:compute/instance:Instance"
HEAD_NAME = "head-instance"
REPLACING_OPS = ("replace", "create-replacement", "delete-replaced")
# Updates the OpenStack provider applies by rebuilding the server from an image.
REBUILDING = ("imageId", "imageName")


@dataclass(frozen=True)
class Step:
    """One planned step of the engine: its operation, the resource, and the properties."""

    op: str
    type: str
    name: str
    keys: tuple[str, ...] = ()    # properties that force a replacement
    diffs: tuple[str, ...] = ()   # properties that change


@dataclass(frozen=True)
class HeadChange:
    verdict: str                  # create | replace | rebuild | update | same
    properties: tuple[str, ...] = field(default=())

    @property
    def loses_the_head(self) -> bool:
        return self.verdict in ("replace", "rebuild")

    def sentence(self) -> str:
        props = ", ".join(self.properties)
        if self.verdict == "replace":
            return (f"applying would REPLACE the head (a new VM: its schedd queue and root disk "
                    f"are lost) because of: {props}")
        if self.verdict == "rebuild":
            return (f"applying would REBUILD the head in place (its root disk is wiped) because "
                    f"of: {props}")
        if self.verdict == "update":
            return f"applying updates the head in place ({props}); it is not replaced"
        if self.verdict == "create":
            return "applying would create the head (the stack has none yet)"
        return "applying leaves the head untouched; it is not replaced"

    def to_json(self) -> dict:
        return {"verdict": self.verdict, "properties": list(self.properties),
                "replaced": self.loses_the_head, "message": self.sentence()}


def head_change(steps: list[Step]) -> HeadChange:
    """The head's fate among the planned steps (no step for it: untouched)."""
    mine = [s for s in steps if s.type == HEAD_TYPE and s.name == HEAD_NAME]
    ops = {s.op for s in mine}
    keys = tuple(sorted({k for s in mine for k in s.keys}))
    diffs = tuple(sorted({k for s in mine for k in s.diffs}))
    if ops & set(REPLACING_OPS):
        return HeadChange("replace", keys or diffs)
    if "create" in ops:
        return HeadChange("create")
    if "update" in ops:
        rebuild = tuple(k for k in diffs if k in REBUILDING)
        return HeadChange("rebuild", rebuild) if rebuild else HeadChange("update", diffs)
    return HeadChange("same")


def head_fate(stack: str, workspace=None) -> HeadChange:
    """Run `pulumi preview` on the deployed `stack` and say what happens to its head
    (a stack that is not deployed yet gets its head created)."""
    from . import automation

    if not automation.is_deployed(stack, workspace):
        return HeadChange("create")
    return head_change(automation.preview_steps(stack, lambda line: None, workspace))
