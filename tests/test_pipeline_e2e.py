"""The release pipeline's deploy, validate and destroy jobs, run for real.

gitlab-ci-local runs the jobs of `.gitlab-ci.yml` as written, with the real Pulumi engine
against the simulated OpenStack, and the campaign on a stand-in head (a local sshd with the
head's generated host key); see tests/pipeline_support.py for what is real and what
stands in. After destroy, the simulated cloud must hold nothing the pipeline created.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from relval.infra.stack_new import stack_name_for

from . import pipeline_support as ps
from .gitlab_rules import workflow_variables
from .submit_sshd import keygen, running_sshd, sshd_available
from .test_release_pipeline import CI

pytestmark = [pytest.mark.slow, pytest.mark.engine]

ENGINE_CACHE = Path(os.environ.get("RELVAL_ENGINE_CACHE") or
                    Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "relval" / "engine")


@pytest.fixture(scope="module")
def ready(engine):
    """What the jobs need here: gitlab-ci-local, sshd, and the engine build cache that their
    `make engine` links from (without it they would start a cold 25-minute build)."""
    if not ps.GITLAB_CI_LOCAL.exists():
        if shutil.which("npm") is None:
            pytest.skip("npm is not available to install gitlab-ci-local")
        pytest.fail("gitlab-ci-local is missing: `make tools` installs it into .tools/")
    if not sshd_available():
        pytest.skip("needs openssh-server, openssh-client and rsync")
    if not (ENGINE_CACHE / "pulumi-3.274.0" / "pulumi").exists():
        pytest.skip(f"no engine build cache at {ENGINE_CACHE}: run `make engine` once")
    return engine


class Pipeline:
    """One release pipeline: its checkout, its simulated cloud, its variables."""

    def __init__(self, root: Path, release_ref: str):
        self.root = root
        self.client_key = root / "client"
        public_key = keygen(self.client_key, "ed25519")
        self.client_key.chmod(0o666)          # as GitLab writes a File variable
        self.template = ps.template_stack(public_key)
        self.checkout = ps.make_checkout(root, self.template)
        self.cloud = ps.start_cloud(root, self.template)
        (root / "state").mkdir()
        started = {"CI_PIPELINE_SOURCE": "web", "CI_COMMIT_BRANCH": "main", "RELEASE": release_ref}
        derived = workflow_variables(CI, started)  # gitlab-ci-local ignores workflow:
        assert derived is not None
        self.variables = {**started, **derived, "TEMPLATE_STACK": ps.TEMPLATE,
                          "PULUMI_BACKEND_URL": (root / "state").as_uri(),
                          "PULUMI_CONFIG_PASSPHRASE": ps.PASSPHRASE, **self.cloud.env}

    def run(self, job: str, **extra: str) -> ps.JobRun:
        return ps.run_job(self.checkout, job, {**self.variables, **extra})

    def validate(self, campaign: Path, **extra: str) -> ps.JobRun:
        stack = self.stack
        host_key = ps.head_host_private_key(self.checkout, stack, self.variables)
        (self.root / "sshd").mkdir()
        with running_sshd(self.root / "sshd", host_key) as head:
            # The head accepts the pipeline's key (cloud-init would install the stack's).
            (self.root / "sshd" / "authorized_keys").write_text(
                Path(str(self.client_key) + ".pub").read_text())
            return self.run("validate", RELVAL_SSH_KEY=str(self.client_key),
                            RELVAL_SSH_CONFIG=str(ps.ssh_config_to(self.root, head.port)),
                            BATCH="local", REMOTE_BASE=str(self.root / "head"),
                            CAMPAIGN=str(campaign), **extra)

    @property
    def stack(self) -> str:
        from relval.release_ref import release_from_ref

        return stack_name_for(release_from_ref(self.variables["RELEASE"]))

    def state_file(self) -> Path:
        return self.root / "state" / ".pulumi" / "stacks" / "relval" / f"{self.stack}.json"


@pytest.fixture
def pipeline(ready, tmp_path):
    made = []

    def start(release_ref: str) -> Pipeline:
        made.append(Pipeline(tmp_path, release_ref))
        return made[-1]

    yield start
    for p in made:
        p.cloud.stop()


def artifact_json(p: Pipeline, job: str, name: str) -> dict:
    return json.loads(ps.artifact(p.checkout, job, name).read_text())


def test_a_release_pipeline_validates_its_release_and_leaves_nothing(pipeline, tmp_path):
    p = pipeline("O2PDPSuite--ci-e2e-1")
    deploy = p.run("deploy")
    assert deploy.passed, deploy.tail()
    assert "release O2PDPSuite::ci-e2e-1, stack relval-o2pdpsuite-ci-e2e-1" in deploy.output
    assert p.cloud.counts().get("servers") == 3 and p.cloud.counts().get("floating_ips") == 1
    assert artifact_json(p, "deploy", "outputs.json")["release"] == "O2PDPSuite::ci-e2e-1"

    campaign = ps.toy_campaign(tmp_path)
    # A release validated before (PASS, archived where the jobs archive: RELVAL_ARCHIVE):
    # without REFERENCE_RELEASE the pipeline validates against it, not the file's toy/v1.
    seeded = subprocess.run([sys.executable, "-m", "relval", "run", str(campaign), "--local",
                             "--release", "toy/v1.1", "--workdir", str(tmp_path / "seed")],
                            capture_output=True, text=True, timeout=600)
    assert seeded.returncode == 0, seeded.stderr[-2000:]
    validate = p.validate(campaign, CI_JOB_TIMEOUT="7200")
    assert validate.passed, validate.tail()
    assert "reference: toy/v1.1 is the last release of campaign ci-e2e validated" in validate.output
    # gitlab-ci-local has no job timeout: CI_JOB_TIMEOUT stands in; the time already spent
    # in the job (before_script) is taken off.
    left = re.search(r"deadline: --timeout auto: no estimate \(stage sim has no resources.wall_time_s"
                     r".*relval stops after (\d+) s .*600 s before the job's timeout of (\d+) s",
                     validate.output)
    assert left and 7000 < int(left[2]) <= 7200 and int(left[1]) == int(left[2]) - 600, validate.tail()
    verdict = artifact_json(p, "validate", "verdict.json")
    assert verdict["verdict"] == "PASS" and verdict["exit_code"] == 0, verdict
    # The campaign file names toy/v1: the pipeline's release replaced it.
    work = ps.artifact(p.checkout, "validate", f"reports/{p.stack}/ci-e2e/work")
    report = json.loads((work / "report.json").read_text())
    assert report["release"] == "O2PDPSuite::ci-e2e-1", report.get("release")
    assert report["reference"] == "toy/v1.1" and report["reference_source"]["source"] == "archive", report
    assert [d.name.rsplit("-", 1)[0] for d in work.glob("candidate-*")] == ["candidate-O2PDPSuite-ci-e2e-1"]
    sim_logs = "".join(f.read_text() for f in work.glob("candidate-*/**/*.log"))
    assert "toy sim: release O2PDPSuite::ci-e2e-1" in sim_logs
    assert list(ps.artifact(p.checkout, "validate", "reports").glob("*/*/work/qa/junit.xml"))

    destroy = p.run("destroy")
    assert destroy.passed, destroy.tail()
    assert p.cloud.counts() == {}
    teardown = artifact_json(p, "destroy", "teardown.json")
    assert teardown["clean"] and teardown["state_found"] and teardown["destroyed"], teardown
    assert not p.state_file().exists()  # the stack was removed from the backend


def test_a_deploy_that_fails_half_way_is_cleaned_up(pipeline):
    from relval.simcloud.client import add_fault

    p = pipeline("O2PDPSuite--ci-e2e-2")
    add_fault(p.cloud.url, {"kind": "boot_error", "name": "worker-001$", "count": None})
    deploy = p.run("deploy")
    assert not deploy.passed and "FAIL" in deploy.output, deploy.tail()
    left = p.cloud.counts()
    assert left.get("servers", 0) >= 2 and left.get("volumes", 0) >= 1, left  # half-way
    # Kept after the failure: destroy needs the stack file (its encryption salt).
    assert ps.artifact(p.checkout, "deploy", f"Pulumi.{p.stack}.yaml").is_file()

    destroy = p.run("destroy")  # GitLab runs it: when: always, needs optional
    assert destroy.passed, destroy.tail()
    assert p.cloud.counts() == {}
    assert artifact_json(p, "destroy", "teardown.json")["clean"]


def test_a_failed_validation_is_cleaned_up(pipeline, tmp_path):
    p = pipeline("O2PDPSuite--ci-e2e-3")
    assert p.run("deploy").passed
    # toy/v2 carries the planted regression: against it, the release is graded FAIL.
    validate = p.validate(ps.toy_campaign(tmp_path), REFERENCE_RELEASE="toy/v2")
    assert not validate.passed, validate.tail()
    assert "reference: toy/v2, given by REFERENCE_RELEASE" in validate.output
    verdict = artifact_json(p, "validate", "verdict.json")
    assert verdict["verdict"] == "FAIL" and verdict["exit_code"] == 1, verdict
    assert p.cloud.counts().get("servers") == 3  # --keep: the cluster waits for destroy

    destroy = p.run("destroy")
    assert destroy.passed, destroy.tail()
    assert p.cloud.counts() == {}


def test_a_backend_error_is_no_verdict_never_nothing_to_destroy(pipeline):
    p = pipeline("O2PDPSuite--ci-e2e-4")
    missing = (p.root / "no-such-state").as_uri()  # like a bucket that does not exist
    destroy = p.run("destroy", PULUMI_BACKEND_URL=missing)
    assert not destroy.passed
    assert "FAIL 3" in destroy.output, destroy.tail()
    assert "unable to open state directory" in destroy.output, destroy.tail()
    assert "has no stack" not in destroy.output and "nothing left to destroy" not in destroy.output
    # With the backend it was given, the same job finds the stack absent: exit 0, said so.
    again = p.run("destroy")
    assert again.passed, again.tail()
    assert "has no stack" in again.output


def test_a_merge_request_without_cloud_credentials_rehearses_and_keeps_the_output(ready, tmp_path):
    from .conftest import VALID_KEY

    checkout = ps.make_checkout(tmp_path, ps.template_stack(VALID_KEY))
    preview = ps.run_job(checkout, "preview", {"CI_PIPELINE_SOURCE": "merge_request_event",
                                               "CI_COMMIT_BRANCH": "feature"})
    assert preview.passed, preview.tail()
    rehearsal = json.loads(ps.artifact(checkout, "preview", "rehearsal.json").read_text())
    assert rehearsal["stack"] == "alice-relval" and rehearsal["ok"], rehearsal
    assert [s["name"] for s in rehearsal["steps"]] == ["preview", "up", "up again", "scaler boot", "down"]
    assert "no cloud credentials" in ps.artifact(checkout, "preview", "preview.txt").read_text()
    assert ps.artifact(checkout, "preview", "plan.json").is_file()
