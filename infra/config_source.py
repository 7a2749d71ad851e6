"""Where raw `relval:` config comes from: the Pulumi engine, or a stack file.

Pulumi hands a program every config value as a string, with objects and
lists JSON-encoded. A `Pulumi.<stack>.yaml` holds them as YAML. Both are
brought to the same shape here: a dict of key (without namespace) -> value.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from relval.errors import RelvalError
from relval.fields import load_yaml

from .config import NAMESPACE, StackConfig

SECRET_PLACEHOLDER = "[secret]"


@dataclass(frozen=True)
class RawConfig:
    values: dict[str, Any]
    secret_keys: frozenset[str] = frozenset()


def _decode(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def from_flat(flat: dict[str, Any], secret_keys: frozenset[str] = frozenset()) -> RawConfig:
    """`{"relval:workers": "{...}", "openstack:cloud": ...}` -> relval keys only."""
    prefix = NAMESPACE + ":"
    values = {k[len(prefix):]: _decode(v) for k, v in flat.items() if k.startswith(prefix)}
    secrets = frozenset(k[len(prefix):] for k in secret_keys if k.startswith(prefix))
    return RawConfig(values, secrets)


def from_pulumi_runtime() -> RawConfig:
    """The config of the running Pulumi program (set by the engine)."""
    from pulumi.runtime import config as runtime_config

    # The SDK offers no public "all keys" accessor; unknown-key detection needs it.
    flat = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    secret_keys = frozenset(runtime_config.get_config_secret_keys_env()) | frozenset(
        runtime_config._SECRET_KEYS.get())
    return from_flat(flat, secret_keys)


def from_stack_file(path: Path) -> RawConfig:
    """Read a `Pulumi.<stack>.yaml`; `secure:` values become placeholders marked secret."""
    return from_stack_document(load_yaml(path, "stack file"), path)


def from_stack_document(document: Any, path: Path | str) -> RawConfig:
    """The relval config of an already-parsed stack file (`path` names it in errors)."""
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise RelvalError(f"{path}: must be a mapping with a 'config:' section")
    config = document.get("config") or {}
    if not isinstance(config, dict):
        raise RelvalError(f"{path}: 'config' must be a mapping of key: value")
    flat: dict[str, Any] = {}
    secrets: set[str] = set()
    for key, value in config.items():
        value, secret = _mask_secure(value)
        if secret:
            secrets.add(key)
        flat[str(key)] = value
    return from_flat(flat, frozenset(secrets))


def _mask_secure(value: Any) -> tuple[Any, bool]:
    """Encrypted values (`{secure: ...}`, also nested inside objects) become placeholders:
    they cannot be decrypted offline."""
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            return SECRET_PLACEHOLDER, True
        items = {k: _mask_secure(v) for k, v in value.items()}
        return {k: v for k, (v, _) in items.items()}, any(s for _, s in items.values())
    if isinstance(value, list):
        items = [_mask_secure(v) for v in value]
        return [v for v, _ in items], any(s for _, s in items)
    return value, False


def load_stack(stack: str | None = None, config_file: Path | None = None) -> tuple[str, StackConfig]:
    """Resolve the stack name and its validated config from a stack file.

    `config_file` may be any file in the `Pulumi.<stack>.yaml` format; the stack
    name then comes from `stack`, else from the file name.
    """
    from relval import project

    from .config import parse_stack_config

    if config_file is None:
        stack = project.resolve_stack(stack)
        path = project.stack_file(stack)
        if not path.is_file():
            known = ", ".join(project.known_stacks()) or "none"
            raise RelvalError(f"{path.name}: no such stack file (stacks here: {known})")
    else:
        path = Path(config_file)
        if stack is None:
            name = path.name
            stack = name[len("Pulumi."):-len(".yaml")] if (
                name.startswith("Pulumi.") and name.endswith(".yaml")) else path.stem
    raw = from_stack_file(path)
    try:
        return stack, parse_stack_config(raw.values, raw.secret_keys)
    except RelvalError as error:
        raise RelvalError([f"{path.name}: {p}" for p in error.problems]) from None
