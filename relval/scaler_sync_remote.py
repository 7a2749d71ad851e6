"""Runs on the head, as root, with `python3 -c` (see `scaler_sync.remote_command`).

argv: check|apply ROOT SYSTEMCTL; stdin: {"unit", "unit_file", "files": [{path, mode,
gz_b64}]}. Prints one JSON line: {"changed": [paths], "restarted": bool}, or {"error"}.
A file differs when its bytes or its mode differ. `apply` writes each one next to its
place and renames it over (a reader never sees half a file), owned by root, then
reloads systemd if the unit changed, enables the unit and restarts it without waiting
for its install step. Only the standard library of the Python that cloud-init runs on.
"""

import base64
import gzip
import json
import os
import stat
import subprocess
import sys


def differs(dest, data, mode):
    try:
        with open(dest, "rb") as handle:
            same = handle.read() == data
        return not same or stat.S_IMODE(os.stat(dest).st_mode) != mode
    except FileNotFoundError:
        return True


def write(dest, data, mode):
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    new = dest + ".relval-new"
    with os.fdopen(os.open(new, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fchown(handle.fileno(), 0, 0)
        os.fchmod(handle.fileno(), mode)
        os.fsync(handle.fileno())
    os.rename(new, dest)


def main():
    action, root, systemctl = sys.argv[1:4]
    request = json.load(sys.stdin)
    changed = []
    for entry in request["files"]:
        data = gzip.decompress(base64.b64decode(entry["gz_b64"]))
        dest = os.path.join(root, entry["path"].lstrip("/"))
        if differs(dest, data, entry["mode"]):
            changed.append(entry["path"])
            if action == "apply":
                write(dest, data, entry["mode"])
    restarted = False
    if action == "apply" and changed:
        steps = [[systemctl, "daemon-reload"]] if request["unit_file"] in changed else []
        steps += [[systemctl, "enable", request["unit"]],
                  [systemctl, "restart", "--no-block", request["unit"]]]
        for step in steps:
            done = subprocess.run(step, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            if done.returncode != 0:
                output = done.stdout.decode(errors="replace").strip()
                print(json.dumps({"error": "{} failed (exit {}): {}".format(
                    " ".join(step[1:]), done.returncode, output), "changed": changed}))
                sys.exit(1)
        restarted = True
    print(json.dumps({"changed": changed, "restarted": restarted}))


if __name__ == "__main__":
    main()
