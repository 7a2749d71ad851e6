"""Kept importable for existing callers: see `relval.stackconfig.nodes`."""

from relval.stackconfig.nodes import *  # noqa: F401,F403
