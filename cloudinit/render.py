"""Render a node's `#cloud-config` from the stack config and a few runtime facts.

`render(role, cfg, facts)` merges one fragment per concern (access, condor, CVMFS,
EOS, volumes, packages of the image family, autoscaler) into a single document.
Pure: no Pulumi, no I/O beyond reading the templates shipped beside this module.
"""

from __future__ import annotations

import base64
import gzip
from dataclasses import dataclass, field

import yaml

from relval.errors import RelvalError
from relval.stackconfig import StackConfig

from . import fragments
from .fragments import Fragment

ROLES = ("head", "worker")
# Nova's limit on user-data, counted after base64 encoding.
NOVA_USER_DATA_LIMIT = 65535


@dataclass(frozen=True)
class HostKey:
    private_openssh: str
    public_openssh: str


@dataclass(frozen=True)
class NodeFacts:
    """What is only known once Pulumi has created things (or generated secrets)."""

    stack: str
    head_address: str
    signing_key: str
    ssh_authorized_keys: tuple[str, ...] = ()
    host_key: HostKey | None = None                 # head only: pinned SSH host key
    volume_ids: dict[str, str] = field(default_factory=dict)  # volume name -> Cinder id
    attach_volumes: bool = True   # False for workers the elastic scaler boots: volumes by tag
    autoscaler: "fragments.AutoscalerFacts | None" = None


class _BlockDumper(yaml.SafeDumper):
    """Multi-line strings (scripts, config files, keys) as readable `|` blocks."""


def _represent_str(dumper: yaml.SafeDumper, value: str):
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _represent_str)


def trust_domain(stack: str) -> str:
    return f"relval-{stack}"


def document(role: str, cfg: StackConfig, facts: NodeFacts, offline: bool = False) -> dict:
    """The cloud-config of `role` as a mapping.

    `offline` leaves out the image family's package steps (repositories, packages, CRB,
    the makeflow download), which need the network: the boot test boots that.
    """
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
    parts: list[Fragment] = [
        fragments.access(role, cfg, facts),
        fragments.metadata_guard(),
        *(() if offline else (fragments.family_packages(role, cfg),
                              fragments.makeflow_install(role, cfg))),
        fragments.node_check(role),
        fragments.volumes(role, cfg, facts),
        fragments.cvmfs(cfg),
        fragments.eos(cfg),
        fragments.condor(role, cfg, facts, trust_domain(facts.stack)),
    ]
    if role == "head" and facts.autoscaler is not None:
        parts.append(fragments.autoscaler(facts.autoscaler))
    return fragments.merge(parts)


def to_text(doc: dict) -> str:
    return "#cloud-config\n" + yaml.dump(doc, Dumper=_BlockDumper, sort_keys=False, width=4096)


def render(role: str, cfg: StackConfig, facts: NodeFacts, offline: bool = False) -> str:
    """The cloud-config document of `role` as text."""
    return to_text(document(role, cfg, facts, offline))


def encode_user_data(text: str, role: str = "node") -> str:
    """What to hand Nova: the text itself when it fits, else base64(gzip(text)).

    cloud-init recognises gzip by its magic bytes; the OpenStack provider passes
    base64 input through unchanged. Raises RelvalError when even that is too big.
    """
    if len(base64.b64encode(text.encode())) <= NOVA_USER_DATA_LIMIT:
        return text
    packed = base64.b64encode(gzip.compress(text.encode(), compresslevel=9, mtime=0)).decode()
    if len(packed) > NOVA_USER_DATA_LIMIT:
        raise RelvalError(
            f"user-data of the {role} is {len(packed)} bytes after gzip and base64; Nova accepts "
            f"at most {NOVA_USER_DATA_LIMIT}. Shorten relval:condor.extraConfig or other large values.")
    return packed


def decode_user_data(data: str) -> str:
    """Inverse of encode_user_data, for showing what a node receives."""
    if data.startswith("#"):
        return data
    return gzip.decompress(base64.b64decode(data)).decode()
