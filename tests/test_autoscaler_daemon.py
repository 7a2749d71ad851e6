"""Config validation, the daemon loop with metrics, teardown, and the CLI wiring."""

from __future__ import annotations

import json
import re
from dataclasses import fields

import pytest
import yaml

from relval.autoscaler.config import (AUTOSCALER_KEYS, ScalerConfig, parse_daemon_config,
                                      parse_stack_autoscaler)
from relval.autoscaler.daemon import run
from relval.autoscaler.fakes import FakeCloud, FakeCondor
from relval.autoscaler.model import ERROR, Limits
from relval.autoscaler.teardown import teardown
from relval.cli import main
from relval.errors import RelvalError

from .conftest import REPO

DAEMON_YAML = """
stack: alice
release: O2PDPSuite::nightly-20261120-1
pollSeconds: 15
idleTimeout: 600
driver: openstack
workers: {min: 1, max: 20}
flavor: {cores: 8, ramMb: 14600}
stateFile: STATE
metricsFile: METRICS
openstack:
  cloud: relval
  cloudsYaml: /etc/relval/clouds.yaml
  image: cernvm4-micro-2020.07-1
  flavor: m2.xlarge
  network: alice-relval-net
"""


def daemon_config(tmp_path):
    text = DAEMON_YAML.replace("STATE", str(tmp_path / "state.json")).replace(
        "METRICS", str(tmp_path / "metrics.prom"))
    return parse_daemon_config(yaml.safe_load(text), "autoscaler.yaml")


def test_autoscaler_keys_match_the_config_model_defaults():
    cfg = parse_stack_autoscaler(None, 1, 20, "alice")
    camel = {re.sub(r"_(\w)", lambda m: m.group(1).upper(), f.name): f.name for f in fields(ScalerConfig)}
    for key, default in AUTOSCALER_KEYS.items():
        assert getattr(cfg, camel[key]) == default, key
    for key in ("enabled", "pollSeconds", "idleTimeout", "bootTimeout", "joinTimeout",
                "maxConcurrentBoots", "failureWindow", "failureRateLimit", "driver"):
        assert key in AUTOSCALER_KEYS


def test_stack_keys_are_validated_with_their_paths():
    with pytest.raises(RelvalError) as info:
        parse_stack_autoscaler({"pollSecond": 5, "failureRateLimit": 2, "driver": "gce"}, 1, 20, "a")
    text = "\n".join(info.value.problems)
    assert "relval:autoscaler.pollSecond is not a known key (did you mean 'pollSeconds'?)" in text
    assert "relval:autoscaler.failureRateLimit must be <= 1" in text
    assert "relval:autoscaler.driver must be one of ec2, openstack" in text


def test_daemon_file_parses_and_reports_every_problem(tmp_path):
    cfg = daemon_config(tmp_path)
    assert cfg.scaler.stack == "alice" and cfg.scaler.flavor.ram_mb == 14600
    assert cfg.openstack.network == "alice-relval-net" and cfg.scaler.max == 20
    with pytest.raises(RelvalError) as info:
        parse_daemon_config({"driver": "ec2", "workers": {"min": 5, "max": 2}, "ec2": {}}, "f.yaml")
    text = "\n".join(info.value.problems)
    for fragment in ("f.yaml: stack is required",
                     "f.yaml: workers.min must be <= workers.max", "f.yaml: ec2.imageId is required"):
        assert fragment in text


def test_run_once_boots_logs_and_writes_prometheus_metrics(tmp_path, caplog):
    cfg = daemon_config(tmp_path)
    cloud = FakeCloud("alice", Limits(30, 400, 800000), flavor=(8, 14600))
    condor = FakeCondor()
    condor.submit(24, 1, 1500, 600, 0.0)   # 8 per 8-core/14.6 GB worker -> 3 workers
    caplog.set_level("INFO", logger="relval.autoscaler")
    results = run(cfg, once=True, cloud=cloud, condor=condor, clock=lambda: 1000.0)
    assert len(results) == 1 and len(cloud.owned()) == 3
    assert any("[scale-up] boot 3" in r.message for r in caplog.records)
    metrics = (tmp_path / "metrics.prom").read_text()
    assert "# TYPE relval_autoscaler_boots_total counter" in metrics
    assert "relval_autoscaler_boots_total 3" in metrics
    assert 'relval_autoscaler_workers{state="booting"} 0' in metrics  # listed before the boots
    assert "relval_autoscaler_idle_jobs 24" in metrics
    assert json.loads((tmp_path / "state.json").read_text())["instances"]


def test_worker_size_is_read_from_the_cloud_when_flavor_is_left_out(tmp_path):
    raw = yaml.safe_load(DAEMON_YAML.replace("flavor: {cores: 8, ramMb: 14600}\n", ""))
    raw.update(stateFile=str(tmp_path / "s.json"), metricsFile=None)
    cfg = parse_daemon_config(raw)
    assert cfg.flavor_from_cloud
    cloud, condor = FakeCloud("alice", flavor=(4, 8000)), FakeCondor()
    condor.submit(8, 1, 1000, 600, 0.0)
    run(cfg, once=True, cloud=cloud, condor=condor)
    assert len(cloud.owned()) == 2   # 8 single-core jobs into 4-core workers


def test_dry_run_boots_nothing_and_writes_no_state(tmp_path):
    cfg = daemon_config(tmp_path)
    cloud, condor = FakeCloud("alice"), FakeCondor()
    condor.submit(24, 1, 2000, 600, 0.0)
    run(cfg, dry_run=True, once=True, cloud=cloud, condor=condor)
    assert cloud.owned() == [] and not (tmp_path / "state.json").exists()


def test_loop_sleeps_the_rest_of_each_poll(tmp_path):
    cfg = daemon_config(tmp_path)
    sleeps = []
    results = run(cfg, cloud=FakeCloud("alice"), condor=FakeCondor(), clock=lambda: 50.0,
                  sleep=sleeps.append, max_cycles=3)
    assert len(results) == 3 and sleeps == [15.0, 15.0]


def test_teardown_deletes_failed_and_scaler_made_vms_and_is_idempotent():
    now = {"t": 0.0}
    cloud = FakeCloud("alice", clock=lambda: now["t"])
    md = {"relval-stack": "alice", "relval-role": "worker"}
    for _ in range(3):
        cloud.add_vm(md)
    cloud.add_vm(md, status=ERROR)
    head = cloud.add_vm({"relval-stack": "alice", "relval-role": "head"})
    foreign = cloud.add_vm({"relval-stack": "bob", "relval-role": "worker"})
    report = teardown(cloud, "alice", sleep=lambda s: now.__setitem__("t", now["t"] + s),
                      clock=lambda: now["t"])
    assert report.clean and len(report.deleted) == 4
    assert set(cloud.vms) == {head.id, foreign.id}
    assert teardown(cloud, "alice", sleep=lambda s: None).deleted == []


def test_teardown_reports_what_will_not_go_away():
    now = {"t": 0.0}
    cloud = FakeCloud("alice", clock=lambda: now["t"], on_delete=lambda vm: None)  # never removed
    cloud.add_vm({"relval-stack": "alice", "relval-role": "worker"})
    report = teardown(cloud, "alice", timeout_s=30, poll_s=5,
                      sleep=lambda s: now.__setitem__("t", now["t"] + s), clock=lambda: now["t"])
    assert not report.clean and len(report.remaining) == 1 and report.waited_s >= 30


def test_cli_simulate_prints_the_required_json(capsys):
    with pytest.raises(SystemExit) as done:
        main(["autoscale", "simulate", str(REPO / "examples/scenarios/seed-test.yaml"), "--json"])
    assert done.value.code in (0, None)
    out = json.loads(capsys.readouterr().out)
    for key in ("time_to_capacity_s", "makespan_s", "jobs_completed", "vm_seconds",
                "idle_vm_seconds", "boots", "failed_boots", "busy_workers_deleted",
                "duplicate_boots", "leaked_vms_after_teardown", "peak_workers"):
        assert key in out
    assert out["policy"] == "relval" and out["jobs_completed"] == 160


def test_cli_errors_are_one_line_and_exit_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as done:
        main(["autoscale", "run", "--config", str(tmp_path / "missing.yaml")])
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert "missing.yaml: no such scaler config file" in err and "Traceback" not in err
    with pytest.raises(SystemExit) as done:
        main(["autoscale", "simulate", str(REPO / "examples/scenarios/seed-test.yaml"),
              "--policy", "magic"])
    assert done.value.code == 2


def test_cli_help_lists_both_commands(capsys):
    with pytest.raises(SystemExit):
        main(["autoscale", "--help"])
    out = capsys.readouterr().out
    assert "run" in out and "simulate" in out


def test_metrics_server_serves_the_latest_text():
    import urllib.request

    from relval.autoscaler.metrics import MetricsServer

    server = MetricsServer(0, host="127.0.0.1")
    try:
        server.text = "relval_autoscaler_alert 0\n"
        port = server.httpd.server_address[1]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
            assert reply.read().decode() == "relval_autoscaler_alert 0\n"
            assert reply.headers["Content-Type"].startswith("text/plain")
    finally:
        server.close()


def test_repeated_notices_are_logged_once(tmp_path, caplog):
    cfg = daemon_config(tmp_path)
    cloud, condor = FakeCloud("alice"), FakeCondor()
    condor.submit(2, 64, 1000, 600, 0.0)   # can never fit an 8-core worker
    caplog.set_level("INFO", logger="relval.autoscaler")
    run(cfg, cloud=cloud, condor=condor, clock=lambda: 10.0, sleep=lambda s: None, max_cycles=3)
    lines = [r.message for r in caplog.records if "[unfittable]" in r.message]
    assert len(lines) == 1 and "2 idle job(s) ask 64 cores" in lines[0]


def test_rendered_daemon_config_reads_back_the_same():
    from relval.autoscaler.config import OpenStackSettings, daemon_config_document

    scaler = parse_stack_autoscaler({"idleTimeout": 900, "maxConcurrentBoots": 5}, 2, 30, "alice")
    settings = OpenStackSettings(cloud="relval", clouds_yaml="/etc/relval/clouds.yaml",
                                 image="cernvm", flavor="m2.xlarge", network="net",
                                 server_group="sg-1", security_groups=("relval-workers",))
    doc = daemon_config_document(scaler, release="rel-1", openstack=settings)
    back = parse_daemon_config(yaml.safe_load(yaml.safe_dump(doc)), "rendered")
    assert back.scaler == replace_flavor(scaler, back.scaler.flavor)
    assert back.openstack == settings and back.release == "rel-1" and back.flavor_from_cloud


def replace_flavor(cfg, flavor):
    from dataclasses import replace
    return replace(cfg, flavor=flavor, create_application_credential=False)


def test_the_loop_pings_the_systemd_watchdog_every_cycle(tmp_path, monkeypatch):
    import socket

    path = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(str(path))
        listener.settimeout(2)
        monkeypatch.setenv("NOTIFY_SOCKET", str(path))
        run(daemon_config(tmp_path), cloud=FakeCloud("alice"), condor=FakeCondor(),
            clock=lambda: 1000.0, sleep=lambda s: None, max_cycles=2)
        got = [listener.recv(64).decode() for _ in range(3)]
    assert got == ["READY=1", "WATCHDOG=1", "WATCHDOG=1"]
