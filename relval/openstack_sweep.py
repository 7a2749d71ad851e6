"""A stack's OpenStack resources, found the way `infra/` marks them, for `relval down`.

- servers and volumes: metadata `relval-stack` (any role: head, workers, scaler-made);
- volumes Nova made with a stack's server (the scaler's workers get theirs through the
  block device mapping, which sets no metadata) and should have deleted with it
  (`delete_on_termination`): remembered from the server listing, swept once the server
  is gone and the volume is still there. A volume attached by hand is never touched;
- floating IPs, ports, security groups: the Neutron tag `relval-stack=<stack>`;
- keypair `<stack>-key`, server group `<stack>-workers`, application credential
  `<stack>-autoscaler`: these carry no metadata, so their stack-derived names;
  a keypair the stack only referenced (`relval:keypair`) is never touched.

Runs with the operator's credentials (OS_CLOUD + clouds.yaml, or OS_* variables).
Credentials that are missing or refused raise a RelvalError (exit 2, one line); any
other failed call is an AdapterError, which the sweep reports as "could not list".
"""

from __future__ import annotations

from typing import Callable

from relval.autoscaler.interfaces import CloudError
from relval.autoscaler.model import STACK_KEY
from relval.autoscaler.teardown import Resource
from relval.errors import RelvalError

CREDENTIALS_HINT = "set OS_CLOUD (with a clouds.yaml) or the OS_* variables of your project's openrc"


def stack_tag(stack: str) -> str:
    return f"relval-stack={stack}"  # infra.base.resource_tags


def credential_problem(error: BaseException) -> str | None:
    """A one-line reason when `error` means missing or refused credentials, else None."""
    from keystoneauth1 import exceptions as ks

    if isinstance(error, (ks.MissingRequiredOptions, ks.NoMatchingPlugin)):
        return f"no OpenStack credentials ({error}); {CREDENTIALS_HINT}"
    if isinstance(error, (ks.Unauthorized, ks.AuthorizationFailure)):
        return f"OpenStack refused the credentials ({type(error).__name__}); {CREDENTIALS_HINT}"
    from openstack import exceptions as sdk

    if isinstance(error, sdk.ConfigException):
        return f"OpenStack client configuration: {error}; {CREDENTIALS_HINT}"
    return None


def connect():
    """An authenticated openstacksdk connection, or a one-line RelvalError (exit 2)."""
    import openstack

    try:
        conn = openstack.connect()
        conn.authorize()  # fail here, once, rather than on the first listing
    except Exception as error:  # noqa: BLE001 - keystoneauth and the SDK raise many types
        problem = credential_problem(error)
        if problem is not None:
            raise RelvalError(problem) from None
        raise RelvalError(f"cannot reach OpenStack: {type(error).__name__}: {error}",
                          exit_code=3) from None
    return conn


class OpenStackStackResources:
    """`StackResources` over openstacksdk for one stack."""

    def __init__(self, conn, stack: str, keep_keypair: str | None = None):
        self.conn, self.stack, self.keep_keypair = conn, stack, keep_keypair
        self.servers: set[str] = set()            # of the stack, at the last listing
        self.nova_volumes: dict[str, str] = {}    # volume id -> its server (delete_on_termination)

    def _servers(self) -> list:
        servers = [s for s in self.conn.compute.servers(details=True)
                   if (s.metadata or {}).get(STACK_KEY) == self.stack]
        self.servers = {s.id for s in servers}
        for server in servers:
            for attached in server.attached_volumes or ():
                if attached.get("delete_on_termination"):
                    self.nova_volumes[attached["id"]] = server.id
        return servers

    def _volumes(self) -> list:
        def ours(volume) -> bool:
            server = self.nova_volumes.get(volume.id)
            return ((volume.metadata or {}).get(STACK_KEY) == self.stack
                    or (server is not None and server not in self.servers))

        return [v for v in self.conn.block_storage.volumes(details=True) if ours(v)]

    def scaler_cloud(self):
        """The scaler's own OpenStack adapter on this connection: `relval down` asks the
        scaler to stop through the same calls the scaler answers with."""
        from relval.autoscaler.adapters.openstack import OpenStackCloud

        return OpenStackCloud.for_teardown(self.conn, self.stack)

    def _call(self, what: str, fn: Callable):
        try:
            return fn()
        except Exception as error:  # noqa: BLE001
            problem = credential_problem(error)
            if problem is not None:
                raise RelvalError(problem) from None
            raise CloudError(f"{what}: {type(error).__name__}: {error}") from error

    def list(self, kind: str) -> list[Resource]:
        net, compute, tag = self.conn.network, self.conn.compute, stack_tag(self.stack)
        listers = {
            "server": self._servers,
            "volume": self._volumes,
            "floating_ip": lambda: list(net.ips(tags=tag)),
            "port": lambda: list(net.ports(tags=tag)),
            "security_group": lambda: list(net.security_groups(tags=tag)),
            "keypair": lambda: [k for k in compute.keypairs()
                                if k.name == f"{self.stack}-key" and k.name != self.keep_keypair],
            "server_group": lambda: [g for g in compute.server_groups()
                                     if g.name == f"{self.stack}-workers"],
            "application_credential": lambda: [
                c for c in self.conn.identity.application_credentials(user=self.conn.current_user_id)
                if c.name == f"{self.stack}-autoscaler"],
        }
        found = self._call(f"list {kind}", lambda: list(listers[kind]()))
        # Keypairs are known by name: their name is the id nova deletes them by.
        return [Resource(kind, r.name if kind == "keypair" else r.id, r.name or "") for r in found]

    def delete(self, kind: str, resource_id: str) -> None:
        net, compute = self.conn.network, self.conn.compute
        deleters = {
            "server": lambda: compute.delete_server(resource_id, ignore_missing=True),
            "volume": lambda: self.conn.block_storage.delete_volume(resource_id, ignore_missing=True),
            "floating_ip": lambda: net.delete_ip(resource_id, ignore_missing=True),
            "port": lambda: net.delete_port(resource_id, ignore_missing=True),
            "security_group": lambda: net.delete_security_group(resource_id, ignore_missing=True),
            "keypair": lambda: compute.delete_keypair(resource_id, ignore_missing=True),
            "server_group": lambda: compute.delete_server_group(resource_id, ignore_missing=True),
            "application_credential": lambda: self.conn.identity.delete_application_credential(
                self.conn.current_user_id, resource_id, ignore_missing=True),
        }
        self._call(f"delete {kind} {resource_id}", deleters[kind])
