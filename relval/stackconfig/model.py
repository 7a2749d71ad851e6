"""The typed stack config (`relval:` namespace) and its validation.

It lives outside `infra/` because both the Pulumi program and `cloudinit/` read it:
contextualization must not depend on the Pulumi program's package.

This module is pure: it turns the raw values of a `Pulumi.<stack>.yaml` (already
decoded from Pulumi's JSON strings) into a frozen `StackConfig`, or raises a
`RelvalError` listing every problem, each naming its key. Nothing else in the
code reads `pulumi.Config`.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from dataclasses import dataclass, field, replace
from typing import Any

from relval.errors import RelvalError
from relval.fields import Field, Problems

from relval.autoscaler.config import (AUTOSCALER_KEYS, Ec2Settings, ScalerConfig,
                                      parse_stack_autoscaler)

from .nodes import (DEFAULT_IMAGE_FAMILY, NODE_KEYS, Condor, Cvmfs, Eos, Makeflow,
                    family_problems, parse_condor, parse_cvmfs, parse_eos, parse_image_family,
                    parse_makeflow)

NAMESPACE = "relval"

SERVER_GROUP_POLICIES = ("affinity", "anti-affinity", "soft-affinity", "soft-anti-affinity")
VOLUME_ROLES = ("head", "worker")
SSH_KEY_TYPES = ("ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
                 "ecdsa-sha2-nistp521", "sk-ssh-ed25519@openssh.com",
                 "sk-ecdsa-sha2-nistp256@openssh.com")
NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$")
RELEASE_RE = re.compile(r"^[A-Za-z0-9 _.:/@+,=-]+$")
USER_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
# Mounting over these would break the VM (or CVMFS/EOS, which relval mounts itself).
RESERVED_MOUNTS = ("/", "/bin", "/boot", "/dev", "/etc", "/lib", "/lib64", "/proc", "/root",
                   "/run", "/sbin", "/sys", "/tmp", "/usr", "/var", "/cvmfs", "/eos")
NOVA_METADATA_MAX = 255


@dataclass(frozen=True)
class Workers:
    initial: int = 1
    min: int = 1
    max: int = 20


@dataclass(frozen=True)
class Volume:
    name: str
    size_gb: int
    mount_point: str
    role: str
    volume_type: str | None = None


@dataclass(frozen=True)
class Autoscaler:
    """The elastic scaler on the head: its policy, and how it reaches the cloud API."""

    scaler: ScalerConfig
    auth_url: str | None = None
    region: str | None = None
    credential_id: str | None = None       # an existing application credential ...
    credential_secret: str | None = None   # ... or None with scaler.create_application_credential
    ec2: Ec2Settings | None = None
    ec2_access_key_id: str | None = None
    ec2_secret_access_key: str | None = None


@dataclass(frozen=True)
class StackConfig:
    """Everything a stack deploys, validated. Field names mirror the camelCase keys."""

    release: str
    image: str
    head_flavor: str
    worker_flavor: str
    network: str
    ssh_public_key: str | None = None
    keypair: str | None = None
    floating_ip_pool: str | None = None
    ssh_allowed_cidrs: tuple[str, ...] = ()
    allow_ssh_from_anywhere: bool = False
    ssh_user: str = "relval"
    workers: Workers = field(default_factory=Workers)
    volumes: tuple[Volume, ...] = ()
    availability_zone: str | None = None          # Nova's zone, for instances
    volume_availability_zone: str | None = None   # Cinder's zone: its names often differ
    server_group_policy: str = "soft-anti-affinity"
    image_family: str = DEFAULT_IMAGE_FAMILY
    makeflow: Makeflow | None = None
    image_id: str | None = None   # relval:imageId: the id pinned on the first `relval up`
    cvmfs: Cvmfs = field(default_factory=Cvmfs)
    eos: Eos = field(default_factory=Eos)
    condor: Condor = field(default_factory=Condor)
    autoscaler: Autoscaler | None = None   # None: no elastic scaler, the pool stays as deployed

    def volumes_for(self, role: str) -> tuple[Volume, ...]:
        return tuple(v for v in self.volumes if v.role == role)


# Image names of EL7 systems (CernVM 4, CentOS 7): Python 3.6 at most. An image given
# by id cannot be told apart; the install on the head then says why it fails.
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
EL7_IMAGE = re.compile(r"cernvm[-_ ]?4|\bcc7\b|centos[-_ ]?7|\bel7\b", re.IGNORECASE)

# Every `relval:` key with its default (None: optional, REQUIRED: must be set).
# Pulumi.yaml documents each one; tests keep the two in step.
REQUIRED = "<required>"
KEYS: dict[str, Any] = {
    "release": REQUIRED,
    "image": REQUIRED,
    "imageId": None,
    "headFlavor": REQUIRED,
    "workerFlavor": REQUIRED,
    "network": REQUIRED,
    "floatingIpPool": None,
    "sshPublicKey": None,
    "keypair": None,
    "sshAllowedCidrs": [],
    "allowSshFromAnywhere": False,
    "sshUser": "relval",
    "workers": {"initial": 1, "min": 1, "max": 20},
    "volumes": [],
    "availabilityZone": None,
    "volumeAvailabilityZone": None,
    "serverGroupPolicy": "soft-anti-affinity",
    **NODE_KEYS,
    # Absent or enabled: false means no scaler; the object's own defaults are below.
    "autoscaler": {"enabled": False},
}

# Keys of relval:autoscaler beyond the scaler's policy: how the head reaches the cloud.
AUTOSCALER_ACCESS_KEYS = ("authUrl", "region", "applicationCredentialId",
                          "applicationCredentialSecret", "ec2", "ec2AccessKeyId",
                          "ec2SecretAccessKey")


def key_name(key: str) -> str:
    return f"{NAMESPACE}:{key}"


def _problems() -> Problems:
    return Problems(render=lambda path, message: f"{path} {message}")


# Values that must reach the stack as Pulumi secrets (`pulumi config set --secret --path`).
SECRET_VALUES = (("autoscaler", "applicationCredentialSecret"), ("autoscaler", "ec2SecretAccessKey"))


def _image_id(f: Field) -> str | None:
    """`relval:imageId`: the Glance id `relval up` pinned from `relval:image` on the first up."""
    value = f.string()
    if value is not None and not UUID.match(value):
        f.error(f"must be a Glance image id (a UUID), got {value!r}")
        return None
    return value


def parse_stack_config(raw: dict[str, Any], secret_keys: frozenset[str] | None = None) -> StackConfig:
    """Validate `raw` (keys without the namespace) and build the config.

    With `secret_keys` (the keys Pulumi holds encrypted), credentials stored in clear
    text are refused. Raises RelvalError with one message per problem.
    """
    problems = _problems()
    root = Field(raw, NAMESPACE, problems, sep=":")
    root.reject_unknown(KEYS)
    if secret_keys is not None:
        for key, inner in SECRET_VALUES:
            value = raw.get(key)
            if isinstance(value, dict) and value.get(inner) and key not in secret_keys:
                root[key][inner].error(
                    f"must be stored as a Pulumi secret: pulumi config set --secret --path "
                    f"'{NAMESPACE}:{key}.{inner}' VALUE")

    values: dict[str, Any] = {
        "release": _metadata_string(root["release"], required=True),
        "image": root["image"].string(required=True),
        "image_id": _image_id(root["imageId"]),
        "head_flavor": root["headFlavor"].string(required=True),
        "worker_flavor": root["workerFlavor"].string(required=True),
        "network": root["network"].string(required=True),
        "floating_ip_pool": root["floatingIpPool"].string(),
        "availability_zone": root["availabilityZone"].string(),
        "volume_availability_zone": root["volumeAvailabilityZone"].string(),
        "server_group_policy": root["serverGroupPolicy"].string(
            default="soft-anti-affinity", choices=SERVER_GROUP_POLICIES),
        "ssh_user": _ssh_user(root["sshUser"]),
    }
    values["ssh_public_key"], values["keypair"] = _ssh_access(root)
    values["allow_ssh_from_anywhere"] = root["allowSshFromAnywhere"].boolean(default=False)
    values["ssh_allowed_cidrs"] = _cidrs(root["sshAllowedCidrs"], values["allow_ssh_from_anywhere"])
    values["workers"] = _workers(root["workers"])
    values["volumes"] = _volumes(root["volumes"])
    values["image_family"] = parse_image_family(root["imageFamily"])
    values["cvmfs"] = parse_cvmfs(root["cvmfs"])
    values["eos"] = parse_eos(root["eos"])
    values["condor"] = parse_condor(root["condor"])
    values["makeflow"] = parse_makeflow(root["makeflow"])
    for keys, message in family_problems(values["image_family"], values["eos"], values["image"]):
        target = root
        for key in keys:
            target = target[key]
        target.error(message)
    values["autoscaler"] = _autoscaler(root["autoscaler"], values["workers"])
    if values["autoscaler"] is not None and EL7_IMAGE.search(values["image"] or ""):
        root["image"].error(f"{values['image']!r} is an EL7 image (CernVM 4, CentOS 7): the elastic "
                            "scaler needs Python >= 3.10 on the head, which EL7 cannot install; "
                            "use a CernVM 5 or EL9 image, or set relval:autoscaler.enabled: false")

    if problems:
        raise RelvalError(problems.messages)
    return StackConfig(**values)


def _metadata_string(f: Field, required: bool) -> str | None:
    value = f.string(required=required)
    if value is None:
        return None
    if len(value) > NOVA_METADATA_MAX:
        f.error(f"must be at most {NOVA_METADATA_MAX} characters (Nova metadata limit; got {len(value)})")
    elif not RELEASE_RE.match(value):
        # It lands in Nova metadata, condor config and shell scripts: keep it inert there.
        f.error(f"must use only letters, digits, spaces and _.:/@+,=- (got {value!r})")
    return value


def _ssh_user(f: Field) -> str:
    value = f.string(default="relval")
    if value is not None and not USER_RE.match(value):
        f.error(f"must be a valid Linux user name (got {value!r})")
    return value or "relval"


def _ssh_access(root: Field) -> tuple[str | None, str | None]:
    key_field, pair_field = root["sshPublicKey"], root["keypair"]
    public_key, keypair = key_field.string(), pair_field.string()
    if public_key is not None and keypair is not None:
        key_field.error("and relval:keypair are exclusive: give exactly one")
    elif not key_field.present and not pair_field.present:
        key_field.error("or relval:keypair is required: give exactly one")
    if public_key is not None:
        _check_public_key(key_field, public_key)
    return public_key, keypair


def _check_public_key(f: Field, value: str) -> None:
    parts = value.split()
    if len(parts) < 2 or parts[0] not in SSH_KEY_TYPES:
        f.error("must be an OpenSSH public key ('ssh-ed25519 AAAA... comment')")
        return
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except (binascii.Error, ValueError):
        f.error("has a key body that is not valid base64")
        return
    # The blob starts with the key type as a length-prefixed string.
    if blob[4:4 + len(parts[0])] != parts[0].encode():
        f.error(f"has a key body that does not match its type {parts[0]!r}")


def _cidrs(f: Field, allow_world: bool) -> tuple[str, ...]:
    cidrs: list[str] = []
    for item in f.items():
        value = item.string(required=True)
        if value is None:
            continue
        try:
            network = ipaddress.ip_network(value, strict=True)
        except ValueError as exc:
            if "host bits set" in str(exc):
                fixed = ipaddress.ip_network(value, strict=False)
                item.error(f"has host bits set (got {value!r}; did you mean '{fixed}'?)")
            else:
                item.error(f"is not a valid CIDR (got {value!r})")
            continue
        if network.prefixlen == 0 and not allow_world:
            item.error(f"opens SSH to the whole internet ({value}); "
                       "set relval:allowSshFromAnywhere: true if you really mean it")
            continue
        if str(network) in cidrs:
            item.error(f"repeats {network} (OpenStack rejects duplicate rules)")
            continue
        cidrs.append(str(network))
    return tuple(cidrs)


def _workers(f: Field) -> Workers:
    if not f.mapping(allowed=("initial", "min", "max")):
        return Workers()
    minimum = f["min"].integer(default=Workers.min, minimum=0)
    initial = f["initial"].integer(default=max(Workers.initial, minimum or 0), minimum=0)
    maximum = f["max"].integer(default=max(Workers.max, initial or 0), minimum=1)
    if None in (minimum, initial, maximum):
        return Workers()
    if minimum > initial:
        f["min"].error(f"must be <= {f['initial'].path} (got {minimum} > {initial})")
    if initial > maximum:
        f["initial"].error(f"must be <= {f['max'].path} (got {initial} > {maximum})")
    return Workers(initial=initial, min=minimum, max=maximum)


def _volumes(f: Field) -> tuple[Volume, ...]:
    volumes: list[Volume] = []
    names: set[str] = set()
    mounts: set[tuple[str, str]] = set()
    for item in f.items():
        if not item.mapping(required=True,
                            allowed=("name", "sizeGb", "mountPoint", "role", "volumeType")):
            continue
        name = item["name"].string(required=True)
        size = item["sizeGb"].integer(required=True, minimum=1)
        mount = item["mountPoint"].string(required=True)
        role = item["role"].string(required=True, choices=VOLUME_ROLES)
        volume_type = item["volumeType"].string()
        if name is not None:
            if not NAME_RE.match(name):
                item["name"].error(f"must be lowercase letters, digits and '-' (got {name!r})")
            elif name in names:
                item["name"].error(f"repeats volume name {name!r}")
            names.add(name)
        if mount is not None:
            mount = _check_mount(item["mountPoint"], mount)
            if mount is not None and role is not None:
                if (role, mount) in mounts:
                    item["mountPoint"].error(f"repeats {mount} for role {role}")
                mounts.add((role, mount))
        if None not in (name, size, mount, role):
            volumes.append(Volume(name, size, mount, role, volume_type))
    return tuple(volumes)


def _check_mount(f: Field, mount: str) -> str | None:
    normalized = "/" + "/".join(p for p in mount.split("/") if p)
    if not mount.startswith("/") or ".." in mount.split("/"):
        f.error(f"must be an absolute path without '..' (got {mount!r})")
        return None
    if normalized in RESERVED_MOUNTS:
        f.error(f"must not be a system directory (got {mount!r})")
        return None
    if any(c.isspace() for c in mount):
        f.error(f"must not contain whitespace (got {mount!r})")
        return None
    return normalized


def _autoscaler(f: Field, workers: Workers) -> Autoscaler | None:
    if not f.mapping(allowed=(*AUTOSCALER_KEYS, *AUTOSCALER_ACCESS_KEYS)):
        return None
    policy = {k: v for k, v in f.value.items() if k in AUTOSCALER_KEYS}
    try:
        scaler = parse_stack_autoscaler(policy, workers.min, workers.max, stack="")
    except RelvalError as error:
        f.problems.messages.extend(error.problems)
        return None
    if not scaler.enabled:
        return None
    # With a scaler, the scaler owns every worker: workers.initial are its first boots.
    scaler = replace(scaler, initial=workers.initial)
    access = {key: f[key].string() for key in ("authUrl", "region", "applicationCredentialId",
                                                 "applicationCredentialSecret", "ec2AccessKeyId",
                                                 "ec2SecretAccessKey")}
    settings = Autoscaler(scaler, access["authUrl"], access["region"],
                          access["applicationCredentialId"], access["applicationCredentialSecret"],
                          ec2_access_key_id=access["ec2AccessKeyId"],
                          ec2_secret_access_key=access["ec2SecretAccessKey"])
    if scaler.driver == "openstack":
        if access["authUrl"] is None:
            f["authUrl"].error("is required when the scaler is enabled: the Keystone v3 URL the "
                               "head authenticates against (e.g. https://keystone.cern.ch/v3)")
        elif not re.match(r"^https?://", access["authUrl"]):
            f["authUrl"].error(f"must be an http(s) URL (got {access['authUrl']!r})")
        given = [k for k in ("applicationCredentialId", "applicationCredentialSecret") if access[k]]
        if scaler.create_application_credential and given:
            f["createApplicationCredential"].error(
                "and relval:autoscaler.applicationCredentialId/Secret are exclusive")
        elif not scaler.create_application_credential and len(given) != 2:
            f.error("needs cloud credentials for the head: set createApplicationCredential: true, "
                    "or both applicationCredentialId and applicationCredentialSecret (as a secret)")
    else:
        settings = _ec2_access(f, settings)
    return settings


def _ec2_access(f: Field, settings: Autoscaler) -> Autoscaler:
    from dataclasses import replace

    ec2 = f["ec2"]
    allowed = ("region", "endpointUrl", "imageId", "instanceType", "subnetId",
               "securityGroupIds", "keyName")
    if not ec2.mapping(required=True, allowed=allowed):
        return settings
    groups = tuple(v for v in (i.string(required=True) for i in ec2["securityGroupIds"].items()) if v)
    if not (settings.ec2_access_key_id and settings.ec2_secret_access_key):
        f.error("with driver ec2 needs ec2AccessKeyId and ec2SecretAccessKey (as a secret)")
    return replace(settings, ec2=Ec2Settings(
        region=ec2["region"].string(required=True), endpoint_url=ec2["endpointUrl"].string(),
        image_id=ec2["imageId"].string(required=True),
        instance_type=ec2["instanceType"].string(required=True),
        subnet_id=ec2["subnetId"].string(), security_group_ids=groups,
        key_name=ec2["keyName"].string()))
