"""One built version shared by the export tests (building is the slow part)."""

from __future__ import annotations

from typing import Any

import pytest

from facetrove.collector.versions.build import BuiltVersion, create_version
from tests.collector.versions.factory import FactoryStore


@pytest.fixture(scope="package")
def plain(tmp_path_factory: pytest.TempPathFactory) -> tuple[FactoryStore, BuiltVersion]:
    """60 confirmed samples (plus pending ones that must stay out), no preprocessing."""
    store = FactoryStore(tmp_path_factory.mktemp("store"))
    store.add(60, tracks=20, devices=3)
    store.add(10, tracks=3, state="pending", seed=1)
    version = create_version(store.data_dir, store.db, "seed: 1\n", progress=False)
    return store, version


def expected(plain: tuple[FactoryStore, BuiltVersion]) -> dict[str, dict[str, Any]]:
    """Store truth per sample id of the version: split, label and the box in stored-frame
    pixels (frames are stored downscaled; boxes are in original-frame pixels)."""
    store, version = plain
    rows = store.db.query(
        "select s.*, v.split from samples s join version_samples v on v.sample_id = s.id"
        " where v.version_id = ?",
        [version.id],
    )
    out = {}
    for r in rows:
        sx = r["frame_image_width"] / r["frame_width"]
        sy = r["frame_image_height"] / r["frame_height"]
        box = (r["box_xmin"] * sx, r["box_ymin"] * sy, r["box_xmax"] * sx, r["box_ymax"] * sy)
        out[r["id"]] = {"split": r["split"], "label": r["label"], "box": box}
    return out
