"""Kept importable for existing callers: the stack-config model lives in
`relval.stackconfig` (read by both `infra/` and `cloudinit/`)."""

from relval.stackconfig.model import *  # noqa: F401,F403
from relval.stackconfig.model import (AUTOSCALER_ACCESS_KEYS, KEYS, NAMESPACE, REQUIRED,  # noqa: F401
                                      SECRET_VALUES, Autoscaler, StackConfig, Volume, Workers,
                                      key_name, parse_stack_config)
