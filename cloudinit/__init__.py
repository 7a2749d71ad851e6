"""Cloud-config rendering for relval nodes (pure: no Pulumi, no I/O).

Installed as `relval.cloudinit`, never as a top-level `cloudinit`, which is
cloud-init's own package name.
"""

from .fragments import AutoscalerFacts
from .render import (NOVA_USER_DATA_LIMIT, HostKey, NodeFacts, decode_user_data,
                     encode_user_data, render, trust_domain)

__all__ = ["AutoscalerFacts", "HostKey", "NOVA_USER_DATA_LIMIT", "NodeFacts", "decode_user_data",
           "encode_user_data", "render", "trust_domain"]
