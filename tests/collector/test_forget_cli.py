"""`collector forget` as an outside audit tried it (issue 14): dates at the ends of the calendar
with an offset, a misspelt device id with --before, and a device whose login still works (its
agent keeps sending while it is forgotten). Real store, real `device add` / `device revoke`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from facetrove.collector.cli import collector
from facetrove.collector.store import DB_NAME, connect


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(collector, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def data(tmp_path: Path) -> Path:
    code, _, err = run("device", "add", "kitchen-pi", "--data-dir", str(tmp_path / "data"))
    assert code == 0, err
    return tmp_path / "data"


def audit_entries(data: Path) -> int:
    db = connect(data / DB_NAME)
    try:
        row = db.conn.execute("SELECT COUNT(*) FROM audit WHERE action = 'device.forget'")
        return int(row.fetchone()[0])
    finally:
        db.close()


@pytest.mark.parametrize(
    "when", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "0001-01-01T00:30+00:45"]
)
def test_a_date_beyond_the_calendar_in_utc_is_one_error_line(data: Path, when: str) -> None:
    """Before: OverflowError and a traceback (the time in UTC falls outside year 1..9999)."""
    code, _, err = run(
        "forget", "--device", "kitchen-pi", "--before", when, "--data-dir", str(data)
    )
    assert code == 2, err
    assert "Traceback" not in err and "out of range" in err and "--before" in err, err
    assert audit_entries(data) == 0


def test_a_misspelt_device_is_refused_with_before_too(data: Path) -> None:
    """Before: `--before` made a typo a success (0 samples) with an audit entry."""
    code, out, err = run(
        "forget", "--device", "kitchen-p1", "--before", "2030-01-01", "--data-dir", str(data)
    )
    assert code == 1 and "no device 'kitchen-p1'" in err and out == "", (out, err)
    assert audit_entries(data) == 0


def test_a_device_whose_login_still_works_is_forgotten_with_a_warning(data: Path) -> None:
    """Its agent may still be sending: what it sends after the command is stored again, so the
    command says so and names `device revoke`; once revoked, no warning."""
    code, out, err = run("forget", "--device", "kitchen-pi", "--data-dir", str(data))
    assert code == 0 and json.loads(out)["device"] == "kitchen-pi", err
    assert "kitchen-pi can still log in" in err and "device revoke kitchen-pi" in err, err
    code, _, err = run("device", "revoke", "kitchen-pi", "--data-dir", str(data))
    assert code == 0, err
    code, out, err = run("forget", "--device", "kitchen-pi", "--data-dir", str(data))
    assert code == 0 and json.loads(out)["samples"] == 0 and "warning" not in err, err
