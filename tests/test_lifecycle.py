"""One stack per release: stack files from the template, the Automation API commands
without a Pulumi CLI, and the GitLab pipeline checked with gitlab-ci-local."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from relval.errors import RelvalError
from relval.infra.config import parse_stack_config
from relval.infra.config_source import from_stack_file
from relval.infra.stack_new import new_stack, stack_name_for

from .conftest import EXAMPLE_STACK, REPO

STACK_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "Pulumi.yaml").write_text((REPO / "Pulumi.yaml").read_text())
    shutil.copy(EXAMPLE_STACK, tmp_path / EXAMPLE_STACK.name)
    return tmp_path


@pytest.mark.parametrize("release,expected", [
    ("O2PDPSuite::nightly-20261120-1", "relval-o2pdpsuite-nightly-20261120-1"),
    ("O2/daily-20261120", "relval-o2-daily-20261120"),
    ("vAN-20261120_O2-1", "relval-van-20261120-o2-1"),
    ("relval-already-prefixed", "relval-already-prefixed"),
    ("  AliPhysics  v5-09-59 ", "relval-aliphysics-v5-09-59"),
])
def test_stack_name_is_a_slug_of_the_release(release, expected):
    assert stack_name_for(release) == expected
    assert STACK_NAME.match(expected)


def test_stack_name_is_at_most_100_characters():
    name = stack_name_for("O2::" + "very-long-tag-" * 20)
    assert len(name) <= 100 and STACK_NAME.match(name) and not name.endswith("-")


def test_release_without_letters_is_refused():
    with pytest.raises(RelvalError, match="no letters or digits"):
        stack_name_for("::/::")


def test_new_stack_sets_the_release_keeps_comments_and_validates(project):
    path = new_stack("O2PDPSuite::nightly-20261121-1", root=project)
    assert path.name == "Pulumi.relval-o2pdpsuite-nightly-20261121-1.yaml"
    text = path.read_text()
    assert "# Copy it per release" in text  # the template's guidance survives
    cfg = parse_stack_config(from_stack_file(path).values)
    assert cfg.release == "O2PDPSuite::nightly-20261121-1"
    template = parse_stack_config(from_stack_file(EXAMPLE_STACK).values)
    assert cfg.workers == template.workers and cfg.image == template.image


def test_new_stack_refuses_to_overwrite(project):
    new_stack("O2::a", name="rel-a", root=project)
    before = (project / "Pulumi.rel-a.yaml").read_text()
    with pytest.raises(RelvalError, match="already exists; refusing to overwrite"):
        new_stack("O2::b", name="rel-a", root=project)
    assert (project / "Pulumi.rel-a.yaml").read_text() == before


def test_new_stack_with_an_invalid_release_writes_nothing(project):
    with pytest.raises(RelvalError) as caught:
        new_stack("bad$(release)", name="rel-bad", root=project)
    assert "relval:release must use only letters" in str(caught.value)
    assert not (project / "Pulumi.rel-bad.yaml").exists()


def test_new_stack_rejects_bad_names(project):
    with pytest.raises(RelvalError, match="stack name 'a b'"):
        new_stack("O2::a", name="a b", root=project)


def relval(*args: str, path: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    # RELVAL_TOOLS_DIR: not the engine `make engine` may have built in this checkout.
    env = {**os.environ, "PATH": path, "RELVAL_TOOLS_DIR": path}
    return subprocess.run([sys.executable, "-m", "relval", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("command", [["up", "--stack", "alice-relval"],
                                     ["down", "--stack", "alice-relval"],
                                     ["outputs", "--stack", "alice-relval"]])
def test_missing_pulumi_cli_is_exit_2_with_how_to_install(tmp_path, command):
    result = relval(*command, path=str(tmp_path))  # an empty PATH: no pulumi anywhere
    assert result.returncode == 2, result.stderr
    assert "no Pulumi engine found" in result.stderr
    assert "make engine" in result.stderr
    assert "Traceback" not in result.stderr


def test_stack_new_command(project):
    result = relval("stack", "new", "O2PDPSuite::nightly-20261122-1", path=os.environ["PATH"],
                    cwd=project)
    assert result.returncode == 0, result.stderr
    assert (project / "Pulumi.relval-o2pdpsuite-nightly-20261122-1.yaml").is_file()
    again = relval("stack", "new", "O2PDPSuite::nightly-20261122-1", path=os.environ["PATH"],
                   cwd=project)
    assert again.returncode == 2 and "refusing to overwrite" in again.stderr


# --- the GitLab pipeline --------------------------------------------------------------------------

GITLAB_CI_LOCAL = REPO / ".tools" / "node_modules" / ".bin" / "gitlab-ci-local"


@pytest.fixture(scope="module")
def gitlab_ci_local():
    if not GITLAB_CI_LOCAL.exists():
        if shutil.which("npm") is None:
            pytest.skip("npm is not available to install gitlab-ci-local")
        pytest.fail("gitlab-ci-local is missing: `make setup` installs it into .tools/")
    return str(GITLAB_CI_LOCAL)


def listed_jobs(tool: str, *variables: str) -> dict[str, str]:
    args = [tool, "--list"]
    for variable in variables:
        args += ["--variable", variable]
    result = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "json schema validated" in result.stdout + result.stderr
    lines = result.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("name"))
    return {line.split()[0]: line.split()[2 if len(line.split()) > 2 else 1]
            for line in lines[header + 1:] if line.strip()}


def test_merge_request_pipeline_runs_tests_and_preview_only(gitlab_ci_local):
    jobs = listed_jobs(gitlab_ci_local, "CI_PIPELINE_SOURCE=merge_request_event",
                       "CI_COMMIT_BRANCH=feature")
    assert set(jobs) == {"test", "preview"}


def test_merge_request_pipeline_with_a_release_still_runs_no_release_job(gitlab_ci_local):
    jobs = listed_jobs(gitlab_ci_local, "CI_PIPELINE_SOURCE=merge_request_event",
                       "RELEASE=O2PDPSuite--nightly-20261120-1")
    assert set(jobs) == {"test", "preview"}


def test_release_pipeline_tests_deploys_validates_and_always_destroys(gitlab_ci_local):
    jobs = listed_jobs(gitlab_ci_local, "RELEASE=O2PDPSuite--nightly-20261120-1",
                       "CI_PIPELINE_SOURCE=web", "CI_COMMIT_BRANCH=feature")
    assert set(jobs) == {"test", "deploy", "validate", "destroy"}
    assert jobs["destroy"] == "always"


def test_tag_pipeline_is_a_release_pipeline(gitlab_ci_local):
    jobs = listed_jobs(gitlab_ci_local, "CI_COMMIT_TAG=validate/O2PDPSuite--nightly-20261120-1",
                       "CI_PIPELINE_SOURCE=push", "CI_COMMIT_BRANCH=")
    assert set(jobs) == {"test", "deploy", "validate", "destroy"}


def test_keep_cluster_makes_destroy_manual(gitlab_ci_local):
    jobs = listed_jobs(gitlab_ci_local, "RELEASE=O2PDPSuite--nightly-20261120-1",
                       "CI_PIPELINE_SOURCE=web", "KEEP_CLUSTER=1")
    assert jobs["destroy"] == "manual"


def test_release_jobs_share_one_environment_and_resource_group():
    ci = yaml.safe_load((REPO / ".gitlab-ci.yml").read_text())
    deploy, validate, destroy = ci["deploy"], ci["validate"], ci["destroy"]
    assert deploy["environment"] == {"name": "relval/$RELEASE_TAG", "on_stop": "destroy",
                                     "auto_stop_in": "1 day"}
    assert destroy["environment"] == {"name": "relval/$RELEASE_TAG", "action": "stop"}
    assert ci[".release"]["resource_group"] == "relval/$RELEASE_TAG"
    assert all(".release" in job["extends"] for job in (deploy, validate, destroy))
    assert "--keep" in " ".join(validate["script"])
    assert "junit" in validate["artifacts"]["reports"]
    assert ci["variables"]["PULUMI_HOME"].startswith("$CI_PROJECT_DIR")
    assert "make test" in ci["test"]["script"] and "rules" not in ci["test"]


def test_no_credentials_are_committed():
    text = (REPO / ".gitlab-ci.yml").read_text()
    for name in ("OS_PASSWORD", "OS_APPLICATION_CREDENTIAL_SECRET", "PULUMI_CONFIG_PASSPHRASE",
                 "AWS_SECRET_ACCESS_KEY"):
        assert not re.search(rf"^\s*{name}\s*:", text, re.M), name


# relval down: see test_teardown_sweep.py


@pytest.mark.slow
def test_the_test_job_runs_through_gitlab_ci_local(gitlab_ci_local):
    # The shell executor runs the job in this checkout; a narrow -k keeps it quick and
    # keeps the nested run from starting this test again.
    result = subprocess.run(
        [gitlab_ci_local, "test", "--force-shell-executor", "--no-artifacts-to-source",
         "--variable", "CI_PIPELINE_SOURCE=merge_request_event",
         "--variable", "PYTEST_ADDOPTS=-k test_stack_config -p no:cacheprovider"],
        cwd=REPO, capture_output=True, text=True, timeout=900)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "$ make test" in output and re.search(r"\d+ passed", output)
    assert re.search(r"PASS\s+test\b", output), output[-2000:]
