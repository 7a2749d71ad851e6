"""What the head needs to run the elastic scaler, from the stack config and resolved facts.

Pure: Pulumi resolves the ids and secrets first (see `userdata.py`).
"""

from __future__ import annotations

import base64
from dataclasses import replace
from functools import lru_cache

import yaml

from relval.autoscaler.bundle import DAEMON_REQUIREMENTS, EC2_REQUIREMENTS, bundle_gzip_b64
from relval.autoscaler.config import OpenStackSettings, WorkerVolume, daemon_config_document
from relval.autoscaler.live_config import LIVE_FIELDS
from relval.cloudinit import AutoscalerFacts

from .config import StackConfig

CLOUDS_YAML = "/etc/relval/clouds.yaml"
AWS_CREDENTIALS = "/etc/relval/aws-credentials"
CLOUD_ENTRY = "relval"


@lru_cache(maxsize=1)
def _bundle_b64() -> str:
    return bundle_gzip_b64()


def autoscaler_facts(cfg: StackConfig, stack: str, worker_user_data: str, server_group_id: str,
                     key_name: str, credential_id: str | None,
                     credential_secret: str | None, security_group_id: str,
                     image_id: str | None = None) -> AutoscalerFacts:
    settings = cfg.autoscaler
    assert settings is not None
    # The server group id is the stack's unique identity (`relval-stack-id`).
    scaler = replace(settings.scaler, stack=stack, stack_id=server_group_id)
    if scaler.driver == "openstack":
        openstack = OpenStackSettings(
            # The id the stack's own instances boot from, not the name resolved again.
            cloud=CLOUD_ENTRY, clouds_yaml=CLOUDS_YAML, image=image_id or cfg.image,
            flavor=cfg.worker_flavor,
            network=cfg.network, server_group=server_group_id,
            availability_zone=cfg.availability_zone, keypair=key_name,
            security_groups=(security_group_id,),
            # Every worker it boots gets the worker volumes, made and deleted with it.
            volumes=tuple(WorkerVolume(v.name, v.size_gb, v.volume_type)
                          for v in cfg.volumes_for("worker")))
        document = daemon_config_document(scaler, cfg.release, openstack=openstack)
        cloud = {"auth_type": "v3applicationcredential", "identity_api_version": 3,
                 "auth": {"auth_url": settings.auth_url,
                          "application_credential_id": credential_id,
                          "application_credential_secret": credential_secret}}
        if settings.region:
            cloud["region_name"] = settings.region
        credentials = ((CLOUDS_YAML, yaml.safe_dump({"clouds": {CLOUD_ENTRY: cloud}},
                                                    sort_keys=False)),)
        environment = (("OS_CLIENT_CONFIG_FILE", CLOUDS_YAML),)
        requirements = DAEMON_REQUIREMENTS
    else:
        document = daemon_config_document(scaler, cfg.release, ec2=settings.ec2)
        credentials = ((AWS_CREDENTIALS, "[default]\n"
                        f"aws_access_key_id = {settings.ec2_access_key_id}\n"
                        f"aws_secret_access_key = {settings.ec2_secret_access_key}\n"),)
        environment = (("AWS_SHARED_CREDENTIALS_FILE", AWS_CREDENTIALS),)
        requirements = DAEMON_REQUIREMENTS + EC2_REQUIREMENTS
    # The knobs and the pool bounds travel in the head's metadata (`live_config`), not in
    # its user-data: a change must update the running scaler, not replace the head.
    for key in ("workers", *(k for name, k in LIVE_FIELDS.items() if name != "enabled")):
        document.pop(key, None)
    return AutoscalerFacts(
        config_yaml=yaml.safe_dump(document, sort_keys=False),
        worker_user_data=worker_user_data,
        bundle_b64=_bundle_b64(),
        requirements=requirements,
        credentials=credentials,
        environment=environment,
    )
