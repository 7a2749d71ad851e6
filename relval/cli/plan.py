"""`relval plan`: what `pulumi up` would create, evaluated offline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer
from rich.markup import escape
from rich.table import Table

from relval.cli.console import out
from relval.errors import RelvalError

# The inputs worth a glance per resource type; everything is in --json.
KEY_INPUTS = {
    "Instance": ("name", "flavorName", "imageName", "imageId", "availabilityZone", "metadata", "userData"),
    "Port": ("name",),
    "SecGroup": ("name",),
    "SecGroupRule": ("direction", "protocol", "portRangeMin", "remoteIpPrefix", "remoteGroupId"),
    "Keypair": ("name",),
    "ServerGroup": ("name", "policies"),
    "Volume": ("name", "size", "volumeType"),
    "VolumeAttach": (),
    "FloatingIp": ("pool",),
    "FloatingIpAssociate": (),
}


def _summary(type_token: str, inputs: dict[str, Any]) -> str:
    kind = type_token.rsplit(":", 1)[-1]
    parts = []
    for key in KEY_INPUTS.get(kind, ()):
        value = inputs.get(key)
        if value in (None, "", [], {}):
            continue
        if key == "userData":
            value = f"<{len(str(value).encode())} bytes, secret>"
        elif key == "metadata":
            value = ",".join(f"{k}={v}" for k, v in value.items())
        parts.append(f"{key}={value}")
    return " ".join(parts)


def short_type(type_token: str) -> str:
    """`openstack:compute/instance:Instance` -> `compute.Instance`, like the SDK's class path."""
    package, module, kind = type_token.split(":")
    module = module.split("/")[0]
    return f"{module}.{kind}" if package == "openstack" else type_token


def run_plan(stack: Optional[str], config_file: Optional[Path]):
    from relval.infra.config_source import load_stack
    from relval.infra.plan import plan, schema_problems

    stack_name, cfg = load_stack(stack, config_file)
    result = plan(cfg, stack_name)
    problems = schema_problems(result)
    if problems:
        raise RelvalError(["the provider would reject this plan: " + p for p in problems])
    return result


def register(app: typer.Typer) -> None:
    @app.command("plan")
    def plan_command(
        stack: Optional[str] = typer.Option(None, "--stack", "-s", help="Stack name (reads Pulumi.<stack>.yaml)."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object: resources and outputs."),
        config_file: Optional[Path] = typer.Option(
            None, "--config-file", help="Plan this file (Pulumi.<stack>.yaml format) instead of a stack's."),
        diff: bool = typer.Option(
            False, "--diff", help="Also compare with the deployed stack (`pulumi preview`: engine, "
            "backend and cloud credentials needed) and say whether applying would replace the head."),
    ) -> None:
        """Show what `pulumi up` would create, offline: no CLI, credentials or network."""
        result = run_plan(stack, config_file)
        head = None
        if diff:
            from relval.infra.head_change import head_fate

            head = head_fate(result.stack)
        if as_json:
            document = result.to_json()
            if head is not None:
                document["head"] = head.to_json()
            print(json.dumps(document, indent=2, sort_keys=False))
            return
        depth = {}
        out.print(f"[bold]relval plan[/]: stack {escape(result.stack)} would create "
                  f"{len(result.resources)} resources", highlight=False)
        for r in result.resources:
            depth[r.name] = depth.get(r.parent, -1) + 1
            line = f"{'  ' * depth[r.name]}+ {short_type(r.type)} [bold]{escape(r.name)}[/]"
            details = _summary(r.type, r.inputs)
            out.print(line + (f"  [dim]{escape(details)}[/]" if details else ""),
                      highlight=False, soft_wrap=True)
        counts: dict[str, int] = {}
        for r in result.resources:
            counts[short_type(r.type)] = counts.get(short_type(r.type), 0) + 1
        out.print("by type: " + ", ".join(f"{n} {t}" for t, n in sorted(counts.items())),
                  highlight=False)
        outputs = Table(title="outputs", title_justify="left")
        outputs.add_column("name")
        outputs.add_column("value", overflow="fold")
        for key, value in result.public_outputs().items():
            outputs.add_row(key, escape(value if isinstance(value, str) else json.dumps(value)))
        out.print(outputs)
        if head is not None:
            out.print(f"[bold]head[/]: {escape(head.sentence())}", highlight=False)
        else:
            out.print("head: `relval plan --diff` on a deployed stack says whether applying would "
                      "replace it", highlight=False)
