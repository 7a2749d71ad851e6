"""The typed stack config that the Pulumi program (`infra/`) and the node
contextualization (`cloudinit/`) both read; it imports neither of them."""

from .model import StackConfig, Volume, Workers, parse_stack_config

__all__ = ["StackConfig", "Volume", "Workers", "parse_stack_config"]
