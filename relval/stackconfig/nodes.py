"""Stack config of what runs on the nodes: `relval:cvmfs`, `relval:eos`, `relval:condor`,
`relval:imageFamily`. Pure validation, like `model.py`, which includes these."""

from __future__ import annotations

import re
from dataclasses import dataclass

from relval.fields import Field

IMAGE_FAMILIES = ("cernvm", "el9")
EOS_MODES = ("none", "xrootd", "fuse")
REPOSITORY_RE = re.compile(r"^[a-z0-9][a-z0-9.-]*\.[a-z]{2,}$")
HOSTPORT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]*(:[0-9]{1,5})?$")
PROXY_RE = re.compile(r"^(DIRECT|auto|https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?/?)$")
KNOB_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")
# relval owns the pool's security; extraConfig must not loosen it.
SECURITY_KNOB_RE = re.compile(r"^(SEC_|ALLOW_|DENY_|HOSTALLOW|HOSTDENY|TRUST_DOMAIN$|UID_DOMAIN$)",
                              re.I)


@dataclass(frozen=True)
class Cvmfs:
    repositories: tuple[str, ...] = ("alice.cern.ch", "alice-ocdb.cern.ch", "sft.cern.ch")
    http_proxy: str = "auto;DIRECT"
    quota_mb: int = 20000


@dataclass(frozen=True)
class Eos:
    mode: str = "xrootd"
    instance: str = "eospublic.cern.ch"
    mount_point: str = "/eos"
    remote_path: str = "/eos/"


@dataclass(frozen=True)
class Condor:
    channel: str = "24.x"
    extra_config: tuple[tuple[str, str], ...] = ()


NODE_KEYS = {
    "imageFamily": "cernvm",
    "cvmfs": {"repositories": list(Cvmfs.repositories), "httpProxy": Cvmfs.http_proxy,
              "quotaMb": Cvmfs.quota_mb},
    "eos": {"mode": Eos.mode, "instance": Eos.instance, "mountPoint": Eos.mount_point,
            "remotePath": Eos.remote_path},
    "condor": {"channel": Condor.channel, "extraConfig": {}},
}


def parse_cvmfs(f: Field) -> Cvmfs:
    if not f.mapping(allowed=("repositories", "httpProxy", "quotaMb")):
        return Cvmfs()
    repositories = []
    for item in f["repositories"].items():
        name = item.string(required=True)
        if name is not None and not REPOSITORY_RE.match(name):
            item.error(f"must be a CVMFS repository name like alice.cern.ch (got {name!r})")
        elif name in repositories:
            item.error(f"repeats {name}")
        elif name is not None:
            repositories.append(name)
    if f["repositories"].value == []:
        f["repositories"].error("must list at least one repository")
    proxy = f["httpProxy"].string(default=Cvmfs.http_proxy)
    if proxy is not None:
        for group in proxy.split(";"):
            for member in group.split("|"):
                if not PROXY_RE.match(member):
                    f["httpProxy"].error(
                        f"must be proxies like http://host:3128 separated by | and ;, "
                        f"or auto or DIRECT (got {member!r})")
                    break
    quota = f["quotaMb"].integer(default=Cvmfs.quota_mb, minimum=1000)
    return Cvmfs(tuple(repositories) or Cvmfs.repositories, proxy or Cvmfs.http_proxy,
                 quota or Cvmfs.quota_mb)


def parse_eos(f: Field) -> Eos:
    if not f.mapping(allowed=("mode", "instance", "mountPoint", "remotePath")):
        return Eos()
    mode = f["mode"].string(default=Eos.mode, choices=EOS_MODES)
    instance = f["instance"].string(default=Eos.instance)
    if instance is not None and not HOSTPORT_RE.match(instance.removeprefix("root://")):
        f["instance"].error(f"must be an EOS MGM host[:port] like eospublic.cern.ch (got {instance!r})")
    mount_point = f["mountPoint"].string(default=Eos.mount_point)
    remote_path = f["remotePath"].string(default=Eos.remote_path)
    for key, path in (("mountPoint", mount_point), ("remotePath", remote_path)):
        if path is not None and (not path.startswith("/") or ".." in path.split("/")
                                 or any(c.isspace() for c in path)):
            f[key].error(f"must be an absolute path without '..' or spaces (got {path!r})")
    return Eos(mode or Eos.mode, (instance or Eos.instance).removeprefix("root://"),
               mount_point or Eos.mount_point, remote_path or Eos.remote_path)


def parse_condor(f: Field) -> Condor:
    if not f.mapping(allowed=("channel", "extraConfig")):
        return Condor()
    channel = f["channel"].string(default=Condor.channel)
    if channel is not None and not re.match(r"^[0-9]+\.(x|0)$", channel):
        f["channel"].error(f"must be an HTCondor release series like 24.x or 24.0 (got {channel!r})")
    extra: list[tuple[str, str]] = []
    if f["extraConfig"].mapping():
        for knob in f["extraConfig"].keys():
            item = f["extraConfig"][knob]
            if not KNOB_RE.match(knob):
                item.error("is not a valid HTCondor knob name")
            elif SECURITY_KNOB_RE.match(knob):
                item.error("must not be set here: relval owns the pool's security settings")
            elif isinstance(item.value, (dict, list)) or item.value is None:
                item.error("must be a string, number or boolean")
            else:
                value = item.value
                text = ("True" if value else "False") if isinstance(value, bool) else str(value)
                if "\n" in text:
                    item.error("must be a single line")
                else:
                    extra.append((knob, text))
    return Condor(channel or Condor.channel, tuple(extra))


def parse_image_family(f: Field) -> str:
    return f.string(default="cernvm", choices=IMAGE_FAMILIES) or "cernvm"
