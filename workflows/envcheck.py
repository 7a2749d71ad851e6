"""The environment setup, tried once before any job runs (pure script, thin runners).

    setup_check_script(campaign, release) -> str | None
        A shell script that applies `environment.setup` for `release` exactly as the job
        wrapper does (`set -e`, `eval $(...)` checked) and prints `relval-setup-ok`;
        None when the campaign has no setup.
    check_setup_here(campaign, releases)            `relval run --local`
    check_setup_on(ssh, campaign, releases, where)  `relval submit`, on the head

Why: a release missing on CVMFS (`eval $(alienv printenv O2::vX)`) would otherwise be
found by every job, one failure at a time, after the whole campaign was submitted. Each
job still checks its own setup (the wrapper fails it with a clear line); this finds the
common case, a release that does not exist, before anything runs (exit 3).
"""

from __future__ import annotations

import subprocess

from relval.errors import NoVerdictError
from relval.workflows.campaign import Campaign, render_shell
from relval.workflows.wrapper import setup_block

OK = "relval-setup-ok"
TIMEOUT_S = 300


def setup_check_script(campaign: Campaign, release: str) -> str | None:
    setup = render_shell(campaign.setup, {"release": release, "campaign": campaign.name}).strip()
    if not setup:
        return None
    return f"{setup_block(setup)}echo {OK}\n"


def _problem(campaign: Campaign, release: str, where: str, output: str) -> str:
    tail = " | ".join(line for line in output.strip().splitlines()[-3:] if line) or "no output"
    return (f"{campaign.source}: environment.setup fails for release {release} {where} "
            f"(is the release on CVMFS?): {tail}")


def check_setup_here(campaign: Campaign, releases: list[str]) -> None:
    for release in releases:
        script = setup_check_script(campaign, release)
        if script is None:
            return
        try:
            done = subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True,
                                  timeout=TIMEOUT_S, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise NoVerdictError(f"{campaign.source}: environment.setup for release {release} did "
                                 f"not finish within {TIMEOUT_S} s on this machine") from None
        if done.returncode != 0 or OK not in done.stdout:
            raise NoVerdictError(_problem(campaign, release, "on this machine", done.stdout + done.stderr))


def check_setup_on(ssh, campaign: Campaign, releases: list[str], where: str) -> None:
    for release in releases:
        script = setup_check_script(campaign, release)
        if script is None:
            return
        rc, out, err = ssh.run(script)
        text = (out + err).decode(errors="replace")
        if rc != 0 or OK not in text:
            raise NoVerdictError(_problem(campaign, release, f"on {where}", text))
