"""Prometheus text-format metrics of the scaler: rendered purely, written atomically.

Point node_exporter's textfile collector at `metricsFile`, or set `metricsPort` to
serve the same text over HTTP.
"""

from __future__ import annotations

import os
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from .controller import CycleResult, Counters
from .core import is_booting
from .model import BUSY, DRAINING, IDLE, Boot, Delete, Drain, Unfittable

PREFIX = "relval_autoscaler"


def render(counters: Counters, result: CycleResult, alert: str | None) -> str:
    lines: list[str] = []

    def metric(name: str, kind: str, help_text: str, value: float, labels: str = "") -> None:
        full = f"{PREFIX}_{name}"
        if not any(line.startswith(f"# TYPE {full} ") for line in lines):
            lines.append(f"# HELP {full} {help_text}")
            lines.append(f"# TYPE {full} {kind}")
        lines.append(f"{full}{labels} {value:g}")

    for field_name, help_text in (("cycles", "Scaling cycles run."),
                                  ("skipped_cycles", "Cycles skipped because observing failed."),
                                  ("boots", "Worker VMs created."),
                                  ("boot_api_errors", "Create calls the cloud refused."),
                                  ("quota_refusals", "Create calls refused for quota (not failures)."),
                                  ("deletes", "Worker VMs deleted."),
                                  ("drains", "Workers drained."),
                                  ("failed_boots", "Boots that ended in ERROR, timed out or never joined.")):
        metric(f"{field_name}_total", "counter", help_text, getattr(counters, field_name))
    metric("last_cycle_timestamp_seconds", "gauge", "When the last cycle ran.", result.now)
    metric("alert", "gauge", "1 while an alert case holds (breaker open, collector outage, "
           "busy worker kept, ...).", 1 if alert else 0)
    observed = result.observed
    if observed is not None:
        states = {"booting": 0, IDLE: 0, BUSY: 0, DRAINING: 0, "deleting": 0}
        for w in observed.workers:
            key = "deleting" if w.deleting else "booting" if is_booting(w) else w.condor
            if key in states:
                states[key] += 1
        for state, n in states.items():
            metric("workers", "gauge", "Owned workers by state.", n, f'{{state="{state}"}}')
        metric("idle_jobs", "gauge", "Idle jobs in the queue.",
               sum(j.count for j in observed.idle_jobs))
        metric("running_jobs", "gauge", "Running jobs.", observed.running_jobs)
        h = observed.headroom
        for name, value in (("instances", h.instances), ("cores", h.cores), ("ram_mb", h.ram_mb),
                            ("server_group_members", h.group_members)):
            if value is not None:
                metric("quota_headroom", "gauge", "Quota left in the project.", value,
                       f'{{resource="{name}"}}')
    metric("stuck_deletes", "gauge", "VMs still listed deleteTimeout after their delete.",
           len(result.stuck_deletes))
    unfit = sum(a.count for a in result.actions if isinstance(a, Unfittable))
    metric("unfittable_jobs", "gauge", "Idle jobs larger than a worker.", unfit)
    for kind, cls in (("boot", Boot), ("drain", Drain), ("delete", Delete)):
        n = sum(a.n if isinstance(a, Boot) else 1 for a in result.actions if isinstance(a, cls))
        metric("last_cycle_actions", "gauge", "Actions decided in the last cycle.", n,
               f'{{action="{kind}"}}')
    return "\n".join(lines) + "\n"


def write_file(path: str | os.PathLike, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".metrics-", dir=path.parent)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


class MetricsServer:
    """Serve the latest metrics text on /metrics from a background thread."""

    def __init__(self, port: int, host: str = "0.0.0.0"):
        self.text = ""
        server_self = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's naming)
                body = server_self.text.encode()
                self.send_response(200 if self.path in ("/", "/metrics") else 404)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
