"""One built version shared by the export tests (building is the slow part)."""

from __future__ import annotations

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
