"""Pulumi entry point (`main: infra/` in Pulumi.yaml): validate, build, export."""

import pulumi

from relval.errors import RelvalError
from relval.infra.cluster import build_cluster
from relval.infra.config import parse_stack_config
from relval.infra.config_source import from_pulumi_runtime

try:
    raw = from_pulumi_runtime()
    config = parse_stack_config(raw.values, raw.secret_keys)
except RelvalError as error:
    # RunError makes the engine print the messages without a Python traceback,
    # and nothing has been registered yet.
    raise pulumi.RunError("invalid stack config:\n  " + "\n  ".join(error.problems)) from None

for name, value in build_cluster(config, pulumi.get_stack()).items():
    pulumi.export(name, value)
