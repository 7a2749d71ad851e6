"""`relval stack new`: a stack file per release, made from a template stack."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from relval import project
from relval.errors import RelvalError

from .config import parse_stack_config
from .config_source import from_stack_document

STACK_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
MAX_STACK_NAME = 100
RELEASE_LINE = re.compile(r"^(\s*relval:release:).*$", re.M)


def stack_name_for(release: str, prefix: str = "relval") -> str:
    """A Pulumi stack name for `release`: lowercase, [a-z0-9.-], at most 100 characters.

    `O2PDPSuite::nightly-20261120-1` -> `relval-o2pdpsuite-nightly-20261120-1`.
    """
    slug = re.sub(r"[^a-z0-9.]+", "-", release.lower()).strip("-.")
    slug = re.sub(r"-{2,}", "-", slug)
    if not slug:
        raise RelvalError(f"release {release!r} has no letters or digits to name a stack after")
    if slug.startswith(prefix + "-"):
        name = slug
    else:
        name = f"{prefix}-{slug}"
    return name[:MAX_STACK_NAME].rstrip("-.")


def _yaml_scalar(value: str) -> str:
    return yaml.safe_dump(value, default_style=None).strip().removesuffix("...").strip()


def new_stack(release: str, template: str = "alice-relval", name: str | None = None,
              root: Path | None = None) -> Path:
    """Write `Pulumi.<name>.yaml`: the template's text (comments kept) with the release set."""
    root = root or project.project_dir()
    name = name or stack_name_for(release)
    if not STACK_NAME_RE.match(name):
        raise RelvalError(f"stack name {name!r} must be 1-100 characters of A-Z a-z 0-9 _ . -")
    source = project.stack_file(template, root)
    if not source.is_file():
        raise RelvalError(f"{source.name}: no such template stack file")
    target = project.stack_file(name, root)
    if target.exists():
        raise RelvalError(f"{target.name} already exists; refusing to overwrite it "
                          "(choose another --name or delete the file)")
    text = source.read_text()
    if not RELEASE_LINE.search(text):
        raise RelvalError(f"{source.name}: has no relval:release line to set")
    text = RELEASE_LINE.sub(lambda m: f"{m.group(1)} {_yaml_scalar(release)}", text, count=1)

    # Write only what validates, so a bad release never leaves a half-made stack behind.
    try:
        raw = from_stack_document(yaml.safe_load(text), target.name)
        parsed = parse_stack_config(raw.values, raw.secret_keys)
    except RelvalError as error:
        raise RelvalError([f"{target.name}: {p}" for p in error.problems]) from None
    if parsed.release != release:
        raise RelvalError(f"{source.name}: setting relval:release did not take effect")
    target.write_text(text)
    return target
