"""`pulumi up`, `destroy` and stack outputs through Pulumi's Automation API.

The Automation API drives the `pulumi` CLI that `make engine` provides (see
`infra/engine.py`); without one every function here raises a RelvalError that says how
to get it. State lives in whatever backend the user is logged in to, or
`PULUMI_BACKEND_URL`. A `Workspace` runs the same calls elsewhere: `relval rehearse`
points them at a throwaway project directory, backend and simulated cloud.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from relval import project
from relval.errors import RelvalError

from .engine import ENGINE_HINT, find_engine

INSTALL_HINT = ENGINE_HINT + "; then log in to a state backend (`pulumi login`, or set PULUMI_BACKEND_URL)"

OnOutput = Callable[[str], None]
SECRET_MASK = "[secret]"   # what a secret output shows where it is printed or kept


@dataclass(frozen=True)
class Workspace:
    """Where the engine runs: a project directory and variables added to its environment."""
    work_dir: Path | None = None  # None: the relval project directory
    env: dict[str, str] = field(default_factory=dict)


class StackNotFound(RelvalError):
    """The engine's own "no stack named ... found": the backend answered and has no such stack.

    Only this means "nothing to destroy"; any other failure (a missing bucket, lost
    credentials, a backend that does not answer) is an error, whatever its text says.
    """


def require_cli() -> str:
    return str(find_engine().cli)


def _stack(stack: str, create: bool, workspace: Workspace | None = None):
    """The Automation API stack object for `stack` in the workspace's project directory."""
    import pulumi.automation as auto

    workspace = workspace or Workspace()
    engine = find_engine()
    work_dir = str(workspace.work_dir or project.project_dir())
    options = auto.LocalWorkspaceOptions(
        work_dir=work_dir, env_vars={**engine.env(), **workspace.env},
        pulumi_command=auto.PulumiCommand(root=str(engine.root), skip_version_check=True))
    try:
        if create:
            return auto.create_or_select_stack(stack_name=stack, work_dir=work_dir, opts=options)
        return auto.select_stack(stack_name=stack, work_dir=work_dir, opts=options)
    except auto.errors.StackNotFoundError:
        raise StackNotFound(f"stack {stack} does not exist in the current Pulumi backend") from None
    except auto.errors.CommandError as error:
        raise RelvalError(f"pulumi could not open stack {stack}: {_last_lines(error)}") from None
    except FileNotFoundError:
        raise RelvalError(INSTALL_HINT) from None


def _last_lines(error: Exception, n: int = 5) -> str:
    text = str(error).strip().splitlines()
    return " | ".join(line.strip() for line in text[-n:] if line.strip())


def _engine_failure(stack: str, action: str, error: Exception) -> RelvalError:
    """One line for a failed engine command; a lock names the way out (exit 3 both)."""
    import pulumi.automation as auto

    if isinstance(error, auto.errors.ConcurrentUpdateError):
        return RelvalError(f"pulumi {action} for stack {stack}: the stack is locked by another "
                           "update. Wait for it; if none is running (a killed job left the lock), "
                           f"run `relval unlock --stack {stack}`", exit_code=3)
    return RelvalError(f"pulumi {action} failed for stack {stack}: {_last_lines(error)}",
                       exit_code=3)


def is_deployed(stack: str, workspace: Workspace | None = None) -> bool:
    """Whether the backend holds `stack` with resources in it (an empty or absent stack is
    not deployed); a backend that cannot answer raises (exit 3)."""
    import pulumi.automation as auto

    try:
        handle = _stack(stack, create=False, workspace=workspace)
        deployment = handle.export_stack().deployment or {}
    except StackNotFound:
        return False
    except RelvalError as error:
        raise RelvalError(str(error), exit_code=3) from None
    except auto.errors.CommandError as error:
        raise RelvalError(f"pulumi could not read stack {stack}: {_last_lines(error)}", exit_code=3) from None
    return bool(deployment.get("resources"))


def unlock(stack: str, workspace: Workspace | None = None) -> None:
    """Remove the lock a killed update left on `stack` (`pulumi cancel`; on a self-managed
    backend it deletes the lock files)."""
    import pulumi.automation as auto

    handle = _stack(stack, create=False, workspace=workspace)
    try:
        handle.cancel()
    except auto.errors.CommandError as error:
        raise RelvalError(f"could not unlock stack {stack}: {_last_lines(error)}", exit_code=3) from None


def up(stack: str, on_output: OnOutput = print, workspace: Workspace | None = None) -> dict[str, Any]:
    """Create or update `stack`; streams the engine's output; returns the outputs."""
    return up_result(stack, on_output, workspace)[0]


def up_result(stack: str, on_output: OnOutput = print,
              workspace: Workspace | None = None) -> tuple[dict[str, Any], dict[str, int]]:
    """`up`, also returning the engine's change summary ({"create": 3, "same": 2, ...})."""
    import pulumi.automation as auto

    # Validate first: a bad config must not reach the engine at all.
    from .config_source import load_stack

    if workspace is None:
        load_stack(stack)
    handle = _stack(stack, create=True, workspace=workspace)
    _pin_deployed_image(stack, on_output, workspace)
    try:
        result = handle.up(on_output=on_output, color="never")
    except auto.errors.CommandError as error:
        raise _engine_failure(stack, "up", error) from None
    changes = dict(result.summary.resource_changes or {})
    # Secret outputs (the scaler's files) are masked: callers print these and CI keeps them.
    outputs = {k: (SECRET_MASK if v.secret else v.value) for k, v in result.outputs.items()}
    if pin_image(stack, outputs.get("imageId", ""), workspace):
        on_output(f"relval: pinned relval:imageId = {outputs['imageId']} (resolved from "
                  "relval:image): later runs boot this image even if a newer one takes the name\n")
    return outputs, changes


def _pin_deployed_image(stack: str, on_output: OnOutput, workspace: Workspace | None) -> None:
    """Before an update: a stack file without the pin takes the deployed nodes' image id."""
    pinned = pin_image(stack, None, workspace)
    if pinned:
        on_output(f"relval: pinned relval:imageId = {pinned} (the image the deployed nodes "
                  "run; the stack file had no pin)\n")


def preview(stack: str, on_output: OnOutput = print, workspace: Workspace | None = None) -> dict[str, int]:
    """`pulumi preview`; returns the planned change summary."""
    import pulumi.automation as auto

    handle = _stack(stack, create=True, workspace=workspace)
    try:
        result = handle.preview(on_output=on_output, color="never")
    except auto.errors.CommandError as error:
        raise _engine_failure(stack, "preview", error) from None
    return {str(k): v for k, v in (result.change_summary or {}).items()}


def destroy(stack: str, on_output: OnOutput = print, remove: bool = True,
            workspace: Workspace | None = None) -> bool:
    """Destroy `stack`'s resources, then remove the stack from the backend (`remove`).

    False when the backend has no such stack (nothing to do). Any other failure raises
    a RelvalError with exit code 3: the state may still hold resources.
    """
    import pulumi.automation as auto

    try:
        handle = _stack(stack, create=False, workspace=workspace)
    except StackNotFound:
        return False
    except RelvalError as error:
        raise RelvalError(str(error), exit_code=3) from None
    try:
        # refresh first: `relval down` has swept the cloud already, and deleting what is gone
        # is not always a no-op (disassociating a deleted floating IP is a 404 error).
        handle.destroy(on_output=on_output, color="never", refresh=True)
    except auto.errors.CommandError as error:
        raise _engine_failure(stack, "destroy", error) from None
    if remove:
        try:
            # The stack is empty now; its file stays (--preserve-config) for the record.
            handle.workspace.remove_stack(stack, preserve_config=True)
        except auto.errors.CommandError as error:
            raise RelvalError(f"stack {stack} was destroyed but could not be removed from the "
                              f"backend: {_last_lines(error)}", exit_code=3) from None
    return True


def outputs(stack: str, show_secrets: bool = False,
            workspace: Workspace | None = None) -> dict[str, Any]:
    """The stack's outputs; secret ones masked unless `show_secrets`."""
    handle = _stack(stack, create=False, workspace=workspace)
    values = handle.outputs()
    return {k: (v.value if (show_secrets or not v.secret) else SECRET_MASK) for k, v in values.items()}


def set_secret_stand_ins(stack: str, values: dict[str, str], workspace: Workspace) -> None:
    """Sets config paths (`key` or `key.sub`, relval: namespace implied) as secrets."""
    import pulumi.automation as auto

    handle = _stack(stack, create=True, workspace=workspace)
    for path, value in values.items():
        handle.set_config(f"relval:{path}", auto.ConfigValue(value=value, secret=True), path=True)


def stack_resources(stack: str, workspace: Workspace | None = None) -> list[dict[str, Any]]:
    """The stack's resources from its state: type, name and outputs, secrets in clear
    (the export runs with --show-secrets)."""
    handle = _stack(stack, create=False, workspace=workspace)
    deployment = handle.export_stack().deployment or {}
    resources = []
    for resource in deployment.get("resources", []):
        resources.append({"type": resource.get("type", ""), "name": resource.get("urn", "").rsplit("::", 1)[-1],
                          "outputs": {k: _plain_secret(v) for k, v in (resource.get("outputs") or {}).items()}})
    return resources


def _plain_secret(value: Any) -> Any:
    """A state value: secrets exported with --show-secrets carry their JSON in `plaintext`."""
    import json

    if isinstance(value, dict) and "plaintext" in value:
        return json.loads(value["plaintext"])
    return value


def preview_steps(stack: str, on_output: OnOutput = print, workspace: Workspace | None = None):
    """`pulumi preview`, returning the engine's planned steps (`head_change.Step`), one per
    resource: the operation and the properties that change or force a replacement."""
    import pulumi.automation as auto

    from .head_change import Step

    handle = _stack(stack, create=False, workspace=workspace)
    _pin_deployed_image(stack, on_output, workspace)
    steps: list[Step] = []

    def on_event(event) -> None:
        pre = event.resource_pre_event
        if pre is None:
            return
        meta = pre.metadata
        op = meta.op.value if hasattr(meta.op, "value") else str(meta.op)
        steps.append(Step(op=op, type=meta.type, name=meta.urn.rsplit("::", 1)[-1],
                          keys=tuple(meta.keys or ()), diffs=tuple(meta.diffs or ())))

    try:
        handle.preview(on_output=on_output, on_event=on_event, color="never", diff=True)
    except auto.errors.CommandError as error:
        raise _engine_failure(stack, "preview", error) from None
    return steps


def pin_image(stack: str, image_id: str | None = None, workspace: Workspace | None = None) -> str:
    """Record the image id `relval:image` resolved to as `relval:imageId` in the stack
    file, so every later run boots the same image even when a newer one takes the name.

    `image_id` is what an `up` just resolved; None takes the deployed stack's `imageId`
    output, so a stack file made afresh from the template (a new pipeline meeting an
    existing deployment) keeps the image the nodes run. Returns the id pinned, or ""
    when there was nothing to pin (given by id, already pinned, nothing deployed).
    """
    import pulumi.automation as auto

    from .base import UUID_RE

    handle = _stack(stack, create=False, workspace=workspace)
    try:
        config = handle.get_all_config()
        image, pinned = config.get("relval:image"), config.get("relval:imageId")
        if image is None or UUID_RE.match(image.value) or (pinned is not None and pinned.value):
            return ""
        if image_id is None:
            deployed = handle.outputs().get("imageId")
            image_id = deployed.value if deployed is not None else ""
        if not image_id:
            return ""
        handle.set_config("relval:imageId", auto.ConfigValue(value=image_id))
    except auto.errors.CommandError as error:
        raise RelvalError(f"could not pin relval:imageId for stack {stack}: {_last_lines(error)}",
                          exit_code=3) from None
    return image_id
