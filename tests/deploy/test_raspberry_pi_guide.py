"""docs/raspberry-pi.md, run as written in a fresh Debian bookworm root file system.

What is tried: a minbase bookworm with python3, sudo, ca-certificates and systemd (what a
Raspberry Pi OS Lite image has, minus the desktop bits), a user `pi` with sudo, the wheel of this
checkout and a device JSON from a real collector in its home; then every `<!-- run: pi-... -->`
block of the guide, in order, as that user in a chroot. After the guide, the agent is started
the way its unit starts it (user facetrove, the credential folder, the installed config), on face
photos instead of a camera, and the collector must store what it sent.

Where: the machine's own architecture, and arm64: natively on an arm64 machine, else under
qemu-user emulation through binfmt_misc. That needs qemu-aarch64 registered with the F and C
flags (C so that an emulated sudo is setuid); .ci/run registers it with .ci/arm64-emulation, and a
machine without it skips loudly (MISSING ..., a failure under FACETROVE_REQUIRE_ALL). On arm64
the agent also runs a second time as a Raspberry Pi 4's CPU (QEMU_CPU=cortex-a72), where
MediaPipe's build cannot run and the agent must fall back to Haar and still deliver. Emulated on
the 2-core CI VM: the root once 5.3 min, the whole arm64 test 7.5 min with the caches warm
(docs/benchmarks.md). Not run anywhere: the camera commands and `systemctl status` / `journalctl`
(no camera, and systemd is not PID 1 in a chroot: `systemctl enable --now` only enables there).

Plumbing, not part of the guide: this machine's CA bundle and pip.conf are copied into the root
(outbound TLS goes through a proxy with its own CA), its host name into /etc/hosts, apt's and
pip's caches are kept between runs in ~/.cache/facetrove/pi/, and `systemctl` is a shim that logs
each call and runs it offline (enable writes its symlinks; --now, daemon-reload and restart are
ignored by systemctl in a chroot): the test checks which calls the guide made. Debian 12's
qemu-user (7.2) shows arm64 programs the host's x86 /proc/cpuinfo, and MediaPipe's CPU probe
crashes on it, so a Raspberry Pi 5's is bound over it (the CPU features qemu gives are unchanged).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deploy.pi_chroot import (
    CACHE,
    HOST_DEBIAN_ARCH,
    SYSTEMCTL_SHIM,
    Chroot,
    has_mounts,
    remove_leftovers,
    rootfs_tar,
    run_ok,
)
from tests.support.broker import free_port, wait_port
from tests.support.data import expression_file, face_file, require
from tests.support.doc_blocks import ROOT, blocks

# Building the root file system (once) and pip under emulation take longer than the suite's
# default 600 s per test.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]

GUIDE = "docs/raspberry-pi.md"
STEPS = ["pi-system-packages", "pi-install", "pi-provision", "pi-service", "pi-update"]


def _arches() -> list[str]:
    return sorted({HOST_DEBIAN_ARCH or "amd64", "arm64"})


def _can_run_arm64() -> None:
    """arm64 runs natively on arm64, else under qemu-user through binfmt_misc (.ci/run sets it
    up with .ci/arm64-emulation); a machine that cannot says so loudly."""
    if HOST_DEBIAN_ARCH == "arm64":
        return
    binfmt = Path("/proc/sys/fs/binfmt_misc/qemu-aarch64")
    if not binfmt.exists():
        require("arm64 emulation", f"no {binfmt}: run .ci/arm64-emulation as root")
    flags = next((line.split()[1] for line in binfmt.read_text().splitlines()
                  if line.startswith("flags:")), "")  # fmt: skip
    if "C" not in flags or "F" not in flags:
        # Without C (credentials) an emulated sudo is not setuid: "effective uid is not 0".
        # Without F the interpreter would have to be inside the chroot. Debian registers
        # qemu-aarch64 with flags OPF.
        require(
            "arm64 emulation with setuid",
            f"qemu-aarch64 is registered with flags {flags!r}, not F and C: "
            "run .ci/arm64-emulation as root to register it again with flags FPC",
        )


@pytest.fixture(scope="module", params=_arches())
def pi(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Chroot]:
    arch: str = request.param
    if arch == "arm64":
        _can_run_arm64()
    if os.geteuid() != 0 or shutil.which("chroot") is None:
        require("root and chroot", "the guide runs in a chroot, which needs root")
    tar = rootfs_tar(arch)
    # Not under pytest's tmp folder, whose old runs pytest deletes: a crashed run could leave
    # mounts there. Leftovers of a crashed run of this test are unmounted and removed first.
    base = Path("/var/tmp/facetrove-pi-guide")
    remove_leftovers(base, arch)
    base.mkdir(parents=True, exist_ok=True)
    # The pid in the name tells a crashed run's folder from a live one's (two runs at once).
    root = Path(tempfile.mkdtemp(prefix=f"{arch}-{os.getpid()}-", dir=base)) / "root"
    root.mkdir()
    run_ok(["tar", "-C", str(root), "-xf", str(tar)])
    box = Chroot(root, arch)
    try:
        box.mount("-t", "proc", "proc", target="/proc")
        if arch == "arm64" and HOST_DEBIAN_ARCH != "arm64":
            box.arm64_cpuinfo()
        box.mount("-t", "sysfs", "-o", "ro", "sys", target="/sys")
        # A /dev of its own (tmpfs + the usual nodes), never a bind of the host's: removing the
        # folder after a crash must not be able to reach the host's devices.
        box.mount("-t", "tmpfs", "-o", "mode=755", "dev", target="/dev")
        box.make_devices()
        for name, inside in (("apt", "/var/cache/apt/archives"), ("pip", "/root/.cache/pip")):
            cache = CACHE / f"{name}-{arch}"
            (cache / "partial").mkdir(parents=True, exist_ok=True)
            box.mount("--bind", str(cache), target=inside)
        shutil.copy("/etc/resolv.conf", root / "etc" / "resolv.conf")
        with (root / "etc" / "hosts").open("a") as hosts:  # the chroot keeps this host's name
            hosts.write(f"127.0.1.1 {os.uname().nodename}\n")
        shim = root / "usr" / "local" / "sbin" / "systemctl"
        shim.write_text(SYSTEMCTL_SHIM)
        shim.chmod(0o755)
        bundle = Path("/etc/ssl/certs/ca-certificates.crt")
        if bundle.exists():
            shutil.copy(bundle, root / "etc" / "ssl" / "certs" / "ca-certificates.crt")
        if Path("/etc/pip.conf").exists():
            shutil.copy("/etc/pip.conf", root / "etc" / "pip.conf")
        box.run("useradd --create-home --shell /bin/bash pi\n"
                "echo 'pi ALL=(ALL) NOPASSWD: ALL' > /etc/sudoers.d/010_pi-nopasswd")  # fmt: skip
        yield box
    finally:
        box.unmount()
        if not has_mounts(root.parent):
            shutil.rmtree(root.parent, ignore_errors=True)


def test_a_run_leaves_the_folder_of_another_live_run_alone(tmp_path: Path) -> None:
    """Two runs at once (two CI jobs, two developers): the second must not unmount and delete
    the first one's chroot (it did: the first failed with 'chroot: invalid user')."""
    live = tmp_path / f"amd64-{os.getpid()}-abc" / "root" / "etc"
    live.mkdir(parents=True)
    dead_pid = _dead_pid()
    crashed = tmp_path / f"amd64-{dead_pid}-def" / "root"
    crashed.mkdir(parents=True)
    other_arch = tmp_path / f"arm64-{dead_pid}-ghi"
    other_arch.mkdir()
    remove_leftovers(tmp_path, "amd64")
    assert live.is_dir() and other_arch.is_dir()
    assert not crashed.parent.exists()


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    """A real collector (serve, embedded broker on 0.0.0.0 of a free port) and a device login
    for kitchen-pi, as the JSON `collector device add --json` prints."""
    from tests.agent.agent_process import FACETROVE

    data = tmp_path_factory.mktemp("collector")
    port, web = free_port(), free_port()
    log = (data / "serve.log").open("w")
    proc = subprocess.Popen(
        [FACETROVE, "collector", "serve", "--data-dir", str(data), "--broker-port", str(port),
         "--port", str(web)],
        stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ, NO_ALBUMENTATIONS_UPDATE="1"),
    )  # fmt: skip
    try:
        wait_port(port, timeout=60)
        device = subprocess.run(
            [FACETROVE, "collector", "device", "add", "kitchen-pi", "--json", "--data-dir",
             str(data), "--broker-url", f"mqtt://127.0.0.1:{port}"],
            capture_output=True, text=True,
        )  # fmt: skip
        assert device.returncode == 0, device.stderr
        yield {"json": device.stdout, "data": data, "port": port}
    finally:
        proc.terminate()
        proc.wait(60)
        log.close()


def test_guide_blocks_are_the_ones_this_test_runs() -> None:
    assert list(blocks(GUIDE)) == STEPS


def test_the_guide_from_a_stock_image_to_a_delivering_agent(
    pi: Chroot, collector: dict[str, object], tmp_path: Path
) -> None:
    home = pi.root / "home" / "pi"
    wheel = _wheel(tmp_path)
    shutil.copy(wheel, home / wheel.name)
    (home / "kitchen-pi.json").write_text(str(collector["json"]))
    found = blocks(GUIDE)
    timings = {}
    for step in STEPS:
        started = time.monotonic()
        pi.run(found[step], user="pi")
        timings[step] = round(time.monotonic() - started, 1)
        print(f"{pi.arch}: {step} done in {timings[step]} s", flush=True)
    print(f"\n{pi.arch}: seconds per step {timings}")  # shown with -s / in the CI log on failure
    assert not (home / "kitchen-pi.json").exists(), "the guide deletes the password file"
    cred = pi.root / "etc" / "facetrove" / "credentials" / "mqtt-password"
    assert oct(cred.stat().st_mode)[-3:] == "600" and cred.stat().st_uid == 0
    enabled = pi.root / "etc/systemd/system/multi-user.target.wants/facetrove-agent.service"
    assert enabled.is_symlink(), "systemctl enable did not install the unit"
    asked = (pi.root / "var/log/facetrove-test-systemctl.log").read_text().splitlines()
    assert asked == ["systemctl daemon-reload", "systemctl enable --now facetrove-agent",
                     "systemctl restart facetrove-agent"], asked  # fmt: skip
    user = pi.run("id facetrove")
    assert "video" in user, user
    opencv = pi.run("/opt/facetrove/bin/pip list 2>/dev/null | grep -i opencv")
    assert opencv.split()[0] == "opencv-python-headless" and len(opencv.splitlines()) == 1
    photos = (face_file("single_face.jpg"), expression_file("hao"), expression_file("su"))
    started = time.monotonic()
    summary, log = _run_like_the_unit(pi, photos)
    print(f"{pi.arch}: the agent ran in {time.monotonic() - started:.1f} s", flush=True)
    assert summary["exit_code"] == 0 and summary["samples_sent"] >= 1, (summary, log[-3000:])
    assert "falling back" not in log and "Haar" not in log, log[-3000:]  # MediaPipe loaded
    assert "Errno 13" not in log, log[-3000:]  # nothing it needs to write is read-only
    sent = int(str(summary["samples_sent"]))
    assert _stored(Path(str(collector["data"])), sent), summary
    if pi.arch == "arm64" and HOST_DEBIAN_ARCH != "arm64":
        # A Raspberry Pi 4's CPU (qemu's cortex-a72: no LSE, no dotprod): MediaPipe's build
        # would die with SIGILL, so the agent must fall back to Haar and still deliver.
        others = (expression_file("anc"), expression_file("di"))
        summary, log = _run_like_the_unit(pi, others, cpu="cortex-a72")
        assert summary["exit_code"] == 0 and summary["samples_sent"] >= 1, (summary, log[-3000:])
        fallback = [line for line in log.splitlines() if "falling back" in line]
        assert len(fallback) == 1 and "this CPU lacks atomics" in fallback[0], log[-3000:]
        sent += int(str(summary["samples_sent"]))
        assert _stored(Path(str(collector["data"])), sent), summary


def _stored(data: Path, count: int) -> bool:
    """Whether the collector's store holds ``count`` samples (ingest commits within seconds)."""
    from facetrove.collector.store import DB_NAME, connect
    from facetrove.collector.store.samples import sample_count

    db = connect(data / DB_NAME)
    try:
        deadline = time.monotonic() + 30
        while sample_count(db) < count and time.monotonic() < deadline:
            time.sleep(0.5)
        return sample_count(db) >= count
    finally:
        db.close()


def _wheel(tmp_path: Path) -> Path:
    from tests.deploy.test_dist import WHEEL, _uv

    out = tmp_path / "dist"
    run_ok([_uv(), "build", "--wheel", "--out-dir", str(out), str(ROOT)])
    return out / WHEEL


def _run_like_the_unit(
    pi: Chroot, photos: tuple[Path, ...], cpu: str = ""
) -> tuple[dict[str, object], str]:
    """The unit's ExecStart, as user facetrove with the credential folder systemd would make,
    on face photos instead of the camera (a fresh folder each run); its --summary-json line and
    its log."""
    state = pi.root / "var" / "lib" / "facetrove"
    state.mkdir(parents=True, exist_ok=True)
    inside = Path(tempfile.mkdtemp(prefix="photos-", dir=state))
    for src in photos:
        shutil.copy(src, inside / src.name)
    folder = "/" + str(inside.relative_to(pi.root))
    script = (
        "install -d -o facetrove -g facetrove -m 750 /var/lib/facetrove/agent\n"
        "install -d -o facetrove -m 700 /run/credentials/facetrove-agent.service\n"
        "install -o facetrove -m 400 /etc/facetrove/credentials/mqtt-password "
        "/run/credentials/facetrove-agent.service/mqtt-password\n"
        f"chown -R facetrove {folder}\n"
        "cd /var/lib/facetrove/agent && runuser -u facetrove -- env HOME=/var/lib/facetrove/agent "
        "CREDENTIALS_DIRECTORY=/run/credentials/facetrove-agent.service "
        "/opt/facetrove/bin/facetrove agent run --config /etc/facetrove/agent.yaml "
        f"--source {folder} --summary-json 2> /tmp/agent.log | tail -1"
    )
    try:
        out = pi.run(script, timeout=900, cpu=cpu)
    finally:
        log = (pi.root / "tmp" / "agent.log").read_text(errors="replace")
        print(f"--- agent log ({cpu or 'default CPU'}) ---\n{log[-3000:]}", flush=True)
    summary: dict[str, object] = json.loads(out.strip().splitlines()[-1])
    keys = ("exit_code", "frames", "faces", "samples_sent", "duration_s")
    print(
        f"{pi.arch} ({cpu or 'default CPU'}): { ({k: summary.get(k) for k in keys}) }", flush=True
    )
    return summary, log
