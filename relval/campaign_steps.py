"""The real infrastructure steps of `relval campaign` (see `campaign.CampaignSteps`).

up / down through the Automation API, the head over SSH with its pinned host key,
submission and status from `relval.workflows`, and the verdict computed here on
the downloaded work directory, exactly as `relval run --local` computes it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

from relval.errors import NoVerdictError, RelvalError
from relval.workflows.remote import SshTransport, wait_until_reachable
from relval.workflows.submit import (DEFAULT_REMOTE_BASE, HeadOptions, campaign_dir, head_target,
                                     submit)



class ClusterSteps:
    def __init__(self, campaign_file: Path, head: HeadOptions = HeadOptions(),
                 batch: str = "condor", remote_base: str = DEFAULT_REMOTE_BASE,
                 say: Callable[[str], None] = print, poll_s: float = 15.0,
                 ready_timeout_s: float = 900.0, sleep: Callable[[float], None] = time.sleep,
                 release: str | None = None, reference_release: str | None = None,
                 stall_timeout_s: float | None = 7200.0, archive: str | None = None,
                 deadline: float | None = None, deadline_reason: str = "",
                 clock: Callable[[], float] = time.monotonic):
        self.campaign_file = Path(campaign_file)
        # A time on `clock` after which following stops with exit 3 (campaign_deadline.py).
        self.deadline, self.deadline_reason, self.clock = deadline, deadline_reason, clock
        self.archive = archive  # an archived reference run stands in for the reference chain
        self.release, self.reference_release = release, reference_release  # overrides of the file's
        self.head, self.batch, self.remote_base = head, batch, remote_base
        self.say, self.poll_s, self.ready_timeout_s, self.sleep = say, poll_s, ready_timeout_s, sleep
        self.stall_timeout_s = stall_timeout_s

    def up(self, stack: str) -> dict[str, Any]:
        from relval.infra.automation import up

        return up(stack, on_output=self.say)

    def wait_ready(self, stack: str, outputs: dict[str, Any]) -> None:
        """SSH answers with the pinned host key, then condor (or makeflow) answers on the head."""
        with SshTransport(head_target(stack, self.head)) as ssh:
            wait_until_reachable(ssh, timeout_s=self.ready_timeout_s, interval_s=10, sleep=self.sleep,
                                 on_retry=lambda error: self.say(f"head not answering yet: {error}"))
            # With --batch local only makeflow itself is needed on the head.
            check = ("condor_status -schedd -af Name" if self.batch == "condor"
                     else "command -v makeflow")
            deadline = time.monotonic() + self.ready_timeout_s
            while True:
                rc, _, err = ssh.run(check)
                if rc == 0:
                    break
                if time.monotonic() > deadline:
                    raise NoVerdictError(f"`{check}` on the head of stack {stack} did not succeed within "
                                      f"{self.ready_timeout_s:.0f} s: {err.decode(errors='replace').strip()}")
                self.sleep(10)
        self.deliver_scaler(stack)

    def deliver_scaler(self, stack: str) -> None:
        """This relval's scaler files on the head (a no-op when they are there already, as
        `relval up` delivers them): the campaign's verdict does not depend on them, so a
        failure is a warning here, not the end of the campaign."""
        from relval.scaler_sync import deliver
        from relval.workflows.stack_outputs import read_outputs

        try:
            deliver(stack, read_outputs(stack, self.head.outputs_file), self.head, say=self.say)
        except RelvalError as error:
            self.say(f"warning: {error}")

    def submit(self, campaign: Path, stack: str) -> str:
        result = submit(campaign, stack, batch=self.batch, head=self.head,
                        remote_base=self.remote_base, progress=self.say, release=self.release,
                        reference_release=self.reference_release, archive=self.archive)
        return result.remote_dir

    def follow(self, stack: str, campaign_name: str) -> None:
        from relval.workflows.remote_status import follow_remote

        for statuses in follow_remote(stack, campaign_name, self.head, self.remote_base,
                                      watch=True, interval_s=self.poll_s, sleep=self.sleep,
                                      stall_timeout_s=self.stall_timeout_s):
            self.say("; ".join(f"{s.name}: {s.status.done}/{s.status.total} done, "
                               f"{s.status.failed} failed" for s in statuses))
            self.check_deadline()

    def check_deadline(self) -> None:
        """Stop before the CI job's timeout kills relval without a result (exit 3, the reason)."""
        if self.deadline is not None and self.clock() >= self.deadline:
            raise NoVerdictError(f"the campaign had not ended at its deadline ({self.deadline_reason}); "
                                 "no verdict: its jobs are left to the cluster's teardown")

    def fetch(self, stack: str, campaign_name: str, destination: Path) -> dict[str, Any]:
        from relval.workflows.campaign import load_campaign
        from relval.workflows.run import fetch_patterns, judge_workdir

        workdir = destination / "work"
        campaign = load_campaign(self.campaign_file).with_overrides(self.release, self.reference_release)
        with SshTransport(head_target(stack, self.head)) as ssh:  # only what the verdict needs
            ssh.download(campaign_dir(self.remote_base, campaign_name), workdir,
                         include=fetch_patterns(campaign))
        outcome = judge_workdir(self.campaign_file, workdir, self.release, self.reference_release,
                                self.archive)
        return {"verdict": outcome.verdict.verdict, "report": str(outcome.report),
                "outcome": outcome.to_json(), "result": outcome}

    def down(self, stack: str) -> None:
        from relval.lifecycle import down

        down(stack, on_output=self.say)
