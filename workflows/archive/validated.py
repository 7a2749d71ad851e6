"""The last release validated in the archive: the reference a release pipeline takes
when none is given.

    is_validated(index) -> bool
    last_validated(runs, exclude=()) -> dict | None           pure: over list_runs' indexes
    choose_reference(campaign, url, exclude=()) -> ReferenceChoice      reads the archive

"Validated" means an archived *candidate* run of the campaign whose verdict was PASS
and whose every job finished. A FAIL does not count, even with a complete comparison:
its release carries a regression, and as the next reference it would make the same
regression compare equal and PASS unnoticed. JOBS_PASSED (nothing compared) and
NO_VERDICT validated nothing. Reference-role runs are the reference chain rerun, not
a validation of that release. "Last" is the most recently archived such run (`created`),
not a release ordering: release names have none.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from relval.workflows.archive import open_archive
from relval.workflows.archive.runs import list_runs


def is_validated(index: dict[str, Any]) -> bool:
    return (index.get("role") == "candidate" and index.get("verdict") == "PASS"
            and index.get("exit_code") == 0 and index.get("complete") is True)


def last_validated(runs: Iterable[dict[str, Any]], exclude: Iterable[str] = ()) -> dict[str, Any] | None:
    """The most recent validated run among runs (oldest first, as list_runs gives them)
    whose release is not excluded (the release under validation is no reference for itself)."""
    excluded = set(exclude)
    chosen = None
    for index in runs:
        if is_validated(index) and index.get("release") not in excluded:
            chosen = index
    return chosen


@dataclass(frozen=True)
class ReferenceChoice:
    campaign: str
    archive: str
    release: str | None           # the last validated release, None when there is none
    run: dict[str, Any] | None    # its archived index
    fallback: str | None          # the campaign file's reference (when a file was given)
    reason: str

    def to_json(self) -> dict[str, Any]:
        run = self.run or {}
        return {"campaign": self.campaign, "archive": self.archive, "release": self.release,
                "source": "archive" if self.release else ("campaign" if self.fallback else None),
                "run": run.get("path"), "created": run.get("created"), "verdict": run.get("verdict"),
                "fallback": self.fallback, "reason": self.reason}


def campaign_name_and_reference(campaign: str) -> tuple[str, str | None]:
    """A campaign file gives its name and its own reference; anything else is a name."""
    if campaign.endswith((".yaml", ".yml")) or Path(campaign).is_file():
        from relval.workflows.campaign import load_campaign

        loaded = load_campaign(campaign)  # a bad file is exit 2
        return loaded.name, loaded.reference_release
    return campaign, None


def choose_reference(campaign: str, url: str, exclude: Iterable[str] = ()) -> ReferenceChoice:
    """ArchiveError (exit 3) when the archive cannot be read: no silent fallback then."""
    name, fallback = campaign_name_and_reference(campaign)
    exclude = [e for e in exclude if e]
    backend = open_archive(url)
    runs = [r for r in list_runs(backend, name) if r.get("campaign") == name]
    chosen = last_validated(runs, exclude)
    others = f" other than {', '.join(exclude)}" if exclude else ""
    if chosen is not None:
        reason = (f"{chosen['release']} is the last release of campaign {name} validated in the archive "
                  f"{backend.url} (run {chosen['path']}, PASS, archived {chosen.get('created')})")
        return ReferenceChoice(name, backend.url, chosen["release"], chosen, fallback, reason)
    counted = sum(1 for r in runs if r.get("role") == "candidate")
    reason = (f"no release of campaign {name}{others} was validated (PASS, every job finished) in the "
              f"archive {backend.url} ({counted} candidate run(s) archived)")
    if fallback:
        reason += f": the campaign file's reference {fallback} stands"
    return ReferenceChoice(name, backend.url, None, None, fallback, reason)
