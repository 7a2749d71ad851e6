"""The scaler's validated config: the `relval:autoscaler` stack keys and the daemon's file.

Stack keys (`relval:autoscaler`, camelCase, every one optional; `AUTOSCALER_KEYS`
holds the defaults and Pulumi.yaml documents them):

    enabled: true              # install and run the scaler on the head node
    pollSeconds: 15            # one observe -> decide -> apply cycle every N s
    idleTimeout: 600           # a worker idle this long is drained, then deleted
    bootTimeout: 900           # a VM still in BUILD after this is deleted and replaced
    joinTimeout: 600           # an ACTIVE VM whose startd has not joined by then: same
    maxConcurrentBoots: 20     # VMs booting (BUILD or not yet joined) at any one time
    failureWindow: 1800        # the circuit breaker looks at boots launched this recently
    failureRateLimit: 0.5      # ... and stops booting when more than this share failed
    failureMinSamples: 5       # ... once at least this many boots have an outcome
    backoffSeconds: 15         # replacing a failed boot waits backoffSeconds * 2**(n-1), n the
                               # failed boots in a row (cloud-wide, in launch order)
    backoffMaxSeconds: 600     # ... capped here
    adaptiveTimeouts: true     # tighten boot/join timeouts to 1.5x the p90 of recent successful
                               # boots (never below 180 s, never above the values above)
    startdUpdateInterval: 60   # the workers' condor UPDATE_INTERVAL (the rendered worker config
                               # sets 60; condor's own default is 300): a restarted collector is
                               # empty this long, so the join timeout is never below twice it,
                               # and a joined worker missing from the collector is "lost" only
                               # after twice it; never set it below the workers' value
    transientTimeout: 3600     # a VM in a transient cloud state (MIGRATING, RESIZE, ...) is
                               # waited for this long before an alert; it is never a failure
    deleteTimeout: 600         # a VM still listed this long after its delete is "stuck in
                               # deletion": an alert (the delete is re-sent meanwhile); it is
                               # never a boot nor a worker
    driver: openstack          # openstack (nova, openstacksdk) or ec2 (boto3)
    createApplicationCredential: false   # infra: let Pulumi create the OpenStack credential

`min` and `max` come from `relval:workers`.

Daemon config file (`relval autoscale run --config /etc/relval/autoscaler.yaml`), YAML,
rendered by the head's cloud-init. The scaler keys above sit at the top level, plus:

    stack: alice-relval                # required: the `relval-stack` metadata value
    stackId: 7f0c...                   # the stack's unique id (`relval-stack-id` metadata):
                                       # workers must carry it too to be this scaler's
    stopFile: /var/lib/relval-autoscaler/stop   # present: stop for good (teardown)
    release: O2PDPSuite::nightly-...   # put into new workers' metadata
    workers: {min: 1, max: 20, initial: 0}   # initial: the scaler's first boots
    flavor: {cores: 8, ramMb: 14600}   # worker size for packing jobs; leave out to read it
                                       # from the cloud (nova flavor / EC2 instance type)
    stateFile: /var/lib/relval-autoscaler/state.json
    metricsFile: /var/lib/relval-autoscaler/metrics.prom   # Prometheus text format
    metricsPort: null                  # or serve the same text over HTTP on this port
    condor: {schedd: null, collector: null}   # null: the local daemons of the head node
    userDataFile: /etc/relval/worker-user-data   # the workers' cloud-config (no credentials)
    openstack:                         # when driver: openstack
      cloud: relval                    # entry in clouds.yaml (an application credential)
      cloudsYaml: /etc/relval/clouds.yaml
      image: cernvm4-micro-2020.07-1
      flavor: m2.xlarge
      network: alice-relval-net
      serverGroup: null                # id of the workers' server group (optional)
      availabilityZone: null
      keypair: null
      securityGroups: []
      volumes: []                      # [{name, sizeGb, volumeType?}]: blank volumes each
                                       # worker gets at boot, deleted with it
    ec2:                               # when driver: ec2
      region: eu-west-1
      endpointUrl: null                # an EC2-compatible endpoint
      imageId: ami-...
      instanceType: m5.2xlarge
      subnetId: null
      securityGroupIds: []
      keyName: null
      # credentials: the usual boto3 chain (AWS_* variables or ~/.aws of the service user)

`daemon_config_document()` builds this mapping from a ScalerConfig and the cloud settings.

The systemd unit runs `relval autoscale run --config /etc/relval/autoscaler.yaml` (add the
global option before the sub-command for a log file: `relval --log-file F autoscale run ...`;
otherwise the log goes to stderr, i.e. the journal). It needs: the clouds.yaml entry above
(an OpenStack application credential; `OS_CLIENT_CONFIG_FILE` works too when `cloudsYaml`
is unset), the head's condor config (it queries the local schedd and collector), and to
run as root or condor so that drains are authorised (ADMINISTRATOR on the workers'
startds). Workers never get any of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from relval.errors import RelvalError
from relval.fields import Field, Problems

DRIVERS = ("openstack", "ec2")

# Every `relval:autoscaler` key with its default.
AUTOSCALER_KEYS: dict[str, Any] = {
    "enabled": True,
    "pollSeconds": 15,
    "idleTimeout": 600,
    "bootTimeout": 900,
    "joinTimeout": 600,
    "maxConcurrentBoots": 20,
    "failureWindow": 1800,
    "failureRateLimit": 0.5,
    "failureMinSamples": 5,
    "backoffSeconds": 15,
    "backoffMaxSeconds": 600,
    "adaptiveTimeouts": True,
    "startdUpdateInterval": 60,
    "transientTimeout": 3600,
    "deleteTimeout": 600,
    "driver": "openstack",
    "createApplicationCredential": False,
}


@dataclass(frozen=True)
class Flavor:
    cores: int = 8
    ram_mb: int = 14600


@dataclass(frozen=True)
class ScalerConfig:
    """What `decide` needs: the policy knobs, the pool bounds and the worker size."""

    stack: str = "relval"
    stack_id: str = ""               # empty: ownership by the stack name alone (older stacks)
    min: int = 1
    max: int = 20
    initial: int = 0                 # the scaler's first boots (relval:workers.initial)
    flavor: Flavor = field(default_factory=Flavor)
    enabled: bool = True
    poll_seconds: float = 15
    idle_timeout: float = 600
    boot_timeout: float = 900
    join_timeout: float = 600
    max_concurrent_boots: int = 20
    failure_window: float = 1800
    failure_rate_limit: float = 0.5
    failure_min_samples: int = 5
    backoff_seconds: float = 15
    backoff_max_seconds: float = 600
    adaptive_timeouts: bool = True
    startd_update_interval: float = 60
    transient_timeout: float = 3600
    delete_timeout: float = 600
    driver: str = "openstack"
    create_application_credential: bool = False


@dataclass(frozen=True)
class WorkerVolume:
    """A blank Cinder volume each scaler-booted worker gets, made and deleted with it."""

    name: str
    size_gb: int
    volume_type: str | None = None


@dataclass(frozen=True)
class OpenStackSettings:
    cloud: str | None = None
    clouds_yaml: str | None = None
    image: str | None = None
    flavor: str | None = None
    network: str | None = None
    server_group: str | None = None
    availability_zone: str | None = None
    keypair: str | None = None
    security_groups: tuple[str, ...] = ()
    volumes: tuple[WorkerVolume, ...] = ()


@dataclass(frozen=True)
class Ec2Settings:
    region: str | None = None
    endpoint_url: str | None = None
    image_id: str | None = None
    instance_type: str | None = None
    subnet_id: str | None = None
    security_group_ids: tuple[str, ...] = ()
    key_name: str | None = None


@dataclass(frozen=True)
class DaemonConfig:
    """The whole daemon file: the scaler config plus where everything lives."""

    scaler: ScalerConfig
    release: str = ""
    state_file: str = "/var/lib/relval-autoscaler/state.json"
    metrics_file: str | None = "/var/lib/relval-autoscaler/metrics.prom"
    metrics_port: int | None = None
    schedd: str | None = None
    collector: str | None = None
    user_data_file: str | None = None
    openstack: OpenStackSettings = field(default_factory=OpenStackSettings)
    ec2: Ec2Settings = field(default_factory=Ec2Settings)
    flavor_from_cloud: bool = False   # `flavor` left out: ask the adapter at start
    stop_file: str | None = "/var/lib/relval-autoscaler/stop"


def _problems() -> Problems:
    return Problems(render=lambda path, message: f"{path} {message}")


def read_scaler_keys(f: Field) -> dict[str, Any]:
    """The `relval:autoscaler` keys of mapping `f` as ScalerConfig keyword arguments."""
    d = AUTOSCALER_KEYS
    values = {
        "enabled": f["enabled"].boolean(default=d["enabled"]),
        "poll_seconds": f["pollSeconds"].number(default=d["pollSeconds"], minimum=1),
        "idle_timeout": f["idleTimeout"].number(default=d["idleTimeout"], minimum=0),
        "boot_timeout": f["bootTimeout"].number(default=d["bootTimeout"], minimum=1),
        "join_timeout": f["joinTimeout"].number(default=d["joinTimeout"], minimum=1),
        "max_concurrent_boots": f["maxConcurrentBoots"].integer(
            default=d["maxConcurrentBoots"], minimum=1),
        "failure_window": f["failureWindow"].number(default=d["failureWindow"], minimum=1),
        "failure_rate_limit": f["failureRateLimit"].number(
            default=d["failureRateLimit"], minimum=0, maximum=1),
        "failure_min_samples": f["failureMinSamples"].integer(
            default=d["failureMinSamples"], minimum=1),
        "backoff_seconds": f["backoffSeconds"].number(default=d["backoffSeconds"], minimum=0),
        "backoff_max_seconds": f["backoffMaxSeconds"].number(
            default=d["backoffMaxSeconds"], minimum=0),
        "adaptive_timeouts": f["adaptiveTimeouts"].boolean(default=d["adaptiveTimeouts"]),
        "startd_update_interval": f["startdUpdateInterval"].number(
            default=d["startdUpdateInterval"], minimum=1),
        "transient_timeout": f["transientTimeout"].number(default=d["transientTimeout"],
                                                          minimum=1),
        "delete_timeout": f["deleteTimeout"].number(default=d["deleteTimeout"], minimum=1),
        "driver": f["driver"].string(default=d["driver"], choices=DRIVERS),
        "create_application_credential": f["createApplicationCredential"].boolean(
            default=d["createApplicationCredential"]),
    }
    return {k: v for k, v in values.items() if v is not None}


def parse_stack_autoscaler(raw: Any, workers_min: int, workers_max: int, stack: str,
                           flavor: Flavor = Flavor()) -> ScalerConfig:
    """Validate the value of `relval:autoscaler` (a mapping or absent)."""
    problems = _problems()
    f = Field(raw, "relval:autoscaler", problems)
    kwargs = read_scaler_keys(f) if f.mapping(allowed=AUTOSCALER_KEYS) else {}
    if problems:
        raise RelvalError(problems.messages)
    return ScalerConfig(stack=stack, min=workers_min, max=workers_max, flavor=flavor, **kwargs)


DAEMON_KEYS = tuple(AUTOSCALER_KEYS) + (
    "stack", "stackId", "stopFile", "release", "workers", "flavor", "stateFile", "metricsFile",
    "metricsPort",
    "condor", "userDataFile", "openstack", "ec2")


def parse_daemon_config(raw: Any, source: str = "config") -> DaemonConfig:
    """Validate the daemon's file; every problem is reported at once, each with its key."""
    problems = Problems(render=lambda path, message: f"{source}: {path} {message}")
    root = Field(raw, "", problems)
    if not root.mapping(required=True, allowed=DAEMON_KEYS):
        raise RelvalError(problems.messages or [f"{source}: must be a mapping"])
    scaler = read_scaler_keys(root)
    stack = root["stack"].string(required=True)
    wmin, wmax, winit = 1, 20, 0
    workers = root["workers"]
    if workers.mapping(allowed=("min", "max", "initial")):
        wmin = workers["min"].integer(default=1, minimum=0)
        wmax = workers["max"].integer(default=20, minimum=1)
        winit = workers["initial"].integer(default=0, minimum=0)
        if wmin is not None and wmax is not None and wmin > wmax:
            workers["min"].error(f"must be <= workers.max (got {wmin} > {wmax})")
    flavor, from_cloud = Flavor(), True
    fl = root["flavor"]
    if fl.mapping(allowed=("cores", "ramMb")):
        from_cloud = False
        flavor = Flavor(cores=fl["cores"].integer(required=True, minimum=1) or 1,
                        ram_mb=fl["ramMb"].integer(required=True, minimum=1) or 1)
    condor = root["condor"]
    schedd = collector = None
    if condor.mapping(allowed=("schedd", "collector")):
        schedd, collector = condor["schedd"].string(), condor["collector"].string()
    driver = scaler.get("driver", AUTOSCALER_KEYS["driver"])
    openstack = _openstack(root["openstack"], required=driver == "openstack")
    ec2 = _ec2(root["ec2"], required=driver == "ec2")
    config = DaemonConfig(
        scaler=ScalerConfig(stack=stack or "", stack_id=root["stackId"].string(default="") or "",
                            min=wmin if wmin is not None else 1,
                            max=wmax if wmax is not None else 20, initial=winit or 0,
                            flavor=flavor, **scaler),
        release=root["release"].string(default="") or "",
        state_file=root["stateFile"].string(default=DaemonConfig.state_file),
        metrics_file=root["metricsFile"].string(default=DaemonConfig.metrics_file),
        metrics_port=root["metricsPort"].integer(minimum=1, maximum=65535),
        stop_file=root["stopFile"].string(default=DaemonConfig.stop_file),
        schedd=schedd, collector=collector,
        user_data_file=root["userDataFile"].string(),
        openstack=openstack, ec2=ec2, flavor_from_cloud=from_cloud)
    if problems:
        raise RelvalError(problems.messages)
    return config


def _strings(f: Field) -> tuple[str, ...]:
    return tuple(v for v in (item.string(required=True) for item in f.items()) if v)


def _openstack(f: Field, required: bool) -> OpenStackSettings:
    allowed = ("cloud", "cloudsYaml", "image", "flavor", "network", "serverGroup",
               "availabilityZone", "keypair", "securityGroups", "volumes")
    if not f.mapping(required=required, allowed=allowed):
        return OpenStackSettings()
    return OpenStackSettings(
        cloud=f["cloud"].string(), clouds_yaml=f["cloudsYaml"].string(),
        image=f["image"].string(required=True), flavor=f["flavor"].string(required=True),
        network=f["network"].string(required=True), server_group=f["serverGroup"].string(),
        availability_zone=f["availabilityZone"].string(), keypair=f["keypair"].string(),
        security_groups=_strings(f["securityGroups"]), volumes=_volumes(f["volumes"]))


def _volumes(f: Field) -> tuple[WorkerVolume, ...]:
    volumes = []
    for item in f.items():
        if item.mapping(required=True, allowed=("name", "sizeGb", "volumeType")):
            name, size = item["name"].string(required=True), item["sizeGb"].integer(required=True, minimum=1)
            if name and size:
                volumes.append(WorkerVolume(name, size, item["volumeType"].string()))
    return tuple(volumes)


def _ec2(f: Field, required: bool) -> Ec2Settings:
    allowed = ("region", "endpointUrl", "imageId", "instanceType", "subnetId",
               "securityGroupIds", "keyName")
    if not f.mapping(required=required, allowed=allowed):
        return Ec2Settings()
    return Ec2Settings(
        region=f["region"].string(), endpoint_url=f["endpointUrl"].string(),
        image_id=f["imageId"].string(required=True),
        instance_type=f["instanceType"].string(required=True),
        subnet_id=f["subnetId"].string(), security_group_ids=_strings(f["securityGroupIds"]),
        key_name=f["keyName"].string())


# The inverse of read_scaler_keys: ScalerConfig field -> stack/file key.
_SCALER_FIELDS = {
    "enabled": "enabled", "poll_seconds": "pollSeconds", "idle_timeout": "idleTimeout",
    "boot_timeout": "bootTimeout", "join_timeout": "joinTimeout",
    "max_concurrent_boots": "maxConcurrentBoots", "failure_window": "failureWindow",
    "failure_rate_limit": "failureRateLimit", "failure_min_samples": "failureMinSamples",
    "backoff_seconds": "backoffSeconds", "backoff_max_seconds": "backoffMaxSeconds",
    "adaptive_timeouts": "adaptiveTimeouts", "startd_update_interval": "startdUpdateInterval",
    "transient_timeout": "transientTimeout", "delete_timeout": "deleteTimeout",
    "driver": "driver",
}


def daemon_config_document(scaler: ScalerConfig, release: str = "",
                           openstack: OpenStackSettings | None = None,
                           ec2: Ec2Settings | None = None, flavor_known: bool = False,
                           state_file: str = DaemonConfig.state_file,
                           metrics_file: str | None = DaemonConfig.metrics_file,
                           user_data_file: str | None = "/etc/relval/worker-user-data") -> dict:
    """The daemon's config file as a mapping (dump it with yaml.safe_dump).

    For the head's cloud-init: `parse_daemon_config` reads back exactly this.
    With `flavor_known=False` the daemon reads the worker size from the cloud.
    """
    doc: dict[str, Any] = {"stack": scaler.stack, "release": release,
                           "workers": {"min": scaler.min, "max": scaler.max,
                                       "initial": scaler.initial}}
    if scaler.stack_id:
        doc["stackId"] = scaler.stack_id
    doc.update({key: getattr(scaler, name) for name, key in _SCALER_FIELDS.items()})
    if flavor_known:
        doc["flavor"] = {"cores": scaler.flavor.cores, "ramMb": scaler.flavor.ram_mb}
    doc.update(stateFile=state_file, metricsFile=metrics_file, userDataFile=user_data_file)
    if openstack is not None:
        os_doc = {"cloud": openstack.cloud, "cloudsYaml": openstack.clouds_yaml,
                  "image": openstack.image, "flavor": openstack.flavor,
                  "network": openstack.network, "serverGroup": openstack.server_group,
                  "availabilityZone": openstack.availability_zone, "keypair": openstack.keypair,
                  "securityGroups": list(openstack.security_groups),
                  "volumes": [{"name": v.name, "sizeGb": v.size_gb,
                               **({"volumeType": v.volume_type} if v.volume_type else {})}
                              for v in openstack.volumes]}
        doc["openstack"] = {k: v for k, v in os_doc.items() if v not in (None, [])}
    if ec2 is not None:
        ec2_doc = {"region": ec2.region, "endpointUrl": ec2.endpoint_url, "imageId": ec2.image_id,
                   "instanceType": ec2.instance_type, "subnetId": ec2.subnet_id,
                   "securityGroupIds": list(ec2.security_group_ids), "keyName": ec2.key_name}
        doc["ec2"] = {k: v for k, v in ec2_doc.items() if v not in (None, [])}
    return doc
