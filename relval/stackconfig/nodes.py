"""Stack config of what runs on the nodes: `relval:cvmfs`, `relval:eos`, `relval:condor`,
`relval:imageFamily`. Pure validation, like `model.py`, which includes these."""

from __future__ import annotations

import re
from dataclasses import dataclass

from relval.fields import Field

# Named for what they are. cernvm5 (EL9-based CernVM) must bring HTCondor >= 9 itself, which
# relval checks at boot; el9 (AlmaLinux or Rocky 9) gets everything installed at boot.
IMAGE_FAMILIES = ("cernvm5", "el9")
DEFAULT_IMAGE_FAMILY = "cernvm5"
# Families that once existed and cannot run a relval node: refused with the reason.
RETIRED_FAMILIES = {
    "cernvm": "is ambiguous: CernVM 4 is EL7, which has no HTCondor >= 9 (IDTOKENS, "
              "recommended_v9_0, condor_token_create); use cernvm5 or el9",
    "cernvm4": "is EL7, which has no HTCondor >= 9 (IDTOKENS, recommended_v9_0, "
               "condor_token_create); use cernvm5 or el9",
}
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
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
class Makeflow:
    """A CCTools release for the head: downloaded, checked against sha256, then unpacked
    (a binary release) or built there (`build`: a source release)."""

    url: str
    sha256: str
    build: bool = False


# The default: CCTools 7.14.2's source release, built on the head (EPEL 9 has no cctools and
# CCTools' binary releases could not be checked from here). URL and sha256 as conda-forge's
# ndcctools recipe builds them (recipe/meta.yaml, version 7.14.2).
DEFAULT_MAKEFLOW = Makeflow(
    url="https://github.com/cooperative-computing-lab/cctools/archive/refs/tags/release/7.14.2.tar.gz",
    sha256="3cad842f8dbe5ba5844ca9296a6a7883f027b4b4201d67579a4810c4ed0f24ef",
    build=True)


@dataclass(frozen=True)
class Condor:
    # HTCondor's long-term-support series (N.0); N.x is the feature series.
    channel: str = "24.0"
    extra_config: tuple[tuple[str, str], ...] = ()


NODE_KEYS = {
    "imageFamily": DEFAULT_IMAGE_FAMILY,
    # {url, sha256, build}: the CCTools release for the head's makeflow (EPEL 9 has none);
    # default CCTools 7.14.2 from source (DEFAULT_MAKEFLOW); false: the image brings makeflow.
    "makeflow": None,
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
    value = f.string(default=DEFAULT_IMAGE_FAMILY)
    if value in RETIRED_FAMILIES:
        f.error(f"{value!r} {RETIRED_FAMILIES[value]}")
        return DEFAULT_IMAGE_FAMILY
    if value is not None and value not in IMAGE_FAMILIES:
        f.error(f"must be one of {', '.join(IMAGE_FAMILIES)} (got {value!r})")
    return value if value in IMAGE_FAMILIES else DEFAULT_IMAGE_FAMILY


def parse_makeflow(f: Field) -> Makeflow | None:
    if not f.present:
        return DEFAULT_MAKEFLOW
    if f.value in (False, "false"):
        return None
    if not f.mapping(allowed=("url", "sha256", "build")):
        return None
    url, sha256 = f["url"].string(required=True), f["sha256"].string(required=True)
    build = f["build"].boolean(default=False)
    if url is not None and not re.match(r"^https://[^\s'\"]+\.tar\.gz$", url):
        f["url"].error(f"must be an https URL of a .tar.gz CCTools release (got {url!r})")
    if sha256 is not None and not SHA256_RE.match(sha256):
        f["sha256"].error("must be the release's sha256: 64 lowercase hex digits")
    if url is None or sha256 is None:
        return None
    return Makeflow(url, sha256, bool(build))


def family_problems(family: str, eos: Eos, image: str | None) -> list[tuple[tuple[str, ...], str]]:
    """(key path, message) for what the image family cannot run."""
    problems = []
    if family == "cernvm5" and eos.mode == "fuse":
        problems.append((("eos", "mode"), "fuse needs relval:imageFamily el9: relval installs "
                                "eos-fusex only on el9, and CernVM 5 does not ship it"))
    if image is not None and re.search(r"cernvm-?4", image, re.I):
        problems.append((("image",), f"names a CernVM 4 image ({image!r}), which is EL7 and has no "
                                  "HTCondor >= 9; use a CernVM 5 or EL9 image"))
    return problems
