"""The release pipeline's jobs run for real: gitlab-ci-local, the engine, a simulated cloud.

- **The checkout.** GitLab clones the repository: here the tracked files of this working
  tree (uncommitted edits included) are copied into a fresh git repository, plus one file a
  project would add itself: the template stack `Pulumi.ci-e2e.yaml`, the example stack
  pointed at the simulated cloud (the test's own SSH key and user, a floating-IP pool).
- **The jobs.** gitlab-ci-local 4.60.1 with the shell executor and `--shell-isolation`: each
  job runs in its own copy of the checkout and gets only the artifacts it `needs`, as in
  GitLab. gitlab-ci-local never starts a job after a skipped one, so the pipeline is run
  one job at a time in GitLab's order (`destroy` runs after a failed `deploy` as GitLab's
  `when: always` runs it; tests/test_release_pipeline.py checks the rules themselves).
  The jobs run `make setup engine` as written: the engine is linked from the build cache
  `make engine` keeps (`~/.cache/relval/engine`). One stand-in: the jobs' cache holds a
  link to this checkout's virtualenv, so `make setup` finds it up to date instead of
  installing 1 GB of packages per job (gitlab-ci-local restores a cache folder whole).
- **The cloud.** `python -m relval.simcloud`, seeded with what the template references;
  OS_* come from it. State lives in a `file://` backend under the test's directory.
- **The head.** The simulated VMs never boot, so the head's SSH is a local sshd serving
  the host key Pulumi generated for the head (read from the stack's state): `relval
  campaign` pins it exactly as it would pin the real head's. An ssh_config
  (`RELVAL_SSH_CONFIG`) routes the head's address to that sshd, as a ProxyJump would
  route it through a bastion. The campaign runs there with `BATCH=local` (makeflow on
  the head): it needs no condor pool.
"""

from __future__ import annotations

import getpass
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from .conftest import EXAMPLE_STACK, REPO

GITLAB_CI_LOCAL = REPO / ".tools" / "node_modules" / ".bin" / "gitlab-ci-local"
TEMPLATE = "ci-e2e"
PASSPHRASE = "relval-pipeline-test"
CACHE_KEY = "relval-engine"  # .gitlab-ci.yml default:cache:key


def template_stack(public_key: str) -> dict:
    """The example stack pointed at the simulated cloud: our key and login user, and a
    floating IP so that the sweep has one to find."""
    document = yaml.safe_load(EXAMPLE_STACK.read_text())
    config = document["config"]
    config["relval:sshPublicKey"] = public_key
    config["relval:sshUser"] = getpass.getuser()
    config["relval:floatingIpPool"] = "public"
    # Static workers, so a deploy has workers to fail half-way on: with the elastic scaler
    # Pulumi would make only the head (the scaler boots every worker), and the head here
    # is a local sshd that runs no scaler.
    config["relval:autoscaler"] = {"enabled": False}
    return document


def make_checkout(root: Path, template: dict) -> Path:
    """A plain checkout: the tracked files of this working tree, committed, plus the
    template stack; the virtualenv sits in gitlab-ci-local's cache for the jobs."""
    checkout = root / "checkout"
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    files = [f for f in listed.decode().split("\0") if f and (REPO / f).exists()]
    subprocess.run(["rsync", "-a", "--files-from=-", "--from0", f"{REPO}/", f"{checkout}/"],
                   input="\0".join(files).encode(), check=True)
    (checkout / f"Pulumi.{TEMPLATE}.yaml").write_text(yaml.safe_dump(template, sort_keys=False))
    git = ["git", "-c", "user.name=relval-test", "-c", "user.email=test@relval.invalid"]
    subprocess.run([*git, "init", "-q", "-b", "main"], cwd=checkout, check=True)
    subprocess.run([*git, "add", "-A"], cwd=checkout, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "checkout"], cwd=checkout, check=True)
    cache = checkout / ".gitlab-ci-local" / "cache" / CACHE_KEY
    cache.mkdir(parents=True)
    (cache / "venv").symlink_to(REPO / "venv")
    return checkout


@dataclass
class SimulatedCloud:
    """`python -m relval.simcloud` in a child process."""

    process: subprocess.Popen
    url: str
    env: dict[str, str]

    def inventory(self) -> dict:
        from relval.simcloud.client import inventory

        return inventory(self.url)

    def counts(self) -> dict[str, int]:
        return {k: v for k, v in self.inventory()["counts"].items() if v}

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_cloud(root: Path, template: dict) -> SimulatedCloud:
    from relval.rehearse import seed_spec
    from relval.simcloud.client import configure

    seed = seed_spec(template)
    (root / "seed.yaml").write_text(yaml.safe_dump(seed))
    log = open(root / "simcloud.log", "w")
    process = subprocess.Popen([sys.executable, "-m", "relval.simcloud", "--seed", str(root / "seed.yaml"),
                                "--boot-delay", "0.3", "--delete-delay", "0.3", "--volume-delay", "0.1"],
                               stdout=subprocess.PIPE, stderr=log, text=True)
    line = process.stdout.readline()
    if not line:
        process.wait()
        raise RuntimeError("simcloud did not start: " + (root / "simcloud.log").read_text())
    started = json.loads(line)
    zone = template["config"].get("relval:availabilityZone")
    if zone:  # the template's zone exists in the simulated Nova and Cinder
        configure(started["url"], {"availability_zones": ["nova", zone]})
    return SimulatedCloud(process, started["url"], started["env"])


@dataclass
class JobRun:
    job: str
    returncode: int
    output: str

    @property
    def passed(self) -> bool:
        return self.returncode == 0 and f"PASS  {self.job}" in self.output.replace("\x1b", "")

    def tail(self, n: int = 4000) -> str:
        return self.output[-n:]


def job_environment() -> dict[str, str]:
    """The environment gitlab-ci-local (and so each shell job) runs in: this one, minus
    what would point the jobs at an engine or a cloud other than their own."""
    drop = ("RELVAL_TOOLS_DIR", "PULUMI_HOME", "PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE",
            "OS_CLOUD", "PYTEST_ADDOPTS", "RELVAL_STACK", "PULUMI_STACK")
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("OS_")}
    go = shutil.which("go") or "/usr/local/go/bin/go"
    env["PATH"] = f"{Path(go).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def run_job(checkout: Path, job: str, variables: dict[str, str], timeout: int = 1800) -> JobRun:
    args = [str(GITLAB_CI_LOCAL), job, "--shell-isolation", "--force-shell-executor",
            "--no-artifacts-to-source", "--no-color"]
    for key, value in variables.items():
        args += ["--variable", f"{key}={value}"]
    done = subprocess.run(args, cwd=checkout, env=job_environment(), capture_output=True,
                          text=True, timeout=timeout)
    return JobRun(job, done.returncode, done.stdout + done.stderr)


def build_dir(checkout: Path, job: str) -> Path:
    return checkout / ".gitlab-ci-local" / "builds" / job


def artifact(checkout: Path, job: str, name: str) -> Path:
    return checkout / ".gitlab-ci-local" / "artifacts" / job / name


def head_host_private_key(checkout: Path, stack: str, variables: dict[str, str]) -> str:
    """The head's SSH host key Pulumi generated, from the stack's state (what cloud-init
    would install on the head)."""
    from relval.infra import automation

    workspace = automation.Workspace(work_dir=build_dir(checkout, "deploy"), env={
        k: v for k, v in variables.items() if k.startswith(("OS_", "PULUMI_"))})
    for resource in automation.stack_resources(stack, workspace):
        if resource["type"] == "tls:index/privateKey:PrivateKey":
            return resource["outputs"]["privateKeyOpenssh"]
    raise AssertionError(f"stack {stack} has no generated host key")


PROXY = """\
import os, socket, sys, threading
peer = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
def send():
    while True:
        data = os.read(0, 65536)
        if not data:
            break
        peer.sendall(data)
    peer.shutdown(socket.SHUT_WR)
threading.Thread(target=send, daemon=True).start()
while True:
    data = peer.recv(65536)
    if not data:
        break
    os.write(1, data)
"""


def ssh_config_to(root: Path, port: int) -> Path:
    """An ssh_config that routes every host to 127.0.0.1:port, the way a ProxyJump routes
    the head's private address through a bastion."""
    (root / "proxy.py").write_text(PROXY)
    path = root / "ssh_config"
    path.write_text(f"Host *\n  ProxyCommand {sys.executable} {root / 'proxy.py'} {port}\n")
    return path


CAMPAIGN = """\
campaign: ci-e2e
release: toy/v1                  # the pipeline's RELEASE replaces it
reference:
  release: toy/v1
environment:
  setup: "export PATH={venv_bin}:$PATH"
datasets:
  - name: pp
    jobs: 1
    parameters: {{events: 400}}
stages:
  - name: sim
    per: job
    command: python3 toy.py sim --release {{release}} --events {{events}} --seed {{job}} -o {{outputs[0]}}
    files: [toy.py]
    outputs: [sim.root]
  - name: rec
    per: job
    after: [sim]
    command: python3 toy.py rec {{inputs[0]}} -o {{outputs[0]}}
    files: [toy.py]
    outputs: [rec.root]
  - name: qa
    per: job
    after: [rec]
    command: python3 toy.py qa {{inputs[0]}} -o {{outputs[0]}}
    files: [toy.py]
    outputs: [QAresults.root]
  - name: merge
    per: dataset
    after: [qa]
    command: relval qa merge -o {{outputs[0]}} {{inputs}}
    outputs: [QAmerged.root]
compare:
  files: [QAmerged.root]
retries: 0
"""


def toy_campaign(root: Path) -> Path:
    """The smoke campaign cut to one job: the toy chain on the head, QA compared."""
    directory = root / "campaign"
    directory.mkdir()
    shutil.copy(REPO / "examples" / "toy" / "toy.py", directory / "toy.py")
    path = directory / "ci-e2e.yaml"
    path.write_text(CAMPAIGN.format(venv_bin=REPO / "venv" / "bin"))
    return path
