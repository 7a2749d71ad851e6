"""`relval campaign`: the whole path of one release validation, in order.

    up -> wait for the head (pinned SSH host key, condor answering) -> submit ->
    follow the status -> fetch the report and QA outputs -> verdict -> down

`down` runs unless `keep`, and also when an earlier step failed. The steps that
touch infrastructure sit behind `CampaignSteps`, so the order, the teardown on
failure and the exit codes are tested without a cloud.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol

from relval.errors import EXIT_FAIL, EXIT_NO_VERDICT, EXIT_PASS, RelvalError
from relval.workflows.verdict import EXIT_CODES

# A step that breaks (cloud, SSH, makeflow) leaves no verdict: exit 3. Bad input is
# refused before the first step (exit 2, see `preflight`).
EXIT_ERROR = EXIT_NO_VERDICT
__all__ = ["EXIT_PASS", "EXIT_FAIL", "EXIT_ERROR", "run_campaign", "preflight", "artifacts_dir"]


class CampaignSteps(Protocol):
    """The infrastructure boundary of a campaign run."""

    def up(self, stack: str) -> dict[str, Any]: ...

    def wait_ready(self, stack: str, outputs: dict[str, Any]) -> None: ...

    def submit(self, campaign: Path, stack: str) -> str: ...

    def follow(self, stack: str, campaign_name: str) -> None: ...

    def fetch(self, stack: str, campaign_name: str, destination: Path) -> dict[str, Any]: ...

    def down(self, stack: str) -> None: ...


@dataclass
class StepRecord:
    name: str
    seconds: float
    ok: bool
    detail: str = ""


@dataclass
class CampaignResult:
    campaign: str
    stack: str
    verdict: str | None = None            # PASS, FAIL, NO_VERDICT, JOBS_PASSED; None when a step broke
    error: str | None = None
    report: str | None = None
    artifacts: str | None = None
    steps: list[StepRecord] = field(default_factory=list)
    kept: bool = False
    archive: dict[str, Any] | None = None  # ArchiveReport.to_json(); its error makes exit 3

    @property
    def exit_code(self) -> int:
        if self.error is not None or self.verdict not in EXIT_CODES:
            return EXIT_ERROR
        if self.archive is not None and self.archive.get("error"):
            return EXIT_ERROR  # the verdict stands, but the results were not kept
        return EXIT_CODES[self.verdict]

    def to_json(self) -> dict[str, Any]:
        return {"campaign": self.campaign, "stack": self.stack, "verdict": self.verdict,
                "error": self.error, "report": self.report, "artifacts": self.artifacts,
                "kept": self.kept, "exit_code": self.exit_code, "archive": self.archive,
                "steps": [{"name": s.name, "seconds": round(s.seconds, 1), "ok": s.ok,
                           "detail": s.detail} for s in self.steps]}


def preflight(campaign_file: Path, release: str | None = None, reference_release: str | None = None):
    """Everything checkable before a cloud resource exists: the campaign file and the
    release overrides (exit 2) and its reference outputs (exit 3), as `relval run` does."""
    from relval.workflows.campaign import load_campaign
    from relval.workflows.run import check_reference

    campaign = load_campaign(campaign_file).with_overrides(release, reference_release)
    check_reference(campaign)
    return campaign


def artifacts_dir(root: Path, stack: str, campaign_name: str) -> Path:
    return root / "reports" / stack / campaign_name


def run_campaign(campaign: Path, campaign_name: str, stack: str, steps: CampaignSteps,
                 keep: bool = False, root: Path = Path("."),
                 announce: Callable[[str], None] = lambda message: None,
                 clock: Callable[[], float] = time.monotonic,
                 archive: Callable[[dict[str, Any]], Any] | None = None) -> CampaignResult:
    """Run every step in order; `down` always runs unless `keep`. `archive(fetched)`
    stores the results after the verdict and before `down` (an ArchiveReport)."""
    result = CampaignResult(campaign_name, stack, kept=keep)

    def step(name: str, action: Callable[[], Any]) -> Any:
        announce(f"{name} ...")
        start = clock()
        try:
            value = action()
        except BaseException as error:
            seconds = clock() - start
            detail = str(error) if isinstance(error, RelvalError) else f"{type(error).__name__}: {error}"
            result.steps.append(StepRecord(name, seconds, False, detail))
            announce(f"{name} failed after {seconds:.0f} s: {detail}")
            raise
        seconds = clock() - start
        result.steps.append(StepRecord(name, seconds, True))
        announce(f"{name} done in {seconds:.0f} s")
        return value

    try:
        outputs = step("up", lambda: steps.up(stack))
        step("wait for the head", lambda: steps.wait_ready(stack, outputs))
        step("submit", lambda: steps.submit(campaign, stack))
        step("follow", lambda: steps.follow(stack, campaign_name))
        destination = artifacts_dir(root, stack, campaign_name)
        fetched = step("fetch", lambda: steps.fetch(stack, campaign_name, destination))
        result.verdict = fetched.get("verdict")
        result.report = fetched.get("report")
        result.artifacts = str(destination)
        if result.verdict not in EXIT_CODES:
            raise RelvalError(f"the fetched results hold no verdict (got {result.verdict!r})")
        announce(f"verdict: {result.verdict}")
        if archive is not None:
            stored = step("archive", lambda: archive(fetched))
            result.archive = stored.to_json()
            if stored.error:
                announce(f"archive failed (the verdict stands): {stored.error}")
    except KeyboardInterrupt:
        result.error = "interrupted"
    except RelvalError as error:
        result.error = str(error)
    except Exception as error:  # an infrastructure step broke; still tear down below
        result.error = f"{type(error).__name__}: {error}"
    finally:
        if not keep:
            try:
                step("down", lambda: steps.down(stack))
            except Exception as error:
                down_error = f"down failed: {error}"
                result.error = f"{result.error}; {down_error}" if result.error else down_error
    return result
