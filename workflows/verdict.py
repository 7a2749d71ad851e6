"""The campaign verdict: job outcomes plus the QA comparison.

    decide(candidate, reference=None, qa=None, compare=True, qa_problem=None) -> Verdict

PASS needs every candidate job done, the reference chain done, and a QA comparison that
graded something and found no BAD. What cannot be decided is NO_VERDICT (exit 3), never
PASS; see `decide` for the order of the rules. A QA summary is read leniently because it comes from
`relval.workflows.qa`: a mapping or an object with `verdict` ("PASS", "WARNING" or
"FAIL"; WARNING passes), or
`passed` (bool), or a worst grade under `worst`/`grade`/`status` ("GOOD", "WARNING",
"BAD"; WARNING passes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from relval.errors import EXIT_FAIL, EXIT_NO_VERDICT, EXIT_PASS


@dataclass(frozen=True)
class FailedJob:
    stage: str
    unit: str
    log_tail: str
    release: str = ""
    log: str = ""

    def to_json(self) -> dict:
        return {"stage": self.stage, "unit": self.unit, "log_tail": self.log_tail,
                "release": self.release, "log": self.log}


@dataclass(frozen=True)
class ChainResult:
    """How one chain (the release under validation, or the reference) ended."""

    role: str                  # "candidate" or "reference"
    release: str
    total: int
    done: int
    failed: int
    failed_jobs: tuple[FailedJob, ...] = ()
    directory: str = ""
    state: str = ""
    # Jobs whose failure `min_success_fraction` tolerated (or whose inputs were all left
    # out): done for makeflow, listed in the report; and what each fan-in used.
    left_out: tuple[FailedJob, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def not_run(self) -> int:
        return self.total - self.done - self.failed


# The campaign verdicts and their exit codes. JOBS_PASSED is a campaign without
# `compare:` whose jobs all ran: exit 0, but never called PASS, since nothing was compared.
PASS, FAIL, NO_VERDICT, JOBS_PASSED = "PASS", "FAIL", "NO_VERDICT", "JOBS_PASSED"
EXIT_CODES = {PASS: EXIT_PASS, JOBS_PASSED: EXIT_PASS, FAIL: EXIT_FAIL, NO_VERDICT: EXIT_NO_VERDICT}


@dataclass(frozen=True)
class Verdict:
    verdict: str                       # PASS, FAIL, NO_VERDICT or JOBS_PASSED
    reasons: tuple[str, ...] = ()
    qa_used: bool = False
    qa_passed: bool | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def passed(self) -> bool:
        return self.exit_code == EXIT_PASS

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]


def _get(summary: Any, key: str) -> Any:
    if isinstance(summary, Mapping):
        return summary.get(key)
    return getattr(summary, key, None)


def qa_passed(summary: Any) -> bool | None:
    """True/False from a QA summary, None when it says nothing we understand."""
    verdict = _get(summary, "verdict")
    if isinstance(verdict, str) and verdict.upper() in ("PASS", "WARNING", "FAIL"):
        return verdict.upper() != "FAIL"  # WARNING passes with warnings
    passed = _get(summary, "passed")
    if isinstance(passed, bool):
        return passed
    for key in ("worst", "grade", "status"):
        grade = _get(summary, key)
        if isinstance(grade, str) and grade.upper() in ("GOOD", "WARNING", "BAD"):
            return grade.upper() != "BAD"
    return None


def compared_count(summary: Any) -> int | None:
    """How many objects a QA summary graded (GOOD, WARNING or BAD); None if unknown."""
    counts = _get(summary, "counts")
    if not isinstance(counts, Mapping):
        return None
    return sum(int(counts.get(g, 0) or 0) for g in ("GOOD", "WARNING", "BAD"))


def _jobs(chain: ChainResult) -> list[str]:
    problems = []
    if chain.failed:
        problems.append(f"{chain.role} {chain.release}: {chain.failed} of {chain.total} jobs failed")
    if chain.not_run:
        problems.append(f"{chain.role} {chain.release}: {chain.not_run} of {chain.total} jobs did not run")
    return problems


def decide(candidate: ChainResult | None, reference: ChainResult | None = None, qa: Any = None,
           compare: bool = True, qa_problem: str | None = None) -> Verdict:
    """The verdict, in this order:

    - a candidate job failed for good: FAIL (a regression of the release itself);
    - a candidate job did not run (the run stopped early): NO_VERDICT;
    - no `compare:` in the campaign: JOBS_PASSED (exit 0, and said to be no comparison);
    - the reference chain failed or did not finish: NO_VERDICT (nothing to compare with);
    - no QA summary (`qa_problem` says why), or one that graded nothing: NO_VERDICT;
    - a QA summary with `errors` (a thresholds override that matched nothing): NO_VERDICT;
    - otherwise the QA decides: FAIL on BAD, else PASS.
    """
    if candidate is None:
        return Verdict(NO_VERDICT, ("no chain ran",))
    problems = _jobs(candidate)
    if candidate.failed:
        return Verdict(FAIL, tuple(problems + (_jobs(reference) if reference else [])))
    if problems:
        return Verdict(NO_VERDICT, tuple(problems) + ("the run stopped before every job ran; "
                                                      "run it again to resume",))
    if not compare:
        return Verdict(JOBS_PASSED, (), notes=("no QA comparison was made: the campaign has no "
                                               "compare: section, so only the jobs were checked",))
    if reference is not None and (reference.failed or reference.not_run):
        return Verdict(NO_VERDICT, tuple(_jobs(reference)) + (
            "the reference chain did not finish: nothing to compare with",))
    if qa is None:
        return Verdict(NO_VERDICT, (qa_problem or "the QA comparison did not run",))
    if _get(qa, "errors"):  # e.g. a thresholds override that matched nothing: grades not as meant
        return Verdict(NO_VERDICT, tuple(f"the QA comparison's input is wrong: {e}" for e in _get(qa, "errors")),
                       qa_used=True)
    if str(_get(qa, "verdict") or "").upper() == "NO_VERDICT" or _get(qa, "tested") == 0:
        return Verdict(NO_VERDICT, ("the QA comparison tested nothing (no object went through a "
                                    "statistical test)",), qa_used=True)
    if compared_count(qa) == 0:
        return Verdict(NO_VERDICT, ("the QA comparison compared nothing (no histogram was graded)",),
                       qa_used=True)
    qa_ok = qa_passed(qa)
    if qa_ok is None:
        return Verdict(NO_VERDICT, ("the QA summary has no verdict relval understands",), qa_used=True)
    if not qa_ok:
        return Verdict(FAIL, ("QA comparison with the reference failed",), True, False)
    return Verdict(PASS, (), True, True)
