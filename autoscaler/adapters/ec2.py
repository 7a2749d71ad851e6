"""EC2 (or an EC2-compatible endpoint) through boto3.

Workers are tagged at launch (TagSpecifications) with the same keys nova gets as
metadata, listed by the `relval-stack` tag, and terminated by id. Credentials come
from boto3's usual chain (environment, ~/.aws of the service user, instance role).
EC2 has no per-project instance quota in its API: `limits` reports use only.
"""

from __future__ import annotations

from datetime import datetime

from ..interfaces import CloudError
from ..model import ACTIVE, BUILD, ERROR, GONE, STACK_KEY, Limits, Worker

STATES = {"pending": BUILD, "running": ACTIVE, "stopping": ERROR, "stopped": ERROR,
          "shutting-down": GONE, "terminated": GONE}


def _tags(tags: list[dict] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in tags or []}


class Ec2Cloud:
    def __init__(self, client, stack: str, image_id: str, instance_type: str, user_data: str = "",
                 subnet_id: str | None = None, security_group_ids: tuple[str, ...] = (),
                 key_name: str | None = None):
        self.client, self.stack = client, stack
        self.image_id, self.instance_type, self.user_data = image_id, instance_type, user_data
        self.subnet_id, self.security_group_ids, self.key_name = subnet_id, security_group_ids, key_name

    @classmethod
    def from_settings(cls, settings, stack: str, user_data: str) -> "Ec2Cloud":
        import boto3
        client = boto3.client("ec2", region_name=settings.region, endpoint_url=settings.endpoint_url)
        return cls(client, stack, settings.image_id, settings.instance_type, user_data,
                   settings.subnet_id, settings.security_group_ids, settings.key_name)

    def worker_size(self) -> tuple[int, int]:
        """(vCPUs, memory MiB) of the instance type, for packing jobs."""
        reply = self._call("describe_instance_types", self.client.describe_instance_types,
                           InstanceTypes=[self.instance_type])
        info = reply["InstanceTypes"][0]
        return info["VCpuInfo"]["DefaultVCpus"], info["MemoryInfo"]["SizeInMiB"]

    def _call(self, what: str, fn, **kwargs):
        from botocore.exceptions import BotoCoreError, ClientError
        try:
            return fn(**kwargs)
        except (ClientError, BotoCoreError) as error:
            raise CloudError(f"{what}: {error}") from error

    def create_worker(self, name: str, metadata: dict[str, str]) -> str:
        tags = [{"Key": "Name", "Value": name}] + [{"Key": k, "Value": v} for k, v in metadata.items()]
        kwargs = {"ImageId": self.image_id, "InstanceType": self.instance_type,
                  "MinCount": 1, "MaxCount": 1, "UserData": self.user_data,
                  "TagSpecifications": [{"ResourceType": "instance", "Tags": tags}]}
        if self.subnet_id:
            kwargs["SubnetId"] = self.subnet_id
        if self.security_group_ids:
            kwargs["SecurityGroupIds"] = list(self.security_group_ids)
        if self.key_name:
            kwargs["KeyName"] = self.key_name
        reply = self._call("run_instances", self.client.run_instances, **kwargs)
        return reply["Instances"][0]["InstanceId"]

    def _instances(self) -> list[dict]:
        filters = [{"Name": f"tag:{STACK_KEY}", "Values": [self.stack]}]
        out, token = [], None
        while True:
            kwargs = {"Filters": filters, **({"NextToken": token} if token else {})}
            page = self._call("describe_instances", self.client.describe_instances, **kwargs)
            for reservation in page.get("Reservations", []):
                out.extend(reservation.get("Instances", []))
            token = page.get("NextToken")
            if not token:
                return out

    def list_workers(self) -> list[Worker]:
        workers = []
        for inst in self._instances():
            tags = _tags(inst.get("Tags"))
            launched = inst.get("LaunchTime")
            created = launched.timestamp() if isinstance(launched, datetime) else 0.0
            workers.append(Worker(inst["InstanceId"], tags.get("Name", ""),
                                  STATES.get(inst["State"]["Name"], ERROR), created, tags))
        return workers

    def delete_worker(self, worker_id: str) -> None:
        from botocore.exceptions import ClientError
        try:
            self.client.terminate_instances(InstanceIds=[worker_id])
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "InvalidInstanceID.NotFound":
                return
            raise CloudError(f"terminate_instances {worker_id}: {error}") from error

    def set_metadata(self, vm_id: str, metadata: dict[str, str]) -> None:
        self._call("create_tags", self.client.create_tags, Resources=[vm_id],
                   Tags=[{"Key": k, "Value": v} for k, v in metadata.items()])

    def limits(self) -> Limits:
        live = [w for w in self.list_workers() if w.status != GONE]
        return Limits(used_instances=len(live))
