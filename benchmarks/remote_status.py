"""Time remote status over SSH against a local sshd: relval's incremental reader on a
shared master connection, side by side with the naive way (a new ssh per poll that
re-reads and re-parses the whole log).

    venv/bin/python benchmarks/remote_status.py [--lines N] [--polls K]

It starts a throwaway sshd on 127.0.0.1 (as the tests do), writes a synthetic
1,000,000-line transaction log, then prints: the first full read, the cost of one poll
after 1,000 lines were appended (relval vs naive, and their ratio), and the cost of one
SSH command with and without the master connection. Loopback hides network latency:
on a real WAN link each new connection costs one or more extra round trips, so the
ratios here are a lower bound.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from tests.submit_sshd import running_sshd, sshd_available  # noqa: E402
from workflow_status import synthetic_log  # noqa: E402

from relval.workflows.remote import SshTransport  # noqa: E402
from relval.workflows.remote_status import RemoteLogReader  # noqa: E402
from relval.workflows.status import LogState, parse_status  # noqa: E402


def timed(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--polls", type=int, default=5)
    args = parser.parse_args()
    if not sshd_available():
        sys.exit("needs /usr/sbin/sshd, ssh and rsync")
    data, extra = synthetic_log(args.lines)
    chunk = b"".join(extra)
    with tempfile.TemporaryDirectory() as tmp, running_sshd(Path(tmp)) as server:
        log = Path(tmp) / "bench.makeflow.makeflowlog"
        log.write_bytes(data)
        with SshTransport(server.target()) as ssh:
            ssh.connect()
            reader, state = RemoteLogReader(ssh, str(log)), LogState()
            t0 = time.perf_counter()
            state.feed(reader.read_new())
            first = time.perf_counter() - t0

            def relval_poll() -> None:
                with open(log, "ab") as f:
                    f.write(chunk)
                state.feed(reader.read_new())
                state.summary(time.time())

            incremental = timed(relval_poll, args.polls)
            muxed = timed(lambda: ssh.run("true"), args.polls)
            fresh_target = server.target()

        with SshTransport(fresh_target) as plain:
            argv = [*plain.ssh_options(), "--", server.host]  # no master: one connection each

            def naive_poll() -> None:
                out = subprocess.run(["ssh", *argv, f"cat {log}"], capture_output=True,
                                     check=True).stdout
                parse_status(out, time.time())

            naive = timed(naive_poll, args.polls)
            fresh = timed(lambda: subprocess.run(["ssh", *argv, "true"], check=True), args.polls)
    lines = data.count(b"\n")
    print(f"log: {lines:,} lines, {len(data) / 1e6:.1f} MB; polls: median of {args.polls}")
    print(f"first remote read + parse: {first:.3f} s")
    print(f"poll after {len(extra):,} appended lines: relval {incremental * 1e3:.1f} ms, "
          f"naive (new ssh, whole log) {naive * 1e3:.1f} ms, ratio naive/relval "
          f"{naive / incremental:.1f}x")
    print(f"one ssh command: shared master {muxed * 1e3:.1f} ms, new connection "
          f"{fresh * 1e3:.1f} ms, ratio {fresh / muxed:.1f}x")


if __name__ == "__main__":
    main()
