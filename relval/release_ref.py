"""How a release is named where `::` cannot go: git tags and GitLab environment names.

ALICE releases look like `O2PDPSuite::nightly-20261120-1`. A git ref cannot hold `:`
(git check-ref-format), nor can a GitLab environment or resource-group name, so a
release pipeline names its release in *ref form*: every `::` written `--`:

    release   O2PDPSuite::nightly-20261120-1
    ref form  O2PDPSuite--nightly-20261120-1
    tag       validate/O2PDPSuite--nightly-20261120-1

Going back, every `--` is read as `::`. A release that already contains `--`, a single
`:` or anything else a ref cannot hold has no ref form: it is refused with the reason,
never mangled into another release.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping

from relval.errors import RelvalError

TAG_PREFIX = "validate/"
SEPARATOR, REF_SEPARATOR = "::", "--"
# What git check-ref-format refuses in one component, plus `/` (the tag prefix owns it),
# and what GitLab refuses in environment names (letters, digits, _ . - / $ { } space).
_NOT_IN_REF = re.compile(r"[\x00-\x20\x7f~^:?*\[\\/@$,=+{}]")


@dataclass(frozen=True)
class PipelineRelease:
    """What a release pipeline works on: the release, its stack and its ref form."""

    release: str
    stack: str
    ref: str
    reference: str | None = None  # the reference release, '::' restored


    @property
    def tag(self) -> str:
        return TAG_PREFIX + self.ref

    def to_json(self) -> dict:
        return {"release": self.release, "stack": self.stack, "ref": self.ref, "tag": self.tag,
                "reference": self.reference}


def ref_form(release: str) -> str:
    """`O2PDPSuite::nightly-1` -> `O2PDPSuite--nightly-1`; refuses what has no ref form."""
    if REF_SEPARATOR in release:
        raise RelvalError(f"release {release!r} contains '--', which the tag form reserves "
                          "for '::'; start the pipeline with RELEASE set instead of a tag")
    ref = release.replace(SEPARATOR, REF_SEPARATOR)
    bad = sorted(set(_NOT_IN_REF.findall(ref)))
    if bad or not ref or ref.startswith(("-", ".")) or ref.endswith((".", ".lock")) or ".." in ref:
        shown = " ".join(repr(c) for c in bad) if bad else "its start, end or '..'"
        raise RelvalError(f"release {release!r} cannot be written as a git tag ({shown}); "
                          "start the pipeline with RELEASE set instead of a tag")
    return ref


def release_from_ref(ref: str) -> str:
    """The inverse of `ref_form`: `O2PDPSuite--nightly-1` -> `O2PDPSuite::nightly-1`."""
    return ref.replace(REF_SEPARATOR, SEPARATOR)


def release_from_tag(tag: str) -> str:
    """`validate/O2PDPSuite--nightly-1` -> `O2PDPSuite::nightly-1`."""
    if not tag.startswith(TAG_PREFIX) or len(tag) == len(TAG_PREFIX):
        raise RelvalError(f"tag {tag!r} does not name a release: expected {TAG_PREFIX}<release>, "
                          f"with '::' written '--' (e.g. {TAG_PREFIX}O2PDPSuite--nightly-20261120-1)")
    return release_from_ref(tag[len(TAG_PREFIX):])


def pipeline_release(release: str | None = None, tag: str | None = None,
                     reference: str | None = None) -> PipelineRelease:
    """The release a pipeline was started for: `RELEASE` (either form) or a `validate/` tag,
    and its `REFERENCE_RELEASE` (either form) when one is given.

    Both ways to start the same release give the same stack, so a tag pipeline and a
    RELEASE pipeline for one release share its stack, environment and resource group.
    """
    from relval.infra.stack_new import stack_name_for

    release, tag = (release or "").strip(), (tag or "").strip()
    if release:
        canonical = release_from_ref(release)
    elif tag:
        canonical = release_from_tag(tag)
    else:
        raise RelvalError("no release: start the pipeline with RELEASE=<release> or push a tag "
                          f"{TAG_PREFIX}<release> ('::' written '--')")
    reference = (reference or "").strip()
    return PipelineRelease(canonical, stack_name_for(canonical), ref_form(canonical),
                           release_from_ref(reference) if reference else None)


def from_environment(env: Mapping[str, str]) -> PipelineRelease:
    """`pipeline_release` from GitLab's variables `RELEASE` and `CI_COMMIT_TAG`."""
    return pipeline_release(env.get("RELEASE"), env.get("CI_COMMIT_TAG"))
