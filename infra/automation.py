"""`pulumi up`, `destroy` and stack outputs through Pulumi's Automation API.

The Automation API drives the `pulumi` CLI, which must be installed; without it
every function here raises a RelvalError that says how to get it. State lives in
whatever backend the user is logged in to, or `PULUMI_BACKEND_URL`.
"""

from __future__ import annotations

import shutil
from typing import Any, Callable

from relval import project
from relval.errors import RelvalError

INSTALL_HINT = ("the pulumi CLI is not installed (or not on PATH). Install it with "
                "`curl -fsSL https://get.pulumi.com | sh` (see https://www.pulumi.com/docs/install/), "
                "then log in to a state backend (`pulumi login`, or set PULUMI_BACKEND_URL)")

OnOutput = Callable[[str], None]


class StackNotFound(RelvalError):
    """The engine's own "no stack named ... found": the backend answered and has no such stack.

    Only this means "nothing to destroy"; any other failure (a missing bucket, lost
    credentials, a backend that does not answer) is an error, whatever its text says.
    """


def require_cli() -> str:
    path = shutil.which("pulumi")
    if path is None:
        raise RelvalError(INSTALL_HINT)
    return path


def _stack(stack: str, create: bool):
    """The Automation API stack object for `stack` in the relval project directory."""
    import pulumi.automation as auto

    require_cli()
    work_dir = str(project.project_dir())
    try:
        if create:
            return auto.create_or_select_stack(stack_name=stack, work_dir=work_dir)
        return auto.select_stack(stack_name=stack, work_dir=work_dir)
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


def unlock(stack: str) -> None:
    """Remove the lock a killed update left on `stack` (`pulumi cancel`)."""
    import pulumi.automation as auto

    handle = _stack(stack, create=False)
    try:
        handle.cancel()
    except auto.errors.CommandError as error:
        raise RelvalError(f"could not unlock stack {stack}: {_last_lines(error)}", exit_code=3) from None


def up(stack: str, on_output: OnOutput = print) -> dict[str, Any]:
    """Create or update `stack`; streams the engine's output; returns the outputs."""
    import pulumi.automation as auto

    # Validate first: a bad config must not reach the engine at all.
    from .config_source import load_stack

    load_stack(stack)
    handle = _stack(stack, create=True)
    try:
        result = handle.up(on_output=on_output, color="never")
    except auto.errors.CommandError as error:
        raise _engine_failure(stack, "up", error) from None
    return {k: v.value for k, v in result.outputs.items()}


def destroy(stack: str, on_output: OnOutput = print, remove: bool = True) -> bool:
    """Destroy `stack`'s resources, then remove the stack from the backend (`remove`).

    False when the backend has no such stack (nothing to do). Any other failure raises
    a RelvalError with exit code 3: the state may still hold resources.
    """
    import pulumi.automation as auto

    try:
        handle = _stack(stack, create=False)
    except StackNotFound:
        return False
    except RelvalError as error:
        raise RelvalError(str(error), exit_code=3) from None
    try:
        handle.destroy(on_output=on_output, color="never")
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


def outputs(stack: str, show_secrets: bool = False) -> dict[str, Any]:
    """The stack's outputs; secret ones masked unless `show_secrets`."""
    handle = _stack(stack, create=False)
    values = handle.outputs()
    return {k: (v.value if (show_secrets or not v.secret) else "[secret]") for k, v in values.items()}
