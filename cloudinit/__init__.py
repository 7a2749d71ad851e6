"""Cloud-config rendering for relval nodes (pure: no Pulumi, no I/O).

Installed as `relval.cloudinit`, never as a top-level `cloudinit`, which is
cloud-init's own package name.
"""

from .render import NodeContext, render

__all__ = ["NodeContext", "render"]
