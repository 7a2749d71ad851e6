"""References that need no rerun: archived results of the reference release, or a
`reference.outputs` URL (file://, s3://, root://).

    resolve_reference(campaign, root, archive_url=None) -> (Campaign, source | None, notes)
        before anything runs: the compared files fetched (verified) into
        root/reference-fetched/, and the campaign pointing its reference outputs there.
    check_remote_outputs(campaign)   the URL answers and holds every compared file (exit 3 if not)

A reference release is taken from the archive only when an archived run of it is
complete and compatible (`compat.differences`: same stages, compared files, datasets
and parameters); otherwise its chain runs as before and the notes say why.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

from relval.errors import NoVerdictError
from relval.workflows.archive import open_archive
from relval.workflows.archive.backend import ArchiveError, first
from relval.workflows.archive.compat import differences, fingerprint
from relval.workflows.archive.runs import fetch_run, list_runs
from relval.workflows.archive.transfer import local_checksum
from relval.workflows.campaign import Campaign

FETCHED_DIR = "reference-fetched"
SOURCE_FILE = "reference-source.json"


def _compared(campaign: Campaign) -> list[str]:
    from relval.workflows.run import reference_files

    return reference_files(campaign)


def resolve_reference(campaign: Campaign, root: Path, archive_url: str | None = None
                      ) -> tuple[Campaign, dict[str, Any] | None, list[str]]:
    """Also writes root/reference-source.json (the source and the notes) for `judge`."""
    (root / SOURCE_FILE).unlink(missing_ok=True)
    shutil.rmtree(root / FETCHED_DIR, ignore_errors=True)  # never a previous run's reference
    campaign, source, notes = _resolve(campaign, root, archive_url)
    if source or notes:
        root.mkdir(parents=True, exist_ok=True)
        (root / SOURCE_FILE).write_text(json.dumps({"source": source, "notes": notes}, indent=2) + "\n")
    return campaign, source, notes


def read_source(root: Path) -> tuple[dict[str, Any] | None, list[str]]:
    """What `resolve_reference` recorded for this work directory."""
    try:
        doc = json.loads((root / SOURCE_FILE).read_text())
    except (OSError, ValueError):
        return None, []
    return doc.get("source"), list(doc.get("notes") or [])


def _resolve(campaign: Campaign, root: Path, archive_url: str | None
             ) -> tuple[Campaign, dict[str, Any] | None, list[str]]:
    if not campaign.compare_files:
        return campaign, None, []
    if campaign.reference_outputs and "://" in campaign.reference_outputs:
        directory = fetch_remote_outputs(campaign, root / FETCHED_DIR)
        source = {"release": None, "source": "outputs", "url": campaign.reference_outputs}
        return replace(campaign, reference_outputs=str(directory)), source, []
    if not (campaign.reference_release and archive_url):
        return campaign, None, []
    try:
        backend = open_archive(archive_url)
        runs = list_runs(backend, campaign.name, campaign.reference_release)
    except ArchiveError as error:
        return campaign, None, [f"the archive could not be read, the reference chain runs: {error}"]
    wanted, compared = fingerprint(campaign), [f"outputs/{n}" for n in _compared(campaign)]
    notes = []
    for index in reversed(runs):  # the latest usable run
        why = differences(index.get("fingerprint"), wanted)
        if not index.get("complete"):
            why.append("not every job of it finished")
        held = {f["key"] for f in index.get("files", [])}
        if not set(compared) <= held:
            why.append("it lacks compared outputs")
        if why:
            notes.append(f"archived run {index['path']} of {campaign.reference_release} not used: "
                         + "; ".join(why))
            continue
        target = root / FETCHED_DIR
        shutil.rmtree(target, ignore_errors=True)
        held_resources = ["resources.json"] if "resources.json" in held else []
        fetch_run(backend, index, target, only=compared + held_resources)  # verified against the index
        source = {"release": campaign.reference_release, "source": "archive", "url": backend.url,
                  "run": index["path"], "created": index.get("created")}
        notes.append(f"the reference {campaign.reference_release} came from the archive "
                     f"({backend.url.rstrip('/')}/{index['path']}); its chain was not rerun")
        return replace(campaign, reference_outputs=str(target / "outputs")), source, notes
    return campaign, None, notes


def archived_resources(root: Path) -> dict | None:
    """The archived reference's per-job metrics, when it came from the archive with them."""
    try:
        return json.loads((root / FETCHED_DIR / "resources.json").read_text())
    except (OSError, ValueError):
        return None


def check_remote_outputs(campaign: Campaign) -> dict[str, Any]:
    """Every compared file at the `reference.outputs` URL, with what the far side holds;
    NoVerdictError (exit 3) when the URL cannot be read or lacks one."""
    url = campaign.reference_outputs
    names = _compared(campaign)
    try:
        backend = open_archive(url)
        held = backend.stat(names)
        missing = [n for n in names if n not in held]
        if missing:  # an archived run's directory keeps them under outputs/
            nested = backend.stat([f"outputs/{n}" for n in missing])
            held.update({k[len("outputs/"):]: v for k, v in nested.items()})
    except ArchiveError as error:
        raise NoVerdictError(f"{campaign.source}: reference.outputs: {url} cannot be read: {error}") from None
    missing = [n for n in names if n not in held]
    if missing:
        raise NoVerdictError(f"{campaign.source}: reference.outputs: {url} lacks the compared "
                             f"file(s) {first(missing, 5)}")
    return {"backend": backend, "held": held}


def fetch_remote_outputs(campaign: Campaign, target: Path) -> Path:
    """Download the compared files from the `reference.outputs` URL, each checked against
    the size and checksum the far side reports."""
    found = check_remote_outputs(campaign)
    backend, held = found["backend"], found["held"]
    shutil.rmtree(target, ignore_errors=True)
    try:
        backend.get([(remote.key, target / name) for name, remote in held.items()])
    except ArchiveError as error:
        raise NoVerdictError(f"{campaign.source}: reference.outputs: {error}") from None
    for name, remote in held.items():
        local = target / name
        if (not local.is_file() or local.stat().st_size != remote.size
                or (remote.checksum and local_checksum(local, backend.checksum_kind) != remote.checksum)):
            local.unlink(missing_ok=True)
            raise NoVerdictError(f"{campaign.source}: reference.outputs: corrupt download of {name} "
                                 f"from {campaign.reference_outputs}")
    return target
