"""A stand-in for HTCondor's `condor_submit` and `condor_rm`, speaking the protocol makeflow
8 uses: it reads the submit file makeflow writes, prints `1 job(s) submitted to cluster N`,
and appends real job event log records (000 submit, 001 execute, 005 terminate, 012 held,
009 aborted) to the file named by `log =`, which makeflow follows.

A job runs in a fresh sandbox holding only `transfer_input_files` and the executable;
since makeflow writes no `transfer_output_files`, every top-level file the job created or
changed comes back to the submit directory, as HTCondor does. A job whose arguments hold
$FAKE_CONDOR_HOLD is put on hold instead (code $FAKE_CONDOR_HOLD_CODE, default 34, memory)
and then handled as the schedd would: the submit file's `periodic_remove` and
`periodic_release` are evaluated with the real ClassAd library (classad2); a job that
neither removes nor releases stays held for ever, as with makeflow 8 alone.

`install(bin_dir)` writes `condor_submit` and `condor_rm` there, which call this file
with the Python running the tests (it has classad2); $FAKE_CONDOR_STATE is a directory
for cluster ids, submit files and pids.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def event(log: Path, code: int, cluster: int, title: str, body: list[str] = ()) -> None:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    lines = [f"{code:03d} ({cluster}.000.000) {stamp} {title}", *(f"\t{b}" for b in body), "..."]
    with open(log, "a") as f:
        f.write("\n".join(lines) + "\n")


def read_submit(path: Path) -> dict[str, str]:
    keys = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            keys[key.strip().lower()] = value.strip()
    return keys


def arguments(value: str) -> str:
    """HTCondor's new argument syntax: "..." with "" for " and '' for '."""
    if value.startswith('"') and value.endswith('"'):
        value = value[1:-1].replace('""', '"').replace("''", "'")
    return value


def policy(keys: dict[str, str], name: str, ad_text: str) -> bool:
    import classad2

    if name not in keys:
        return False
    ad = classad2.parseOne(ad_text)
    return classad2.ExprTree(keys[name]).eval(ad) is True


def run(keys: dict[str, str], cluster: int, iwd: Path, log: Path) -> None:
    args = arguments(keys.get("arguments", ""))
    hold_marker = os.environ.get("FAKE_CONDOR_HOLD")
    if hold_marker and hold_marker in args:
        code = int(os.environ.get("FAKE_CONDOR_HOLD_CODE", "34"))
        event(log, 1, cluster, "Job executing on host: <127.0.0.1:9618>")
        reason = "Job has gone over memory limit of 1000 megabytes." if code == 34 else f"held with code {code}"
        event(log, 12, cluster, "Job was held.", [reason, f"Code {code} Subcode 0"])
        quoted = args.replace("\\", "\\\\").replace('"', '\\"')
        for holds in range(1, 10):
            ad = (f'JobStatus = 5\nHoldReasonCode = {code}\nNumHolds = {holds}\n'
                  f'EnteredCurrentStatus = {int(time.time()) - 100}\nArguments = "{quoted}"')
            if policy(keys, "periodic_remove", ad):
                event(log, 9, cluster, "Job was aborted.",
                      [f"The job attribute PeriodicRemove expression '{keys['periodic_remove'][:40]}...' "
                       "evaluated to TRUE"])
                return
            if not policy(keys, "periodic_release", ad):
                return  # held for ever: nobody notices
            event(log, 13, cluster, "Job was released.", ["The job attribute PeriodicRelease expression evaluated to TRUE"])
            event(log, 12, cluster, "Job was held.", [reason, f"Code {code} Subcode 0"])
        return
    sandbox = Path(tempfile.mkdtemp(prefix="fake-condor-"))
    try:
        names = [n.strip() for n in keys.get("transfer_input_files", "").split(",") if n.strip()]
        for name in names + [keys["executable"]]:
            shutil.copy(iwd / name, sandbox / Path(name).name)
        before = {p.name: p.stat().st_mtime_ns for p in sandbox.iterdir()}
        event(log, 1, cluster, "Job executing on host: <127.0.0.1:9618>")
        rc = subprocess.run(["/bin/sh", Path(keys["executable"]).name, args], cwd=sandbox,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
        for path in sandbox.iterdir():
            if path.is_file() and before.get(path.name) != path.stat().st_mtime_ns:
                shutil.copy(path, iwd / path.name)
                with open(iwd / "fake-condor-returned.txt", "a") as f:
                    f.write(path.name + "\n")
        event(log, 5, cluster, "Job terminated.", [f"(1) Normal termination (return value {rc})"])
    finally:
        shutil.rmtree(sandbox, ignore_errors=True)


def submit(path: str) -> int:
    state = Path(os.environ["FAKE_CONDOR_STATE"])
    state.mkdir(parents=True, exist_ok=True)
    counter = state / "next"
    cluster = int(counter.read_text()) if counter.exists() else 1
    counter.write_text(str(cluster + 1))
    iwd = Path.cwd()
    keys = read_submit(iwd / path)
    (state / f"{cluster}.submit").write_text((iwd / path).read_text())
    log = iwd / keys["log"]
    event(log, 0, cluster, "Job submitted from host: <127.0.0.1:9618>")
    print(f"Submitting job(s).\n1 job(s) submitted to cluster {cluster}.", flush=True)
    pid = os.fork()
    if pid == 0:  # the "schedd" runs the job in the background
        os.setsid()
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        try:
            run(keys, cluster, iwd, log)
        finally:
            os._exit(0)
    (state / f"{cluster}.pid").write_text(str(pid))
    return 0


def remove(cluster: str) -> int:
    state = Path(os.environ["FAKE_CONDOR_STATE"])
    try:
        os.killpg(int((state / f"{cluster}.pid").read_text()), 9)
    except (OSError, ValueError):
        pass
    print(f"All jobs in cluster {cluster} have been marked for removal")
    return 0


def install(bin_dir: Path) -> Path:
    bin_dir.mkdir(parents=True, exist_ok=True)
    for tool in ("condor_submit", "condor_rm"):
        path = bin_dir / tool
        path.write_text(f'#!/bin/sh\nexec {sys.executable} {Path(__file__).resolve()} {tool} "$@"\n')
        path.chmod(0o755)
    return bin_dir


if __name__ == "__main__":
    sys.exit(submit(sys.argv[2]) if sys.argv[1] == "condor_submit" else remove(sys.argv[2]))
