"""The scaler's knobs as Nova metadata on the head: changed in place, read every cycle.

Why: the head's user-data is applied once, at its first boot, and the OpenStack provider
replaces an instance whose `user_data` changes (losing the schedd's queue). Metadata is
updated in place. So Pulumi writes each knob (`relval:autoscaler.*`) and the pool bounds
(`relval:workers.min`/`max`) as one metadata item of the head, `relval-scaler.<key>`, and
the scaler reads them from the head's listing at the start of every cycle: a change
reaches the running scaler within one `pollSeconds`.

Pure: both directions are plain functions over strings (Nova metadata values are strings
of at most 255 characters; one item per knob stays far below that and below the
128-item quota).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Mapping

import yaml

from relval.fields import Field, Problems

from .config import _SCALER_FIELDS, ScalerConfig, read_scaler_keys

PREFIX = "relval-scaler."
# The driver picks the cloud adapter at start: it stays in the daemon's file.
LIVE_FIELDS = {name: key for name, key in _SCALER_FIELDS.items() if name != "driver"}
BOUNDS = {"min": "workers.min", "max": "workers.max", "initial": "workers.initial"}


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def to_metadata(scaler: ScalerConfig) -> dict[str, str]:
    """The head's metadata items carrying the knobs and the pool bounds."""
    items = {PREFIX + key: _text(getattr(scaler, name)) for name, key in LIVE_FIELDS.items()}
    items.update({PREFIX + key: str(getattr(scaler, name)) for name, key in BOUNDS.items()})
    return items


def from_metadata(base: ScalerConfig, metadata: Mapping[str, str]) -> tuple[ScalerConfig, list[str]]:
    """`base` with every knob the head's metadata carries; (config, problems).

    A value that does not validate is left at `base`'s value and named in `problems`,
    so one bad item never stops the scaler nor resets the other knobs.
    """
    raw: dict[str, Any] = {}
    for item, text in metadata.items():
        if item.startswith(PREFIX):
            try:
                raw[item[len(PREFIX):]] = yaml.safe_load(text)
            except yaml.YAMLError:
                raw[item[len(PREFIX):]] = text
    problems = Problems(render=lambda path, message: f"head metadata {PREFIX}{path} {message}")
    root = Field(raw, "", problems)
    knobs = {name: value for name, value in read_scaler_keys(root).items()
             if LIVE_FIELDS.get(name) in raw}
    bounds: dict[str, int] = {}
    for name, key in BOUNDS.items():
        if key in raw:
            value = root[key].integer(minimum=1 if name == "max" else 0)
            if value is not None:
                bounds[name] = value
    low, high = bounds.get("min", base.min), bounds.get("max", base.max)
    if low > high:
        problems.add(BOUNDS["min"], f"must be <= {BOUNDS['max']} (got {low} > {high})")
        bounds = {}
    # A knob with a problem was read as its default: keep the running value instead.
    bad = {key for key in raw if any(f"{PREFIX}{key} " in m for m in problems.messages)}
    knobs = {name: value for name, value in knobs.items() if LIVE_FIELDS[name] not in bad}
    return replace(base, **knobs, **bounds), problems.messages


def changes(old: ScalerConfig, new: ScalerConfig) -> list[str]:
    """`key: old -> new` for each live knob that differs, for the log."""
    fields = {**LIVE_FIELDS, **BOUNDS}
    return [f"{key}: {_text(getattr(old, name))} -> {_text(getattr(new, name))}"
            for name, key in fields.items() if getattr(old, name) != getattr(new, name)]
