"""Boot relval's user-data with real cloud-init in a qemu VM (tests/test_node_boot.py).

- `boot_image()` builds a small Debian image once (tests/bootimage/build-image.sh) and
  caches it outside the repository, keyed by a hash of its recipe;
- `Vm` boots it under qemu-system-x86_64 (KVM where /dev/kvm works, else TCG) with a
  NoCloud seed made by `cloud-localds`, SSH forwarded to a loopback port, optional virtio
  disks with a serial; the guest has no other network (`restrict=on`).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
RECIPE = HERE / "bootimage"
CACHE = Path(os.environ.get("RELVAL_BOOTIMAGE_CACHE",
                            Path.home() / ".cache" / "relval" / "bootimage"))
# What the head's scaler install pins (autoscaler/bundle.py), served to the guest's pip
# from a local wheelhouse, plus pip itself (the install upgrades it).
from relval.autoscaler.bundle import DAEMON_REQUIREMENTS  # noqa: E402

WHEELS = ("pip", *DAEMON_REQUIREMENTS)
GUEST_PYTHON = "3.11"   # Debian bookworm's python3
TOOLS = ("qemu-system-x86_64", "debootstrap", "cloud-localds", "qemu-img", "mkfs.ext4", "ssh",
         "ssh-keygen", "ssh-keyscan")


class NoVm(Exception):
    """qemu cannot start here (the only reason the boot test may skip)."""


def missing_tools() -> list[str]:
    return [tool for tool in TOOLS if shutil.which(tool) is None]


def apt_mirror() -> str:
    """The Debian mirror apt uses on this machine (deb822 or one-line sources)."""
    for path in sorted(Path("/etc/apt").glob("sources.list*")) + sorted(
            Path("/etc/apt/sources.list.d").glob("*")):
        if not path.is_file():
            continue
        text = path.read_text(errors="replace")
        for match in re.finditer(r"^URIs:\s*(\S+)", text, re.M):
            if "debian-security" not in match.group(1) and "/debian" in match.group(1):
                return match.group(1)
        for match in re.finditer(r"^deb\s+(?:\[[^\]]*\]\s+)?(\S+/debian)\s+bookworm\s", text, re.M):
            return match.group(1)
    return "http://deb.debian.org/debian"


def recipe_key() -> str:
    digest = hashlib.sha256()
    for path in sorted(RECIPE.iterdir()):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    digest.update(repr((WHEELS, GUEST_PYTHON)).encode())
    return digest.hexdigest()[:16]


def boot_image(log=print) -> Path:
    """The cached image folder (vmlinuz, initrd.img, root.raw), built on first use."""
    folder = CACHE / recipe_key()
    if (folder / "done").exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    wheels = folder / "wheels"
    wheels.mkdir(exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:",
                    "--python-version", GUEST_PYTHON, "--implementation", "cp",
                    "--abi", "cp" + GUEST_PYTHON.replace(".", ""),
                    "--platform", "manylinux_2_28_x86_64", "--platform", "manylinux_2_17_x86_64",
                    "--platform", "manylinux2014_x86_64", "--platform", "any",
                    "-d", str(wheels), *WHEELS], check=True, timeout=900)
    subprocess.run(["sh", str(RECIPE / "build-image.sh"), str(folder), apt_mirror(), str(wheels)],
                   check=True, timeout=1800)
    (folder / "build-seconds").write_text(f"{time.monotonic() - started:.0f}\n")
    (folder / "done").write_text("ok\n")
    log(f"boot image built in {time.monotonic() - started:.0f} s at {folder}")
    return folder


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


_KVM: list[bool] = []


def kvm_usable(image: Path, workdir: Path) -> bool:
    """Whether a guest kernel really runs under KVM here (probed once per process).

    Opening /dev/kvm is not enough: under some nested hosts the guest hangs right after
    the boot loader, so boot the kernel alone and wait for its first console line.
    """
    if _KVM:
        return _KVM[0]
    try:
        os.close(os.open("/dev/kvm", os.O_RDWR))
    except OSError:
        _KVM.append(False)
        return False
    log = workdir / "kvm-probe.log"
    probe = subprocess.Popen(
        ["qemu-system-x86_64", "-accel", "kvm", "-m", "256", "-nographic", "-no-reboot",
         "-serial", f"file:{log}", "-monitor", "none", "-kernel", str(image / "vmlinuz"),
         "-append", "console=ttyS0 panic=-1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    works = False
    try:
        while time.monotonic() < deadline and probe.poll() is None:
            if log.exists() and "Linux version" in log.read_text(errors="replace"):
                works = True
                break
            time.sleep(0.5)
    finally:
        probe.kill()
        probe.wait(timeout=30)
    _KVM.append(works)
    return works


@dataclass
class Disk:
    serial: str          # what the guest sees in /dev/disk/by-id/virtio-<serial>
    size: str = "1G"


@dataclass
class Vm:
    """One booted guest. `ssh(...)` runs a command as the login user."""

    image: Path
    workdir: Path
    user_data: str
    instance_id: str
    hostname: str
    disks: list[Disk] = field(default_factory=list)
    memory_mb: int = 1024
    cpus: int = 1
    port: int = 0
    process: subprocess.Popen | None = None
    key: Path | None = None
    user: str = "relval"
    boot_seconds: float = 0.0
    accel: str = ""

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        overlay = self.workdir / "root.qcow2"
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b",
                        str(self.image / "root.raw"), str(overlay)], check=True)
        (self.workdir / "user-data").write_text(self.user_data)
        (self.workdir / "meta-data").write_text(
            f"instance-id: {self.instance_id}\nlocal-hostname: {self.hostname}\n")
        seed = self.workdir / "seed.img"
        subprocess.run(["cloud-localds", str(seed), str(self.workdir / "user-data"),
                        str(self.workdir / "meta-data")], check=True)
        self.port = free_port()
        self.accel = "kvm" if kvm_usable(self.image, self.workdir) else "tcg"
        accel = (["-accel", "kvm", "-cpu", "host"] if self.accel == "kvm"
                 else ["-accel", "tcg,thread=multi"])
        command = ["qemu-system-x86_64", *accel, "-m", str(self.memory_mb), "-smp", str(self.cpus),
                   "-nographic", "-no-reboot", "-serial", f"file:{self.workdir / 'console.log'}",
                   "-monitor", "none",
                   "-kernel", str(self.image / "vmlinuz"), "-initrd", str(self.image / "initrd.img"),
                   "-append", "root=/dev/vda rw console=ttyS0 net.ifnames=0 panic=-1",
                   # Every disk as an explicit -device, in this order, so the root disk is
                   # /dev/vda (if=virtio drives would be enumerated after the -device ones).
                   "-drive", f"file={overlay},if=none,id=root,format=qcow2",
                   "-device", "virtio-blk-pci,drive=root",
                   "-drive", f"file={seed},if=none,id=seed,format=raw,readonly=on",
                   "-device", "virtio-blk-pci,drive=seed",
                   "-netdev", f"user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:{self.port}-:22",
                   "-device", "virtio-net-pci,netdev=n0"]
        for index, disk in enumerate(self.disks):
            path = self.workdir / f"disk{index}.qcow2"
            subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), disk.size],
                           check=True)
            command += ["-drive", f"file={path},if=none,id=d{index},format=qcow2",
                        "-device", f"virtio-blk-pci,drive=d{index},serial={disk.serial}"]
        started = time.monotonic()
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL,
                                        stderr=open(self.workdir / "qemu.err", "w"))
        time.sleep(1)
        if self.process.poll() is not None:
            raise NoVm(f"qemu exited at once: {(self.workdir / 'qemu.err').read_text()[-500:]}")
        self._started = started

    def wait_for_cloud_init(self, timeout: float = 1500) -> dict:
        """Wait until cloud-init has finished; returns its result.json (v1)."""
        import json

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the VM stopped: {self.console()[-3000:]}")
            try:
                result = self.ssh("sudo cat /run/cloud-init/result.json", check=False, timeout=60)
            except subprocess.TimeoutExpired:
                continue   # sshd is up but slow (software emulation): ask again
            if result.returncode == 0 and result.stdout.strip():
                self.boot_seconds = time.monotonic() - self._started
                return json.loads(result.stdout)["v1"]
            time.sleep(3)
        raise AssertionError(f"cloud-init did not finish in {timeout:.0f} s: {self.console()[-3000:]}")

    def ssh_command(self, user: str | None = None, *options: str) -> list[str]:
        return ["ssh", "-p", str(self.port), "-i", str(self.key), "-o", "BatchMode=yes",
                "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                "-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR", *options,
                f"{user or self.user}@127.0.0.1"]

    def ssh(self, command: str, check: bool = True, timeout: float = 300,
            user: str | None = None) -> subprocess.CompletedProcess:
        result = subprocess.run([*self.ssh_command(user), command], capture_output=True,
                                text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"{command!r} exited {result.returncode}: {result.stderr}")
        return result

    def console(self) -> str:
        path = self.workdir / "console.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)
