"""The Debian root file system the Raspberry Pi guide's test runs in, and the chroot around it
(tests/deploy/test_raspberry_pi_guide.py says what is tried and what is plumbing)."""

from __future__ import annotations

import os
import platform
import shutil
import stat
import subprocess
from pathlib import Path

from facetrove import sample_data
from tests.support.data import require

CACHE = sample_data.cache_dir() / "pi"
ROOTFS_VERSION = 1  # bump when the package set below changes
PACKAGES = "python3,sudo,ca-certificates,systemd,systemd-sysv"
SYSTEMCTL_SHIM = """#!/bin/sh
# Test plumbing (tests/deploy/test_raspberry_pi_guide.py): systemd is not PID 1 in this chroot.
# enable and disable run for real (they write symlinks); --now, start, restart and daemon-reload
# are logged and skipped by systemctl itself ("Running in chroot, ignoring command").
echo "systemctl $*" >> /var/log/facetrove-test-systemctl.log
args=""
for a in "$@"; do [ "$a" = "--now" ] || args="$args $a"; done
SYSTEMD_OFFLINE=1 exec /usr/bin/systemctl $args
"""
PI5_CPUINFO = """processor\t: {}
BogoMIPS\t: 108.00
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc \
dcpop asimddp
CPU implementer\t: 0x41
CPU architecture: 8
CPU variant\t: 0x4
CPU part\t: 0xd0b
CPU revision\t: 1

"""
HOST_DEBIAN_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), "")


def run_ok(cmd: list[str], timeout: float = 3600, **kwargs: object) -> str:
    """Run ``cmd`` and return its stdout; a failure is an assertion with the end of its output."""
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kwargs)  # type: ignore[call-overload]
    assert proc.returncode == 0, f"{cmd[:6]} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return str(proc.stdout)


def rootfs_tar(arch: str) -> Path:
    """A cached bookworm root file system for ``arch`` (built once with mmdebstrap)."""
    tar = CACHE / f"bookworm-{arch}-v{ROOTFS_VERSION}.tar"
    if tar.exists():
        return tar
    mmdebstrap = shutil.which("mmdebstrap")
    if mmdebstrap is None:
        require("mmdebstrap", "apt-get install mmdebstrap (builds the Debian root file system)")
    CACHE.mkdir(parents=True, exist_ok=True)
    partial = tar.with_suffix(".partial.tar")  # mmdebstrap picks the format by the suffix
    run_ok([str(mmdebstrap), f"--arch={arch}", "--variant=minbase", f"--include={PACKAGES}",
            "bookworm", str(partial), "http://deb.debian.org/debian"])  # fmt: skip
    partial.replace(tar)
    return tar


class Chroot:
    """A Debian root file system with /proc, /sys and /dev mounted, entered with chroot."""

    def __init__(self, root: Path, arch: str) -> None:
        self.root = root
        self.arch = arch
        self.mounts: list[Path] = []

    def mount(self, *args: str, target: str) -> None:
        path = self.root / target.lstrip("/")
        path.mkdir(parents=True, exist_ok=True)
        run_ok(["mount", *args, str(path)])
        self.mounts.append(path)

    def make_devices(self) -> None:
        dev = self.root / "dev"
        for name, major, minor in (("null", 1, 3), ("zero", 1, 5), ("full", 1, 7),
                                   ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0)):  # fmt: skip
            os.mknod(dev / name, 0o666 | stat.S_IFCHR, os.makedev(major, minor))
            (dev / name).chmod(0o666)
        (dev / "shm").mkdir(mode=0o1777)
        (dev / "pts").mkdir()
        self.mount("-t", "devpts", "-o", "newinstance,ptmxmode=0666", "devpts", target="/dev/pts")
        (dev / "ptmx").symlink_to("pts/ptmx")
        (dev / "fd").symlink_to("/proc/self/fd")
        for number, name in enumerate(("stdin", "stdout", "stderr")):
            (dev / name).symlink_to(f"/proc/self/fd/{number}")

    def arm64_cpuinfo(self) -> None:
        """Debian 12's qemu-user (7.2) shows arm64 programs the host's x86 /proc/cpuinfo, and
        MediaPipe's CPU probe (cpuinfo) crashes on it with SIGSEGV: a Pi 5's (Cortex-A76) is
        bound over it, as an arm64 kernel would show (the HWCAP bits qemu gives are unchanged)."""
        if "Features" in (self.root / "proc" / "cpuinfo").read_text():
            return  # a qemu that emulates it
        fake = self.root.parent / "cpuinfo"
        fake.write_text("".join(PI5_CPUINFO.format(n) for n in range(4)))
        path = self.root / "proc" / "cpuinfo"
        run_ok(["mount", "--bind", str(fake), str(path)])
        self.mounts.append(path)

    def unmount(self) -> None:
        for path in reversed(self.mounts):
            subprocess.run(["umount", "-R", "-l", str(path)], capture_output=True)
        self.mounts.clear()

    def run(self, script: str, user: str = "root", timeout: float = 3600, cpu: str = "") -> str:
        """Run a bash script inside, as ``user``, with a clean login-like environment; under
        qemu-user, ``cpu`` names the CPU it emulates for the script (QEMU_CPU: qemu reads it
        at every exec), else qemu's default ``max``, which has every feature."""
        home = "/root" if user == "root" else f"/home/{user}"
        env = ["env", "-i", f"HOME={home}", f"USER={user}", "LANG=C.UTF-8",
               "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]  # fmt: skip
        if cpu:
            env.append(f"QEMU_CPU={cpu}")
        cmd = ["chroot", f"--userspec={user}:{user}", str(self.root), *env]
        return run_ok([*cmd, "bash", "-euo", "pipefail", "-c", f"cd ~\n{script}"], timeout)


def remove_leftovers(base: Path, arch: str) -> None:
    """Unmount and remove the folders of crashed runs; a folder of a run whose process is alive
    (another run of this test at the same time) is left alone."""
    for old in sorted(base.glob(f"{arch}-*")):
        pid = old.name.split("-")[1]
        if pid.isdigit() and Path(f"/proc/{pid}").exists():
            continue  # a live run's
        for inside in ("proc", "dev", "sys"):
            subprocess.run(["umount", "-R", "-l", str(old / "root" / inside)], capture_output=True)
        for inside in ("var/cache/apt/archives", "root/.cache/pip"):
            subprocess.run(["umount", "-l", str(old / "root" / inside)], capture_output=True)
        if not has_mounts(old):
            shutil.rmtree(old, ignore_errors=True)


def has_mounts(folder: Path) -> bool:
    text = Path("/proc/self/mounts").read_text()
    return any(line.split()[1].startswith(str(folder)) for line in text.splitlines())
