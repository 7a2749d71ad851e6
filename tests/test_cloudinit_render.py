"""Node contextualization checked with the real tools: Debian's `cloud-init schema`
and HTCondor's own Python bindings reading the condor config we write."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from relval.cloudinit import (NOVA_USER_DATA_LIMIT, AutoscalerFacts, HostKey, NodeFacts,
                              decode_user_data, encode_user_data, render)
from relval.errors import RelvalError
from relval.infra.config import parse_stack_config
from relval.infra.plan import user_data_of

from .conftest import BASE_CONFIG, make_plan

HEAD = "10.42.7.9"
SIGNING_KEY = "S3cr3tPoolKeyAbcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMN"
HOST_KEY = HostKey("-----BEGIN OPENSSH PRIVATE KEY-----\nAAAAprivatekeymaterialline1xxxxxxxx\n"
                   "-----END OPENSSH PRIVATE KEY-----\n", "ssh-ed25519 AAAAC3Nz host")
VOLUMES = [{"name": "spool", "sizeGb": 100, "mountPoint": "/data", "role": "head"},
           {"name": "scratch", "sizeGb": 50, "mountPoint": "/scratch", "role": "worker"}]
AUTOSCALER = AutoscalerFacts(config_yaml="stack: s\n", worker_user_data="#cloud-config\n",
                             bundle_b64="UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA==",
                             requirements=("PyYAML==6.0.3",),
                             credentials=(("/etc/relval/clouds.yaml", "clouds: {}\n"),),
                             environment=(("OS_CLIENT_CONFIG_FILE", "/etc/relval/clouds.yaml"),))


def config(**changes):
    raw = copy.deepcopy(BASE_CONFIG)
    raw.update(changes)
    return parse_stack_config(raw)


def facts(role: str, cfg, autoscaler=False) -> NodeFacts:
    return NodeFacts(
        stack="rv-test", head_address=HEAD, signing_key=SIGNING_KEY,
        ssh_authorized_keys=(BASE_CONFIG["sshPublicKey"],),
        host_key=HOST_KEY if role == "head" else None,
        volume_ids={v.name: f"0b6c0e4a-1f0d-4a8e-9d2b-{i:012d}" for i, v in enumerate(cfg.volumes)},
        autoscaler=AUTOSCALER if autoscaler else None)


def document(role: str, cfg, autoscaler=False) -> dict:
    text = render(role, cfg, facts(role, cfg, autoscaler))
    assert text.startswith("#cloud-config\n")
    return yaml.safe_load(text)


def files_of(doc: dict) -> dict[str, dict]:
    return {f["path"]: f for f in doc.get("write_files", [])}


from relval.stackconfig.nodes import DEFAULT_MAKEFLOW  # noqa: E402

DEFAULT_MAKEFLOW_URL, DEFAULT_MAKEFLOW_SHA = DEFAULT_MAKEFLOW.url, DEFAULT_MAKEFLOW.sha256
MAKEFLOW = {"url": "https://example.org/cctools-7.15.0-x86_64-almalinux9.tar.gz",
            "sha256": "ab" * 32}
VARIANTS = {
    "cernvm5": dict(),
    "cernvm5-full": dict(volumes=VOLUMES, condor={"extraConfig": {"MAX_JOBS_RUNNING": 5000}}),
    "el9": dict(imageFamily="el9"),
    "el9-full": dict(imageFamily="el9", volumes=VOLUMES, makeflow=MAKEFLOW,
                     eos={"mode": "fuse", "mountPoint": "/eos/alice",
                          "remotePath": "/eos/experiment/alice/"}),
    "el9-no-eos": dict(imageFamily="el9", eos={"mode": "none"}),
}


# --- cloud-init's own schema ---------------------------------------------------------------

def test_cloud_init_is_installed():
    assert shutil.which("cloud-init"), "Debian's cloud-init provides `cloud-init schema`"


def schema_check(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["cloud-init", "schema", "--config-file", str(path)],
                          capture_output=True, text=True, timeout=60)


def test_every_rendered_document_passes_cloud_init_schema(tmp_path):
    paths = []
    for name, changes in VARIANTS.items():
        cfg = config(**changes)
        for role in ("head", "worker"):
            for autoscaler in ((False, True) if role == "head" else (False,)):
                path = tmp_path / f"{name}-{role}-{autoscaler}.yaml"
                path.write_text(render(role, cfg, facts(role, cfg, autoscaler)))
                paths.append(path)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(schema_check, paths))
    for path, result in zip(paths, results):
        assert result.returncode == 0, f"{path.name}: {result.stdout}{result.stderr}"
        assert "Valid cloud-config" in result.stdout


def test_schema_check_rejects_a_broken_document(tmp_path):
    # The check above must be able to fail.
    path = tmp_path / "broken.yaml"
    path.write_text("#cloud-config\nruncmd: 5\nwrite_files: {path: 3}\n")
    assert schema_check(path).returncode != 0


# --- HTCondor config read back with the htcondor bindings ------------------------------------

CONDOR_PROBE = textwrap.dedent("""
    import json, sys
    import htcondor2, classad2
    p = htcondor2.param
    out = {k: p.get(k) for k in sys.argv[1:]}
    out["_allow"] = {k: p[k] for k in p.keys() if k.startswith("ALLOW_")}
    out["_sec"] = {k: p[k] for k in p.keys() if k.startswith("SEC_")}
    for attr in ("RelvalStack", "RelvalRelease"):
        if p.get(attr):
            out["_eval_" + attr] = classad2.ExprTree(p[attr]).eval()
    print(json.dumps(out))
""")

# Access levels and the authentication knob that governs each.
LEVELS = ("DEFAULT", "READ", "WRITE", "ADMINISTRATOR", "CONFIG", "OWNER", "DAEMON", "NEGOTIATOR",
          "ADVERTISE_MASTER", "ADVERTISE_STARTD", "ADVERTISE_SCHEDD", "CLIENT")
# ALLOW_* knobs that grant peers nothing: switches, and ALLOW_CLIENT, which lists the
# servers our own tools agree to talk to (with SEC_CLIENT_AUTHENTICATION = REQUIRED).
NOT_ACCESS_LISTS = {"ALLOW_COMMON_FILES_ON_LVS", "ALLOW_TRANSFER_REMAP_TO_MKDIR",
                    "ALLOW_SUBMIT_FROM_KNOWN_USERS_ONLY", "ALLOW_ADMIN_COMMANDS", "ALLOW_CLIENT"}


def condor_params(doc: dict, tmp_path: Path, *knobs: str) -> dict:
    config_dir = tmp_path / "config.d"
    config_dir.mkdir()
    for path, entry in files_of(doc).items():
        if path.startswith("/etc/condor/config.d/"):
            (config_dir / Path(path).name).write_text(entry["content"])
    main = tmp_path / "condor_config"
    main.write_text(f"LOCAL_DIR = {tmp_path}/local\nRELEASE_DIR = /usr\n"
                    f"LOCAL_CONFIG_DIR = {config_dir}\n")
    result = subprocess.run([sys.executable, "-c", CONDOR_PROBE, *knobs], capture_output=True,
                            text=True, env={"CONDOR_CONFIG": str(main), "PATH": "/usr/bin:/bin"},
                            timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(params=["cernvm5", "el9"])
def family(request):
    return request.param


def test_head_runs_central_manager_and_schedd(tmp_path, family):
    params = condor_params(document("head", config(imageFamily=family)), tmp_path,
                           "DAEMON_LIST", "CONDOR_HOST", "TRUST_DOMAIN", "RelvalStack")
    daemons = set(params["DAEMON_LIST"].replace(",", " ").split())
    assert {"MASTER", "COLLECTOR", "NEGOTIATOR", "SCHEDD"} <= daemons
    assert "STARTD" not in daemons
    assert params["CONDOR_HOST"] == HEAD
    assert params["TRUST_DOMAIN"] == "relval-rv-test"
    assert params["_eval_RelvalStack"] == "rv-test"


def test_worker_runs_a_startd_on_one_partitionable_slot(tmp_path, family):
    params = condor_params(document("worker", config(imageFamily=family)), tmp_path,
                           "DAEMON_LIST", "CONDOR_HOST", "NUM_SLOTS_TYPE_1", "SLOT_TYPE_1",
                           "SLOT_TYPE_1_PARTITIONABLE", "STARTD_ATTRS", "RelvalStack",
                           "RelvalRelease")
    daemons = set(params["DAEMON_LIST"].replace(",", " ").split())
    assert "STARTD" in daemons and not daemons & {"SCHEDD", "COLLECTOR", "NEGOTIATOR"}
    assert params["CONDOR_HOST"] == HEAD
    assert params["NUM_SLOTS_TYPE_1"] == "1"
    assert params["SLOT_TYPE_1_PARTITIONABLE"].lower() == "true"
    assert {"cpus=100%", "memory=100%"} <= {s.strip() for s in params["SLOT_TYPE_1"].split(",")}
    assert {"RelvalStack", "RelvalRelease", "RelvalInstanceId"} <= set(params["STARTD_ATTRS"].split())
    assert params["_eval_RelvalStack"] == "rv-test"
    assert params["_eval_RelvalRelease"] == BASE_CONFIG["release"]


def test_head_negotiator_fills_busy_workers_first(tmp_path):
    """Depth-first matching to the fullest partitionable slot (what the simulator models):
    emptier workers go idle and the scaler can give them back."""
    params = condor_params(document("head", config()), tmp_path, "NEGOTIATOR_DEPTH_FIRST",
                           "NEGOTIATOR_PRE_JOB_RANK", "CLAIM_PARTITIONABLE_LEFTOVERS")
    assert str(params["NEGOTIATOR_DEPTH_FIRST"]).lower() == "true"
    assert str(params["CLAIM_PARTITIONABLE_LEFTOVERS"]).lower() == "true"
    rank = params["NEGOTIATOR_PRE_JOB_RANK"].replace(" ", "")
    assert "-(100000*Cpus)-Memory" in rank            # fewer free cores left ranks higher


def test_worker_config_matches_what_the_scaler_assumes(tmp_path):
    from relval.autoscaler.config import AUTOSCALER_KEYS
    params = condor_params(document("worker", config()), tmp_path, "UPDATE_INTERVAL",
                           "MAXJOBRETIREMENTTIME", "STARTD_ATTRS", "RelvalRetiresJobs")
    # The join timeout's floor is 2 x the startds' interval: the scaler must not assume
    # a shorter one than the workers use.
    assert int(params["UPDATE_INTERVAL"]) == AUTOSCALER_KEYS["startdUpdateInterval"] == 60
    # A drained busy worker lets its jobs finish (condor's default 0 evicts them).
    assert int(params["MAXJOBRETIREMENTTIME"]) >= 7 * 24 * 3600
    assert "RelvalRetiresJobs" in params["STARTD_ATTRS"].split()
    assert str(params["RelvalRetiresJobs"]).lower() == "true"


@pytest.mark.parametrize("role", ["head", "worker"])
def test_authentication_required_at_every_level(tmp_path, role):
    params = condor_params(document(role, config()), tmp_path)
    sec = params["_sec"]
    for level in LEVELS:
        value = sec.get(f"SEC_{level}_AUTHENTICATION", sec.get("SEC_DEFAULT_AUTHENTICATION"))
        assert str(value).upper() == "REQUIRED", level
    methods_knobs = {k: v for k, v in sec.items() if k.endswith("_AUTHENTICATION_METHODS")}
    assert "IDTOKENS" in methods_knobs["SEC_DEFAULT_AUTHENTICATION_METHODS"].upper()
    for knob, value in methods_knobs.items():
        methods = {m.strip().upper() for m in value.split(",")}
        assert not methods & {"CLAIMTOBE", "ANONYMOUS"}, knob


@pytest.mark.parametrize("role", ["head", "worker"])
def test_no_access_level_open_to_unauthenticated_peers(tmp_path, role):
    params = condor_params(document(role, config()), tmp_path)
    lists = {k: v for k, v in params["_allow"].items() if k not in NOT_ACCESS_LISTS}
    assert {"ALLOW_READ", "ALLOW_WRITE", "ALLOW_DAEMON", "ALLOW_ADMINISTRATOR"} <= set(lists)
    for knob, value in lists.items():
        for entry in value.replace(",", " ").split():
            user = entry.split("/")[0] if "/" in entry else entry
            assert entry not in ("*", "*/*"), (knob, entry)
            assert "@" in user and not user.endswith("@*"), (knob, entry)
            assert "unauthenticated" not in entry.lower() and "anonymous" not in entry.lower()
            assert user.split("@")[1] in ("relval-rv-test", "$(UID_DOMAIN)", "$(TRUST_DOMAIN)"), \
                (knob, entry)


def test_extra_config_lands_on_every_node(tmp_path):
    cfg = config(condor={"extraConfig": {"MAX_JOBS_RUNNING": 5000, "STARTER_DEBUG": "D_FULLDEBUG"}})
    params = condor_params(document("worker", cfg), tmp_path, "MAX_JOBS_RUNNING", "STARTER_DEBUG")
    assert str(params["MAX_JOBS_RUNNING"]) == "5000" and params["STARTER_DEBUG"] == "D_FULLDEBUG"


def test_extra_config_may_not_touch_security():
    with pytest.raises(RelvalError) as caught:
        config(condor={"extraConfig": {"ALLOW_WRITE": "*"}})
    assert caught.value.problems == [
        "relval:condor.extraConfig.ALLOW_WRITE must not be set here: "
        "relval owns the pool's security settings"]


# --- secrets, metadata service, key files ---------------------------------------------------------

@pytest.mark.parametrize("role", ["head", "worker"])
def test_signing_key_is_a_root_only_file(role):
    doc = document(role, config())
    pool = files_of(doc)["/etc/condor/passwords.d/POOL"]
    assert pool["content"] == SIGNING_KEY
    assert pool["permissions"] == "0600" and pool["owner"] == "root:root"
    for path, entry in files_of(doc).items():
        if path.startswith("/usr/local/sbin/"):
            assert entry["permissions"] == "0700", path


@pytest.mark.parametrize("role", ["head", "worker"])
def test_metadata_service_is_blocked_for_non_root_before_condor_starts(role):
    doc = document(role, config())
    guard = files_of(doc)["/usr/local/sbin/relval-metadata-guard"]["content"]
    assert "169.254.169.254 -m owner ! --uid-owner 0 -j REJECT" in guard
    assert "meta skuid != 0 reject" in guard
    assert any("relval-metadata-guard" in c for c in doc["bootcmd"])


@pytest.mark.parametrize("role", ["head", "worker"])
def test_condor_cannot_start_unless_the_guard_succeeds(role, tmp_path):
    # Fail closed: the guard is condor's ExecStartPre, so a failing guard stops the start
    # (runcmd is a plain script without `set -e`: a guard there protects nothing).
    dropin = files_of(document(role, config()))[
        "/etc/systemd/system/condor.service.d/10-relval.conf"]["content"]
    parsed = systemd_sections(dropin)
    assert parsed["Service"]["ExecStartPre"] == ["/usr/local/sbin/relval-metadata-guard"]
    assert "cloud-init.service" in parsed["Unit"]["After"][0]


def systemd_sections(text: str) -> dict[str, dict[str, list[str]]]:
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
        else:
            key, _, value = line.partition("=")
            current.setdefault(key, []).append(value)
    return sections


def fake_bin(tmp_path: Path, tools: dict[str, str], keep=("sh", "sed", "head", "date", "cat",
                                                          "grep")) -> Path:
    """A PATH with only `keep` from the system and `tools` as shell stand-ins."""
    folder = tmp_path / "bin"
    folder.mkdir(exist_ok=True)
    for name in keep:
        (folder / name).symlink_to(shutil.which(name))
    for name, body in tools.items():
        (folder / name).write_text(f"#!/bin/sh\n{body}\n")
        (folder / name).chmod(0o755)
    return folder


@pytest.mark.parametrize("tools, verdict", [
    ({"iptables": "case \"$1\" in -L) exit 0;; -C) exit 1;; *) exit 0;; esac"}, 1),  # rule never lands
    ({"iptables": "exit 0"}, 0),
    ({"nft": "case \"$*\" in 'list table'*) exit 1;; 'list chain'*) echo nothing;; esac; cat >/dev/null"}, 1),
    ({"nft": "case \"$*\" in 'list table'*) exit 1;; 'list chain'*) echo 'ip daddr 169.254.169.254';; esac; cat >/dev/null"}, 0),
])
def test_guard_succeeds_only_when_the_rule_is_loaded(tmp_path, tools, verdict):
    guard = files_of(document("worker", config()))["/usr/local/sbin/relval-metadata-guard"]["content"]
    script = tmp_path / "guard"
    script.write_text(guard)
    result = subprocess.run(["/bin/sh", str(script)], capture_output=True, text=True,
                            env={"PATH": str(fake_bin(tmp_path, tools))})
    assert result.returncode == verdict, result.stderr


def test_guard_script_refuses_to_run_without_a_firewall(tmp_path):
    guard = files_of(document("worker", config()))["/usr/local/sbin/relval-metadata-guard"]["content"]
    script = tmp_path / "guard"
    script.write_text(guard)
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    result = subprocess.run(["/bin/sh", str(script)], capture_output=True, text=True,
                            env={"PATH": str(empty_bin)})
    assert result.returncode == 1 and "refusing to continue" in result.stderr


def test_head_gets_the_pinned_host_key_and_workers_do_not():
    head, worker = document("head", config()), document("worker", config())
    assert head["ssh_keys"] == {"ed25519_private": HOST_KEY.private_openssh,
                                "ed25519_public": HOST_KEY.public_openssh}
    assert "ssh_keys" not in worker


def test_workers_never_receive_cloud_credentials():
    worker = yaml.safe_dump(document("worker", config()))
    head = yaml.safe_dump(document("head", config(), autoscaler=True))
    assert "clouds.yaml" in head and "relval-autoscaler.service" in head
    assert "clouds" not in worker and "autoscale" not in worker


@pytest.mark.parametrize("role", ["head", "worker"])
def test_jobs_run_as_the_submitting_user(tmp_path, role):
    # Without TRUST_UID_DOMAIN the shadow wants UID_DOMAIN to be a suffix of the submit
    # host's name; relval-<stack> never is, so jobs would run as nobody.
    params = condor_params(document(role, config()), tmp_path, "UID_DOMAIN", "TRUST_UID_DOMAIN")
    assert params["UID_DOMAIN"] == "relval-rv-test"
    assert str(params["TRUST_UID_DOMAIN"]).lower() == "true"


def test_jobs_run_on_the_worker_volume(tmp_path):
    doc = document("worker", config(volumes=VOLUMES))
    params = condor_params(doc, tmp_path, "EXECUTE")
    assert params["EXECUTE"] == "/scratch/condor-execute"
    init = files_of(doc)["/usr/local/sbin/relval-condor-init"]["content"]
    assert "EXECUTE=/scratch/condor-execute" in init
    assert 'install -d -m 0755 -o condor -g condor "$EXECUTE"' in init
    runcmd = [c[0] if isinstance(c, list) else c for c in doc["runcmd"]]
    assert runcmd.index("/usr/local/sbin/relval-volumes") < runcmd.index(
        "/usr/local/sbin/relval-condor-init")


def test_scaled_workers_find_their_volumes_by_tag_and_run_jobs_there(tmp_path):
    # The scaler's workers get their volumes from Nova with the server (block device
    # mapping, tag relval-<name>): their ids are unknown when the user-data is rendered.
    scaled = NodeFacts(stack="rv-test", head_address=HEAD, signing_key=SIGNING_KEY,
                       attach_volumes=False)
    doc = yaml.safe_load(render("worker", config(volumes=VOLUMES), scaled))
    assert condor_params(doc, tmp_path, "EXECUTE")["EXECUTE"] == "/scratch/condor-execute"
    [mount] = [c for c in doc["runcmd"] if isinstance(c, list) and c[0] == "/usr/local/sbin/relval-volumes"]
    assert mount[1:] == ["tag:relval-scratch=/scratch"]
    script = files_of(doc)["/usr/local/sbin/relval-volumes"]["content"]
    assert "openstack/latest/meta_data.json" in script


def test_workers_without_a_volume_keep_condors_execute(tmp_path):
    plain = NodeFacts(stack="rv-test", head_address=HEAD, signing_key=SIGNING_KEY,
                      attach_volumes=False)
    doc = yaml.safe_load(render("worker", config(volumes=[]), plain))
    assert condor_params(doc, tmp_path, "EXECUTE")["EXECUTE"] == f"{tmp_path}/local/execute"
    assert "condor-execute" not in yaml.safe_dump(doc)


def test_head_campaigns_go_on_the_head_volume():
    doc = document("head", config(volumes=VOLUMES))
    link = [c for c in doc["runcmd"] if isinstance(c, str) and "/data/relval" in c]
    assert link, "the head must put ~/relval on its volume"
    assert 'ln -s /data/relval "$home/relval"' in link[0]
    assert not [c for c in document("head", config())["runcmd"]
                if isinstance(c, str) and "ln -s" in c]


def test_tokens_minted_at_boot_for_the_stack_identity():
    init = files_of(document("worker", config()))["/usr/local/sbin/relval-condor-init"]["content"]
    assert 'condor_token_create -identity "condor@$TRUST_DOMAIN" -key POOL' in init
    assert "TRUST_DOMAIN=relval-rv-test" in init
    assert "RelvalInstanceId" in init


# --- software and data ----------------------------------------------------------------------------

def test_cvmfs_repositories_proxy_and_quota():
    cfg = config(cvmfs={"repositories": ["alice.cern.ch", "sft.cern.ch"],
                        "httpProxy": "http://ca-proxy.cern.ch:3128;DIRECT", "quotaMb": 30000})
    local = files_of(document("worker", cfg))["/etc/cvmfs/default.local"]["content"]
    assert "CVMFS_REPOSITORIES=alice.cern.ch,sft.cern.ch" in local
    assert "CVMFS_HTTP_PROXY='http://ca-proxy.cern.ch:3128;DIRECT'" in local
    assert "CVMFS_QUOTA_LIMIT=30000" in local


def test_el9_installs_condor_and_cvmfs_from_their_repositories():
    doc = document("worker", config(imageFamily="el9"))
    assert {"htcondor", "cernvm", "epel"} <= set(doc["yum_repos"])
    assert {"condor", "cvmfs", "xrootd-client"} <= set(doc["packages"])
    htcondor = doc["yum_repos"]["htcondor"]
    assert htcondor["baseurl"] == "https://research.cs.wisc.edu/htcondor/repo/24.0/el9/$basearch/release"
    assert htcondor["gpgkey"].endswith("/HTCondor-24.0-Key") and htcondor["gpgcheck"] is True
    assert "cvmfs_config setup" in doc["runcmd"]
    assert "rsync" in document("head", config(imageFamily="el9"))["packages"]


def cloud_init_stage_of(module: str) -> tuple[str, int]:
    """(stage, position) of a module in Debian's cloud-init's own /etc/cloud/cloud.cfg."""
    cfg = yaml.safe_load(Path("/etc/cloud/cloud.cfg").read_text())
    for stage in ("cloud_init_modules", "cloud_config_modules", "cloud_final_modules"):
        names = [m if isinstance(m, str) else m[0] for m in cfg[stage]]
        names = [n.replace("-", "_") for n in names]
        if module in names:
            return stage, names.index(module)
    raise AssertionError(f"{module} not in cloud.cfg")


def test_el9_enables_crb_before_the_package_transaction():
    # HTCondor's EL9 packages need CRB; cloud-init installs every package in one transaction
    # (final stage), so CRB must be on before it: bootcmd runs in the first stage.
    doc = document("head", config(imageFamily="el9"))
    crb = [c for c in doc["bootcmd"] if "crb" in c]
    assert crb and "dnf config-manager --set-enabled crb" in crb[0]
    assert cloud_init_stage_of("bootcmd")[0] == "cloud_init_modules"
    assert cloud_init_stage_of("package_update_upgrade_install")[0] == "cloud_final_modules"


@pytest.mark.parametrize("role", ["head", "worker"])
def test_el9_transaction_names_no_package_its_repositories_lack(role):
    # EPEL 9 has no cctools: one unknown name and cloud-init installs nothing at all.
    doc = document(role, config(imageFamily="el9", eos={"mode": "fuse"}))
    assert "cctools" not in doc["packages"] and "makeflow" not in doc["packages"]


def test_makeflow_comes_from_a_checked_cctools_release(tmp_path):
    doc = document("head", config(imageFamily="el9", makeflow=MAKEFLOW))
    script = files_of(doc)["/usr/local/sbin/relval-makeflow-install"]["content"]
    assert f"URL='{MAKEFLOW['url']}'" in script and f"SHA256={MAKEFLOW['sha256']}" in script
    assert ["/usr/local/sbin/relval-makeflow-install"] in doc["runcmd"]
    assert "relval-makeflow-install" not in yaml.safe_dump(document("worker", config(
        imageFamily="el9", makeflow=MAKEFLOW)))
    # Run it against a tarball served from a file: a wrong checksum installs nothing.
    release = tmp_path / "cctools-1.0-x86_64.tar.gz"
    (tmp_path / "src" / "cctools-1.0" / "bin").mkdir(parents=True)
    (tmp_path / "src" / "cctools-1.0" / "bin" / "makeflow").write_text("#!/bin/sh\n")
    subprocess.run(["tar", "-czf", str(release), "-C", str(tmp_path / "src"), "cctools-1.0"],
                   check=True)
    import hashlib
    good = hashlib.sha256(release.read_bytes()).hexdigest()
    for sha, verdict in (("0" * 64, 1), (good, 0)):
        home = tmp_path / f"opt-{verdict}"
        text = (script.replace(MAKEFLOW["url"], f"file://{release}")
                .replace(MAKEFLOW["sha256"], sha).replace("/opt/cctools", str(home))
                .replace("ln -sf", "echo ln -sf"))
        (tmp_path / "install").write_text(text)
        result = subprocess.run(["/bin/sh", str(tmp_path / "install")], capture_output=True,
                                text=True)
        assert result.returncode == verdict, result.stderr
        assert (home / "bin" / "makeflow").exists() == (verdict == 0)


def test_the_default_makeflow_is_built_from_source_on_the_head(tmp_path):
    """Before: no default release, so the head of a template stack had no makeflow."""
    cfg = config(imageFamily="el9")
    doc = document("head", cfg)
    assert {"gcc", "make", "m4", "zlib-devel"} <= set(doc["packages"])
    assert "gcc" not in document("worker", cfg)["packages"]
    script = files_of(doc)["/usr/local/sbin/relval-makeflow-install"]["content"]
    assert "BUILD=1" in script and "/release/7.14.2.tar.gz" in script
    assert "relval-makeflow-install" not in yaml.safe_dump(document("head", config(
        imageFamily="el9", makeflow=False)))
    # Run it against a source tarball served from a file: configure, make, make install.
    src = tmp_path / "src" / "cctools-release-1.0"
    src.mkdir(parents=True)
    (src / "configure").write_text('#!/bin/sh\necho "PREFIX=$2" > config.mk\necho "$@" > configured\n')
    (src / "configure").chmod(0o755)
    (src / "Makefile").write_text("include config.mk\nall:\n\techo built > makeflow\n"
                                  "install:\n\tmkdir -p $(PREFIX)/bin && cp makeflow $(PREFIX)/bin/\n")
    release = tmp_path / "1.0.tar.gz"
    subprocess.run(["tar", "-czf", str(release), "-C", str(tmp_path / "src"), "cctools-release-1.0"],
                   check=True)
    import hashlib
    home = tmp_path / "opt"
    text = (script.replace(DEFAULT_MAKEFLOW_URL, f"file://{release}")
            .replace(DEFAULT_MAKEFLOW_SHA, hashlib.sha256(release.read_bytes()).hexdigest())
            .replace("/opt/cctools", str(home)).replace("/var/log/", f"{tmp_path}/")
            .replace("ln -sf", "echo ln -sf"))
    (tmp_path / "install").write_text(text)
    bare = {**os.environ, "PATH": "/usr/bin:/bin"}
    if shutil.which("m4") is None:  # the real build needs it; this stand-in build does not
        result = subprocess.run(["/bin/sh", str(tmp_path / "install")], capture_output=True,
                                text=True, env=bare)
        assert result.returncode == 1 and "needs m4, which this image lacks" in result.stderr
        (tmp_path / "tools").mkdir()
        (tmp_path / "tools" / "m4").write_text("#!/bin/sh\n")
        (tmp_path / "tools" / "m4").chmod(0o755)
        bare["PATH"] = f"{tmp_path / 'tools'}:/usr/bin:/bin"
    result = subprocess.run(["/bin/sh", str(tmp_path / "install")], capture_output=True, text=True,
                            env=bare)
    assert result.returncode == 0, result.stderr
    assert (home / "bin" / "makeflow").read_text() == "built\n"
    # A build that fails says so, with the log's tail, and installs nothing.
    (src / "Makefile").write_text("all:\n\techo compiler exploded; false\n")
    subprocess.run(["tar", "-czf", str(release), "-C", str(tmp_path / "src"), "cctools-release-1.0"],
                   check=True)
    broken = (script.replace(DEFAULT_MAKEFLOW_URL, f"file://{release}")
              .replace(DEFAULT_MAKEFLOW_SHA, hashlib.sha256(release.read_bytes()).hexdigest())
              .replace("/opt/cctools", str(tmp_path / "opt2")).replace("/var/log/", f"{tmp_path}/"))
    (tmp_path / "install2").write_text(broken)
    result = subprocess.run(["/bin/sh", str(tmp_path / "install2")], capture_output=True, text=True,
                            env=bare)
    assert result.returncode == 1 and "building CCTools" in result.stderr
    assert "compiler exploded" in result.stderr and not (tmp_path / "opt2" / "bin").exists()


def test_eos_fuse_brings_its_dependency_repository():
    doc = document("worker", config(imageFamily="el9", eos={"mode": "fuse"}))
    repos = doc["yum_repos"]
    assert "eos-depend" in repos and "/diopside-depend/el-9/" in repos["eos-depend"]["baseurl"]
    # Unsigned upstream: only these two, over https, the main one limited to EOS's packages.
    unsigned = {name for name, repo in repos.items() if not repo.get("gpgcheck")}
    assert unsigned == {"eos", "eos-depend"}
    assert repos["eos"]["includepkgs"] == "eos-*"
    assert all(repos[n]["baseurl"].startswith("https://") and repos[n]["sslverify"]
               for n in unsigned)


def test_cernvm5_installs_nothing_and_checks_what_it_must_bring():
    doc = document("head", config())
    assert "packages" not in doc and "yum_repos" not in doc
    assert not [c for c in doc.get("bootcmd", []) if "crb" in c]
    assert "cvmfs_config reload" in doc["runcmd"]
    init = files_of(doc)["/usr/local/sbin/relval-condor-init"]["content"]
    assert "/usr/local/sbin/relval-node-check condor" in init
    assert ["/usr/local/sbin/relval-node-check", "makeflow"] in doc["runcmd"]


@pytest.mark.parametrize("tools, checks, verdict, says", [
    ({"condor_version": "echo '$CondorVersion: 24.0.1 2024-10-31 BuildID: 1 $'",
      "condor_token_create": "exit 0", "makeflow": "exit 0"}, ["condor", "makeflow"], 0, ""),
    ({"condor_version": "echo '$CondorVersion: 8.6.13 Oct 30 2018 BuildID: 1 $'",
      "condor_token_create": "exit 0"}, ["condor"], 1, "older than 9"),
    ({"condor_version": "echo '$CondorVersion: 24.0.1 2024-10-31 BuildID: 1 $'"}, ["condor"], 1,
     "condor_token_create is missing"),
    ({}, ["condor"], 1, "HTCondor is not installed"),
    ({}, ["makeflow"], 1, "makeflow is missing on the head"),
])
def test_node_check(tmp_path, tools, checks, verdict, says):
    script = tmp_path / "check"
    script.write_text(files_of(document("head", config()))["/usr/local/sbin/relval-node-check"]["content"])
    result = subprocess.run(["/bin/sh", str(script), *checks], capture_output=True, text=True,
                            env={"PATH": str(fake_bin(tmp_path, tools)),
                                 "RELVAL_CHECK_LOG": str(tmp_path / "log")})
    assert result.returncode == verdict, result.stderr
    assert says in result.stderr


@pytest.mark.parametrize("mode", ["none", "xrootd", "fuse"])
def test_eos_modes(mode):
    doc = document("worker", config(imageFamily="el9", eos={"mode": mode, "mountPoint": "/eos/alice"}))
    files = files_of(doc)
    assert ("/etc/profile.d/relval-eos.sh" in files) == (mode != "none")
    assert ("/usr/local/sbin/relval-eos-fuse" in files) == (mode == "fuse")
    if mode == "fuse":
        script = files["/usr/local/sbin/relval-eos-fuse"]["content"]
        assert '"localmountdir": "/eos/alice"' in script and "fuse.relval.conf" in script


def test_volumes_are_formatted_only_when_empty_and_mounted():
    cfg = config(volumes=VOLUMES)
    head, worker = document("head", cfg), document("worker", cfg)
    script = files_of(head)["/usr/local/sbin/relval-volumes"]["content"]
    assert 'if ! blkid "$dev"' in script and "mkfs.ext4" in script
    head_call = next(c for c in head["runcmd"] if c[0] == "/usr/local/sbin/relval-volumes")
    assert head_call[1:] == ["0b6c0e4a-1f0d-4a8e-9d2b-000000000000=/data"]
    worker_call = next(c for c in worker["runcmd"] if c[0] == "/usr/local/sbin/relval-volumes")
    assert worker_call[1:] == ["0b6c0e4a-1f0d-4a8e-9d2b-000000000001=/scratch"]
    assert "OWNER=relval" in script
    assert "OWNER=\n" in files_of(worker)["/usr/local/sbin/relval-volumes"]["content"]


# --- size limit -----------------------------------------------------------------------------------

def test_large_user_data_is_gzipped_and_still_decodes():
    big = "#cloud-config\n" + "runcmd:\n" + "".join(f"- echo {i:06d} padding padding\n"
                                                     for i in range(4000))
    encoded = encode_user_data(big)
    assert encoded != big and len(encoded) <= NOVA_USER_DATA_LIMIT
    assert decode_user_data(encoded) == big


def test_user_data_beyond_the_limit_even_gzipped_is_a_clear_error():
    import os

    noise = os.urandom(60000).hex()
    with pytest.raises(RelvalError) as caught:
        encode_user_data("#cloud-config\n# " + noise, role="worker")
    assert "user-data of the worker is" in str(caught.value) and "65535" in str(caught.value)


@pytest.mark.parametrize("role", ["head", "worker"])
def test_user_data_fits_with_500_workers(role):
    cfg = config(workers={"initial": 500, "min": 0, "max": 500}, volumes=VOLUMES,
                 imageFamily="el9", eos={"mode": "fuse"},
                 condor={"extraConfig": {f"KNOB_{i}": "x" * 60 for i in range(50)}})
    encoded = encode_user_data(render(role, cfg, facts(role, cfg, autoscaler=True)), role)
    assert len(__import__("base64").b64encode(encoded.encode())) <= NOVA_USER_DATA_LIMIT


# --- secrets in plans and outputs -----------------------------------------------------------------

def test_no_secret_in_plan_output_or_outputs(raw_config):
    plan = make_plan({**raw_config, "volumes": VOLUMES})
    assert plan.secrets, "the offline cloud must hand out stand-in secrets to redact"
    printed = json.dumps(plan.to_json())
    for value in plan.secrets.values():
        for line in value.splitlines():
            if len(line) >= 16 and not line.startswith("-----"):
                assert line not in printed
    assert "<secret:credentials-condor-signing-key>" in printed
    for instance in plan.of_type("openstack:compute/instance:Instance"):
        assert "userData" in instance.secret_inputs


def test_user_data_holds_the_real_secret_and_is_marked_secret(raw_config):
    plan = make_plan(raw_config)
    head = user_data_of(plan, "head", show_secrets=True)
    assert plan.secrets["credentials-condor-signing-key"] in head
    assert plan.secrets["credentials-condor-signing-key"] not in user_data_of(plan, "head")


def test_host_key_output_matches_what_the_head_installs(raw_config):
    plan = make_plan(raw_config)
    head = yaml.safe_load(user_data_of(plan, "head"))
    assert head["ssh_keys"]["ed25519_public"] == plan.outputs["headHostPublicKey"]
    assert "headHostPublicKey" not in plan.secret_outputs
