"""`relval autoscale run`: the scaler loop on the head node.

Builds the adapters named by the config file, then repeats observe -> decide ->
apply every pollSeconds. Each decision is logged with its case and reason, metrics
are written after every cycle, and the state file keeps timers across restarts.
"""

from __future__ import annotations

import logging
import signal
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable


from relval.errors import RelvalError
from relval.fields import load_yaml

from .config import DaemonConfig, Flavor, parse_daemon_config
from .controller import Controller, CycleResult
from .interfaces import AdapterError, Cloud, Condor
from .metrics import MetricsServer, render, write_file
from .state import JsonStore
from .watchdog import notify

log = logging.getLogger("relval.autoscaler")


def load_config(path: str | Path) -> DaemonConfig:
    return parse_daemon_config(load_yaml(path, "scaler config file"), source=str(path))


def build_adapters(cfg: DaemonConfig) -> tuple[Cloud, Condor]:
    """The real adapters for this config (imported lazily: each pulls in its SDK)."""
    from .adapters.condor import HTCondor

    user_data = ""
    if cfg.user_data_file:
        try:
            user_data = Path(cfg.user_data_file).read_text()
        except OSError as error:
            raise RelvalError(f"cannot read userDataFile {cfg.user_data_file}: "
                              f"{error.strerror or error}") from None
    try:
        if cfg.scaler.driver == "ec2":
            from .adapters.ec2 import Ec2Cloud
            cloud: Cloud = Ec2Cloud.from_settings(cfg.ec2, cfg.scaler.stack, user_data)
        else:
            from .adapters.openstack import OpenStackCloud
            cloud = OpenStackCloud.from_settings(cfg.openstack, cfg.scaler.stack, user_data)
    except AdapterError as error:
        raise RelvalError(f"cannot set up the {cfg.scaler.driver} cloud: {error}") from None
    return cloud, HTCondor(schedd=cfg.schedd, collector=cfg.collector)


def run(cfg: DaemonConfig, dry_run: bool = False, once: bool = False,
        cloud: Cloud | None = None, condor: Condor | None = None,
        clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep,
        max_cycles: int | None = None) -> list[CycleResult]:
    """Run cycles until stopped (SIGTERM/SIGINT), or once. Returns the cycle results."""
    if not cfg.scaler.enabled:
        raise RelvalError("the autoscaler is disabled (enabled: false) in its config")
    if cloud is None or condor is None:
        cloud, condor = build_adapters(cfg)
    if cfg.flavor_from_cloud:
        cfg = replace(cfg, scaler=replace(cfg.scaler, flavor=_worker_size(cloud)))
    store = JsonStore(cfg.state_file)
    try:
        controller = Controller(cloud, condor, cfg.scaler, store, release=cfg.release,
                                dry_run=dry_run, stop_file=cfg.stop_file)
    except (ValueError, OSError) as error:
        raise RelvalError(f"cannot read state file {cfg.state_file}: {error}") from None
    server = MetricsServer(cfg.metrics_port) if cfg.metrics_port else None
    stopping = {"flag": False}
    previous = _install_stop(stopping)
    log.info("relval autoscaler: stack %s, pool %d..%d, poll %gs, driver %s%s",
             cfg.scaler.stack, cfg.scaler.min, cfg.scaler.max, cfg.scaler.poll_seconds,
             cfg.scaler.driver, " (dry run)" if dry_run else "")
    results: list[CycleResult] = []
    notify("READY=1")
    try:
        while True:
            started = clock()
            try:
                result = controller.cycle(started)
            except Exception as error:  # noqa: BLE001 - a bug in one cycle must not stop scaling
                log.exception("cycle failed unexpectedly; trying again next poll")
                result = CycleResult(started, error=f"{type(error).__name__}: {error}")
            results.append(result)
            notify("WATCHDOG=1")   # the loop is alive; a frozen one is restarted by systemd
            text = render(controller.counters, result, controller.state.alert)
            if cfg.metrics_file and not dry_run:
                write_file(cfg.metrics_file, text)
            if server:
                server.text = text
            if once or stopping["flag"] or (max_cycles and len(results) >= max_cycles):
                break
            sleep(max(0.0, cfg.scaler.poll_seconds - (clock() - started)))
            if stopping["flag"]:
                break
    finally:
        _restore(previous)
        if server:
            server.close()
    return results


def _worker_size(cloud) -> Flavor:
    size = getattr(cloud, "worker_size", None)
    if size is None:
        raise RelvalError("flavor: {cores, ramMb} is required with this cloud adapter")
    try:
        cores, ram_mb = size()
    except AdapterError as error:
        raise RelvalError(f"cannot read the worker flavor's size: {error}") from None
    return Flavor(cores, ram_mb)


def _install_stop(stopping: dict) -> dict:
    def handler(signum, frame):
        log.info("signal %d: stopping after this cycle", signum)
        stopping["flag"] = True
    previous = {}
    try:
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, handler)
    except ValueError:  # not the main thread (tests): no signal handling
        pass
    return previous


def _restore(previous: dict) -> None:
    for sig, old in previous.items():
        signal.signal(sig, old)


def run_from_file(path: str | Path, dry_run: bool = False, once: bool = False) -> int:
    """`relval autoscale run`: load the config file and run; returns the cycles run."""
    return len(run(load_config(path), dry_run=dry_run, once=once))
