"""`facetrove collector ingest`: samples, status and stats off the broker into the store."""

from __future__ import annotations

from pathlib import Path

import click

from facetrove.collector.cli.common import (
    broker_option,
    config_option,
    data_dir_option,
    load,
    setup_logging,
    stop_on_signals,
)
from facetrove.collector.store.db import StoreError


@click.command("ingest")
@config_option
@data_dir_option
@broker_option
@click.option("--shared-group", help="Join the shared subscription $share/NAME/... with others.")
@click.option("--client-id", help="Stable MQTT client id (one per ingest process).")
@click.option("-v", "--verbose", is_flag=True, help="Log every rejected message.")
def ingest_cmd(
    config_path: Path | None,
    data_dir: Path | None,
    broker_url: str | None,
    shared_group: str | None,
    client_id: str | None,
    verbose: bool,
) -> None:
    """Take samples, status and stats off the broker into the store.

    Each sample is acknowledged to the broker only after its image and row are on disk, so
    killing this process loses nothing: the broker redelivers to the same client id. With
    ingest.metrics_port set, its own figures are served at /metrics on that port.

    \b
    Example:
      facetrove collector ingest --data-dir ./data --broker mqtt://collector:PW@mqtt.lan:1883
      facetrove collector ingest --shared-group ingest --client-id facetrove-ingest-2 \
        --config c.yaml
    """
    from facetrove.collector.ingest.metrics import serve_ingest_metrics
    from facetrove.collector.ingest.worker import IngestWorker
    from facetrove.collector.store.reserve import data_reserve

    config = load(
        config_path,
        data_dir=data_dir,
        **{
            "broker.url": broker_url,
            "ingest.shared_group": shared_group,
            "ingest.client_id": client_id,
        },
    )
    setup_logging(verbose)
    worker = IngestWorker(config)
    config.data_dir.mkdir(parents=True, exist_ok=True)
    data_reserve(config.data_dir).ensure()  # room for `prune` on a disk that fills up
    metrics = serve_ingest_metrics(config, worker)
    try:
        worker.run(stop_on_signals())
    except (OSError, StoreError) as exc:
        raise click.ClickException(f"cannot use the store in {config.data_dir}: {exc}") from None
    finally:
        if metrics is not None:
            metrics.close()


COMMANDS: list[click.Command] = [ingest_cmd]
