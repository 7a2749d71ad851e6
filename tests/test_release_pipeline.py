"""The release pipeline validates the release it was started for, on that release's stack.

A release reaches GitLab two ways: `RELEASE=<release>` (web, API, schedule) or a tag
`validate/<release>`. Tags cannot hold `::`, so both use the ref form (`::` as `--`);
the jobs recover the release and derive the stack with `relval stack name`. What
`workflow:` derives is checked with a small evaluator of GitLab's rules (gitlab-ci-local
ignores `workflow:`), and the jobs' own shell lines run for real in bash.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys

import pytest
import yaml

from relval.errors import RelvalError
from relval.infra.stack_new import stack_name_for
from relval.release_ref import pipeline_release, ref_form, release_from_tag

from .conftest import REPO
from .gitlab_rules import evaluate, first_matching_rule, workflow_variables

CI = yaml.safe_load((REPO / ".gitlab-ci.yml").read_text())
# GitLab's environment (and resource group) names: letters, digits, _ / $ { } . - and space.
GITLAB_ENVIRONMENT_NAME = re.compile(r"^[a-zA-Z0-9_/${}. -]+$")
RELEASES = ["O2PDPSuite::nightly-20261120-1", "O2PDPSuite::v24.11-1", "AliPhysics_v5-09-59_01"]


def check_ref_format(ref: str) -> bool:
    return subprocess.run(["git", "check-ref-format", ref]).returncode == 0


# --- the release in a git tag ----------------------------------------------------------------------

@pytest.mark.parametrize("release", RELEASES)
def test_every_release_has_a_valid_tag_that_maps_back(release):
    resolved = pipeline_release(release)
    assert check_ref_format(f"refs/tags/{resolved.tag}"), resolved.tag
    assert release_from_tag(resolved.tag) == release
    assert pipeline_release(tag=resolved.tag) == resolved


def test_the_documented_example():
    assert ref_form("O2PDPSuite::nightly-20261120-1") == "O2PDPSuite--nightly-20261120-1"
    assert release_from_tag("validate/O2PDPSuite--nightly-20261120-1") == \
        "O2PDPSuite::nightly-20261120-1"
    # The form GitLab refuses is refused by git too.
    assert not check_ref_format("refs/tags/validate/O2PDPSuite::nightly-20261120-1")


@pytest.mark.parametrize("release,reason", [
    ("O2--x::y", "contains '--'"),       # '--' would come back as '::'
    ("O2:x", "cannot be written as a git tag"),
    ("O2 x", "cannot be written as a git tag"),
    ("VO_ALICE@O2::x", "cannot be written as a git tag"),
    ("O2..x", "cannot be written as a git tag"),
])
def test_releases_without_a_ref_form_are_refused_not_mangled(release, reason):
    with pytest.raises(RelvalError, match=reason):
        ref_form(release)


@pytest.mark.parametrize("tag", ["v1.0", "validate/", "release/O2--x"])
def test_tags_that_name_no_release_are_refused(tag):
    with pytest.raises(RelvalError, match="does not name a release"):
        release_from_tag(tag)


def test_no_release_at_all_is_one_line():
    with pytest.raises(RelvalError, match="no release: start the pipeline with RELEASE"):
        pipeline_release(None, "")


def test_one_stack_per_release_whichever_way_it_is_started():
    by_release = pipeline_release("O2PDPSuite::nightly-20261120-1")
    by_ref = pipeline_release("O2PDPSuite--nightly-20261120-1")
    by_tag = pipeline_release(tag="validate/O2PDPSuite--nightly-20261120-1")
    assert by_release == by_ref == by_tag
    assert by_release.stack == "relval-o2pdpsuite-nightly-20261120-1"
    assert pipeline_release("O2PDPSuite::nightly-20261121-1").stack != by_release.stack


# --- what the pipeline derives ---------------------------------------------------------------------

def release_shell_line() -> str:
    line = next(s for s in CI[".release"]["before_script"] if "relval stack name" in s)
    return line.replace("venv/bin/relval", f"{shlex.quote(sys.executable)} -m relval")


def derive_in_bash(variables: dict[str, str]) -> dict[str, str]:
    """Run the jobs' own derivation line in bash, with GitLab's variables."""
    script = f"set -e\n{release_shell_line()}\nprintf '%s\\n' \"$RELEASE\" \"$STACK\" \"$RELEASE_REF\""
    env = {k: v for k, v in os.environ.items() if k not in ("RELEASE", "CI_COMMIT_TAG")}
    result = subprocess.run(["bash", "-c", script], cwd=REPO, env={**env, **variables},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    release, stack, ref = result.stdout.splitlines()
    return {"RELEASE": release, "STACK": stack, "RELEASE_REF": ref}


def job_key(job: str, key: str):
    """A job's key, following `extends` the way GitLab merges it (own keys win)."""
    if key in CI[job]:
        return CI[job][key]
    for parent in reversed(CI[job].get("extends", [])):
        value = job_key(parent, key)
        if value is not None:
            return value
    return None


def job_runs(job: str, variables: dict[str, str]) -> bool:
    rules = job_key(job, "rules")
    if rules is None:
        return True
    rule = first_matching_rule(rules, variables)
    return rule is not None and rule.get("when") != "never"


TAG_PIPELINE = {"CI_PIPELINE_SOURCE": "push", "CI_COMMIT_TAG": "validate/O2PDPSuite--nightly-20261120-1",
                "CI_COMMIT_REF_NAME": "validate/O2PDPSuite--nightly-20261120-1"}
WEB_PIPELINE = {"CI_PIPELINE_SOURCE": "web", "CI_COMMIT_BRANCH": "main",
                "RELEASE": "O2PDPSuite--nightly-20261120-1"}


@pytest.mark.parametrize("started", [TAG_PIPELINE, WEB_PIPELINE], ids=["tag", "RELEASE"])
def test_gitlab_derives_one_stack_and_environment_per_release(started):
    variables = workflow_variables(CI, started)
    assert variables is not None, "no pipeline would be created"
    environment = CI["deploy"]["environment"]["name"].replace("$RELEASE_TAG", variables["RELEASE_TAG"])
    assert environment == "relval/validate/O2PDPSuite--nightly-20261120-1"
    assert GITLAB_ENVIRONMENT_NAME.match(environment)
    for job in ("deploy", "validate", "destroy"):
        assert CI[job]["environment"]["name"] == "relval/$RELEASE_TAG"
        assert job_key(job, "resource_group") == "relval/$RELEASE_TAG"
    derived = derive_in_bash(variables)
    assert derived == {"RELEASE": "O2PDPSuite::nightly-20261120-1",
                       "STACK": stack_name_for("O2PDPSuite::nightly-20261120-1"),
                       "RELEASE_REF": "O2PDPSuite--nightly-20261120-1"}
    assert all(job_runs(job, variables) for job in ("test", "deploy", "validate", "destroy"))


def test_a_release_gitlab_cannot_name_creates_no_pipeline():
    # An environment name cannot hold ':'; GitLab would fail the jobs one by one instead.
    assert workflow_variables(CI, {**WEB_PIPELINE, "RELEASE": "O2PDPSuite::nightly-1"}) is None


def test_release_jobs_never_run_in_merge_request_pipelines():
    variables = workflow_variables(CI, {"CI_PIPELINE_SOURCE": "merge_request_event",
                                        "RELEASE": "O2PDPSuite--nightly-1",
                                        "CI_COMMIT_TAG": "validate/O2PDPSuite--nightly-1"})
    assert variables is not None
    assert [job for job in ("deploy", "validate", "destroy") if job_runs(job, variables)] == []
    assert job_runs("test", variables) and job_runs("preview", variables)


def test_evaluator_follows_gitlab_precedence():
    # Checks the test helper itself: && binds tighter than ||; unset is falsy.
    assert evaluate('$A || $B && $C', {"A": "1"})
    assert not evaluate('($A || $B) && $C', {"A": "1"})
    assert evaluate('$T =~ /^validate\\//', {"T": "validate/x"})
    assert not evaluate('$T =~ /^validate\\//', {})
    assert evaluate('$S == "web"', {"S": "web"}) and not evaluate('$S == "web"', {})


# --- the jobs as GitLab runs them -----------------------------------------------------------------

def all_script_text(job: str) -> str:
    return "\n".join(line for key in ("before_script", "script", "after_script")
                     for line in job_key(job, key) or [])


def test_validate_runs_the_pipelines_release_with_a_timeout_and_a_private_key_copy():
    script = all_script_text("validate")
    assert re.search(r'relval campaign "\$CAMPAIGN" --stack "\$STACK" --release "\$RELEASE"', script)
    assert '--reference-release "$REFERENCE_RELEASE"' in script
    assert CI["validate"]["timeout"] == "12h"
    assert 'install -m 600 "$RELVAL_SSH_KEY"' in script
    assert '--identity "$RELVAL_SSH_KEY"' not in script


def test_cleanup_runs_after_any_failure_with_the_deploy_artifacts():
    assert CI["deploy"]["artifacts"]["when"] == "always"
    assert any("Pulumi.relval-" in p for p in CI["deploy"]["artifacts"]["paths"])
    destroy = CI["destroy"]
    assert {"job": "deploy", "artifacts": True, "optional": True} in destroy["needs"]
    assert destroy["rules"][-1]["when"] == "always"
    assert destroy["environment"]["action"] == "stop"
    assert "relval down" in all_script_text("destroy")
    assert CI["preview"]["artifacts"]["when"] == "always"
    assert "preview.txt" in CI["preview"]["artifacts"]["paths"]
    assert "rehearsal.json" in CI["preview"]["artifacts"]["paths"]
    assert "relval rehearse --stack" in all_script_text("preview")


def test_one_engine_version_source():
    text = (REPO / ".gitlab-ci.yml").read_text()
    assert "PULUMI_VERSION" not in text and "get.pulumi.com" not in text
    assert "make setup engine" in all_script_text("deploy")
    assert CI["variables"]["PULUMI_HOME"] == "$CI_PROJECT_DIR/.tools/pulumi/home"


@pytest.mark.slow
def test_schema_tests_skip_with_one_line_in_a_plain_checkout(tmp_path):
    # Without `make engine` the schema tests say why they skip, and the rest pass.
    env = {**os.environ, "RELVAL_PROVIDER_SCHEMA": str(tmp_path / "absent.json")}
    env.pop("RELVAL_REQUIRE_ENGINE", None)  # as in a plain checkout, also when CI sets it
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             "tests/test_infra_plan.py", "-k", "schema"],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:]
    assert "provider schema not found at" in result.stdout and "`make engine` writes it" in result.stdout
    assert "RELVAL_PROVIDER_SCHEMA" in result.stdout and " failed" not in result.stdout
    # Where the engine is required (CI, the `test` job) a missing schema fails, never skips.
    required = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                               "tests/test_infra_plan.py", "-k", "schema"],
                              cwd=REPO, env={**env, "RELVAL_REQUIRE_ENGINE": "1"},
                              capture_output=True, text=True, timeout=600)
    assert required.returncode == 1, required.stdout[-2000:]
    assert "although RELVAL_REQUIRE_ENGINE=1" in required.stdout and " skipped" not in required.stdout


def test_make_engine_writes_the_schema_the_tests_read(engine, monkeypatch):
    from relval.infra.provider_schema import SCHEMA_IN_TOOLS, _default_schema

    monkeypatch.delenv("RELVAL_PROVIDER_SCHEMA", raising=False)
    monkeypatch.delenv("RELVAL_TOOLS_DIR", raising=False)
    assert _default_schema() == REPO / ".tools" / "pulumi" / SCHEMA_IN_TOOLS == engine.root / SCHEMA_IN_TOOLS
    schema = json.loads(_default_schema().read_text())
    assert (schema["name"], schema["version"]) == ("openstack", "5.5.3")
    assert "openstack:compute/instance:Instance" in schema["resources"]
    # The GitLab test job makes the engine and requires it: the schema tests run there.
    assert CI["test"]["script"][:2] == ["make engine", "make test"]
    assert CI["test"]["variables"]["RELVAL_REQUIRE_ENGINE"] == "1"


def test_a_rerun_of_a_deployed_release_follows_an_explicit_policy():
    # relval up --existing reuse|replace (tests/test_engine_rerun.py runs both for real).
    assert 'relval up --stack "$STACK" --existing "$REDEPLOY"' in all_script_text("deploy")
    assert CI["variables"]["REDEPLOY"] == "reuse"


@pytest.mark.parametrize("given,expected", [
    ("O2PDPSuite--nightly-20261119-1", "O2PDPSuite::nightly-20261119-1"),   # ref form, as in a tag
    ("O2PDPSuite::nightly-20261119-1", "O2PDPSuite::nightly-20261119-1"),
    ("", ""),                                                                # the campaign's own
])
def test_reference_release_in_ref_form_reaches_the_campaign_with_its_colons(given, expected):
    script = (f"set -e\n{release_shell_line()}\n"
              "printf '%s\\n' \"${REFERENCE_RELEASE:-}\"")
    env = {k: v for k, v in os.environ.items() if k not in ("RELEASE", "CI_COMMIT_TAG", "REFERENCE_RELEASE")}
    env.update(WEB_PIPELINE, REFERENCE_RELEASE=given)
    result = subprocess.run(["bash", "-c", script], cwd=REPO, env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected
