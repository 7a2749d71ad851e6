"""What a simulated cloud is configured with: delays, quotas, the one project and user."""

from __future__ import annotations

from dataclasses import dataclass, field

# The upstream defaults (nova, neutron and cinder quota options), so a rehearsal hits the
# limits a fresh project on a real cloud would.
DEFAULT_QUOTAS = {
    # nova
    "instances": 10, "cores": 20, "ram": 51200, "key_pairs": 100, "server_groups": 10,
    "server_group_members": 10, "metadata_items": 128,
    # neutron
    "network": 100, "subnet": 100, "port": 500, "floatingip": 50, "security_group": 10,
    "security_group_rule": 100,
    # cinder
    "volumes": 10, "gigabytes": 1000,
}

# Nova's microversion range as of 2024.1 (Caracal); cinder's as of 2023.2.
COMPUTE_MIN, COMPUTE_MAX = "2.1", "2.96"
VOLUME_MIN, VOLUME_MAX = "3.0", "3.70"


@dataclass
class Settings:
    """Times are in seconds. Change them at run time through PUT /_sim/config."""

    boot_delay: float = 1.0        # BUILD -> ACTIVE
    delete_delay: float = 1.0      # a deleted server stays visible (task_state deleting)
    volume_delay: float = 0.5      # creating -> available, attaching -> in-use, detaching, deleting
    region: str = "RegionOne"
    availability_zones: tuple[str, ...] = ("nova",)
    quotas: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_QUOTAS))
    username: str = "relval"
    password: str = "relval-secret"
    project_name: str = "relval"
    domain: str = "Default"
    # Fixed ids make a rehearsal's clouds.yaml stable across runs.
    user_id: str = "5f1a0d2a2d5e4c7f9a3b1c0d9e8f7a61"
    project_id: str = "8c2b7a1e4f6d4b3a9c5e0d1f2a3b4c5d"

    def update(self, values: dict) -> None:
        """Apply a partial update, refusing unknown keys (one message naming the key)."""
        for key, value in values.items():
            if key == "quotas":
                unknown = set(value) - set(DEFAULT_QUOTAS)
                if unknown:
                    raise ValueError(f"unknown quota: {min(unknown)}")
                self.quotas.update({k: int(v) for k, v in value.items()})
            elif key in ("boot_delay", "delete_delay", "volume_delay"):
                if float(value) < 0:
                    raise ValueError(f"{key} must be >= 0")
                setattr(self, key, float(value))
            elif key == "availability_zones":
                self.availability_zones = tuple(value)
            else:
                raise ValueError(f"unknown setting: {key}")

    def public(self) -> dict:
        return {"boot_delay": self.boot_delay, "delete_delay": self.delete_delay,
                "volume_delay": self.volume_delay, "region": self.region,
                "availability_zones": list(self.availability_zones), "quotas": dict(self.quotas)}
