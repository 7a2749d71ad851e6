"""Where relval finds the Pulumi engine.

`make engine` leaves the CLI and its Python language host in `.tools/pulumi/bin` and the
provider plugins under `.tools/pulumi/home` (used as PULUMI_HOME); a `pulumi` on PATH is the
fallback. Every command that drives the engine gets its environment from here.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from relval import project
from relval.errors import RelvalError

ENGINE_HINT = ("no Pulumi engine found: run `make engine` (builds the CLI, its Python language "
               "host and the provider plugins into .tools/pulumi), or put a pulumi CLI on PATH")
TOOLS_DIR = Path(".tools") / "pulumi"


@dataclass(frozen=True)
class Engine:
    cli: Path
    home: Path | None  # PULUMI_HOME holding the plugins; None: the user's own

    @property
    def root(self) -> Path:
        """The directory whose bin/ holds the CLI (the Automation API's PulumiCommand root)."""
        return self.cli.parent.parent

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """Variables for every engine process: the language host is looked up on PATH."""
        env = dict(os.environ if base is None else base)
        env["PATH"] = f"{self.cli.parent}{os.pathsep}{env.get('PATH', '')}"
        env["PULUMI_SKIP_UPDATE_CHECK"] = "true"
        if self.home is not None:
            env["PULUMI_HOME"] = str(self.home)
        return env


def find_engine(root: Path | None = None) -> Engine:
    override = os.environ.get("RELVAL_TOOLS_DIR")  # another .tools/pulumi (tests, shared installs)
    tools = Path(override) if override else (root or project.project_dir()) / TOOLS_DIR
    if os.access(tools / "bin" / "pulumi", os.X_OK):
        return Engine(cli=tools / "bin" / "pulumi", home=tools / "home")
    on_path = shutil.which("pulumi")
    if on_path:
        return Engine(cli=Path(on_path), home=None)
    raise RelvalError(ENGINE_HINT)
