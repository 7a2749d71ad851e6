"""Secrets that Pulumi generates and keeps encrypted in the stack state."""

from __future__ import annotations

import pulumi
import pulumi_random as random
import pulumi_tls as tls

from .base import RelvalComponent


class Credentials(RelvalComponent):
    """Creates:
    - `random.RandomPassword`: the HTCondor pool signing key (IDTOKENS), a Pulumi secret;
    - `tls.PrivateKey` (ED25519): the head's SSH host key; its public half is the
      `headHostPublicKey` output that clients pin, the private half stays secret.
    """

    kind = "Credentials"

    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None):
        super().__init__(name, opts)
        # Alphanumeric only: condor stores the key XOR-scrambled with high-bit bytes,
        # so ASCII input never yields a NUL that would truncate it.
        self.signing_key = random.RandomPassword(
            f"{name}-condor-signing-key", length=64, special=False, opts=self.child())
        self.head_host_key = tls.PrivateKey(
            f"{name}-head-host-key", algorithm="ED25519", opts=self.child())
        self.register_outputs({"headHostPublicKey": self.head_host_key.public_key_openssh})
