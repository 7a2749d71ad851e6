"""Secrets that Pulumi generates and keeps encrypted in the stack state."""

from __future__ import annotations

import pulumi
import pulumi_openstack as openstack
import pulumi_random as random
import pulumi_tls as tls

from .base import RelvalComponent
from .config import StackConfig


class Credentials(RelvalComponent):
    """Creates:
    - `random.RandomPassword`: the HTCondor pool signing key (IDTOKENS), a Pulumi secret;
    - `tls.PrivateKey` (ED25519): the head's SSH host key; its public half is the
      `headHostPublicKey` output that clients pin, the private half stays secret;
    - `identity.ApplicationCredential` for the elastic scaler on the head, when
      `relval:autoscaler.createApplicationCredential` is set (else the configured one is used).
    """

    kind = "Credentials"

    def __init__(self, name: str, cfg: StackConfig, stack: str,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__(name, opts)
        # Alphanumeric only: condor stores the key XOR-scrambled with high-bit bytes,
        # so ASCII input never yields a NUL that would truncate it.
        self.signing_key = random.RandomPassword(
            f"{name}-condor-signing-key", length=64, special=False, opts=self.child())
        self.head_host_key = tls.PrivateKey(
            f"{name}-head-host-key", algorithm="ED25519", opts=self.child())

        scaler = cfg.autoscaler
        self.scaler_credential_id: pulumi.Input[str] | None = None
        self.scaler_credential_secret: pulumi.Input[str] | None = None
        if scaler is not None and scaler.scaler.driver == "openstack":
            if scaler.scaler.create_application_credential:
                credential = openstack.identity.ApplicationCredential(
                    f"{name}-autoscaler", name=f"{stack}-autoscaler",
                    description=f"relval elastic scaler of stack {stack} (head node only)",
                    unrestricted=False, opts=self.child(additional_secret_outputs=["secret"]))
                self.scaler_credential_id = credential.id
                self.scaler_credential_secret = pulumi.Output.secret(credential.secret)
            else:
                self.scaler_credential_id = scaler.credential_id
                self.scaler_credential_secret = pulumi.Output.secret(scaler.credential_secret)
        self.register_outputs({"headHostPublicKey": self.head_host_key.public_key_openssh})
