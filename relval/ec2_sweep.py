"""The workers a stack's scaler booted on EC2, for `relval down`.

A stack whose elastic scaler bursts onto EC2 (`relval:autoscaler.ec2`) has VMs that no
OpenStack listing shows: instances tagged `relval-stack=<stack>`. They are swept with
the OpenStack resources (`Combined`), so `relval down` is clean only when both clouds
are. Credentials come from boto3's usual chain (AWS_* variables, a profile); missing or
refused ones are one line with exit 2, any other failed call leaves the kind unlisted.
"""

from __future__ import annotations

from relval.autoscaler.adapters.ec2 import Ec2Cloud
from relval.autoscaler.model import GONE
from relval.autoscaler.teardown import Resource
from relval.errors import RelvalError

CREDENTIAL_ERRORS = ("AuthFailure", "InvalidClientTokenId", "UnrecognizedClientException",
                     "SignatureDoesNotMatch")
CREDENTIALS_HINT = ("set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) for the EC2 "
                    "endpoint the stack's scaler uses")


def _credential_problem(error: BaseException) -> str | None:
    from botocore.exceptions import ClientError, NoCredentialsError, PartialCredentialsError

    if isinstance(error, (NoCredentialsError, PartialCredentialsError)):
        return f"no EC2 credentials ({error}); {CREDENTIALS_HINT}"
    if isinstance(error, ClientError) and error.response.get("Error", {}).get("Code") in CREDENTIAL_ERRORS:
        return f"EC2 refused the credentials ({error.response['Error']['Code']}); {CREDENTIALS_HINT}"
    return None


class Ec2StackResources:
    """`StackResources` over the scaler's own EC2 adapter: only servers live there."""

    def __init__(self, client, stack: str):
        self.cloud = Ec2Cloud(client, stack, image_id="", instance_type="")

    def _checked(self, fn):
        try:
            return fn()
        except Exception as error:  # noqa: BLE001 - the adapter wraps botocore's errors
            problem = _credential_problem(error.__cause__ or error)
            if problem is not None:
                raise RelvalError(problem) from None
            raise

    def list(self, kind: str) -> list[Resource]:
        if kind != "server":
            return []
        # shutting-down counts as gone: EC2 finishes a terminate by itself.
        return [Resource("server", w.id, w.name)
                for w in self._checked(self.cloud.list_workers) if w.status != GONE]

    def delete(self, kind: str, resource_id: str) -> None:
        self._checked(lambda: self.cloud.delete_worker(resource_id))


def ec2_resources(settings, stack: str) -> Ec2StackResources:
    """For the endpoint and region in the stack's `relval:autoscaler.ec2`."""
    import boto3
    from botocore.config import Config

    # A bounded wait: a dead endpoint must end as "could not list", not hang the teardown.
    config = Config(connect_timeout=10, read_timeout=30, retries={"max_attempts": 3, "mode": "standard"})
    # A fresh session: boto3's default one caches the credentials it found first.
    client = boto3.session.Session().client("ec2", region_name=settings.region,
                                            endpoint_url=settings.endpoint_url, config=config)
    return Ec2StackResources(client, stack)


class Combined:
    """Several clouds' resources as one: lists concatenate, a delete goes to the cloud that
    listed the id."""

    def __init__(self, parts: list):
        self.parts = parts
        self._owner: dict[tuple[str, str], object] = {}

    def list(self, kind: str) -> list[Resource]:
        found = []
        for part in self.parts:
            for resource in part.list(kind):
                self._owner[(kind, resource.id)] = part
                found.append(resource)
        return found

    def delete(self, kind: str, resource_id: str) -> None:
        self._owner[(kind, resource_id)].delete(kind, resource_id)
