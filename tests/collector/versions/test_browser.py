"""The versions pages in real headless Chromium against the app served by waitress: a bad recipe
is refused with its errors, the fixed one builds, the card shows, a zip export downloads."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pycocotools.coco import COCO

from facetrove.collector.config import CollectorConfig
from facetrove.collector.store.users import create_user
from tests.collector.versions.factory import FactoryStore
from tests.collector.web.browser_support import page, serving, shot
from tests.collector.web.conftest import PASSWORD

__all__ = ["page"]  # the Chromium fixture, shared with the web app's browser tests
pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def live(tmp_path: Path) -> Iterator[str]:
    store = FactoryStore(tmp_path / "data")
    store.add(40, tracks=12, devices=3)
    create_user(store.db, "alice", PASSWORD, "admin")
    config = CollectorConfig.model_validate(
        {"data_dir": str(store.data_dir), "web": {"secret_key": "test-" + "k" * 40}}
    )
    with serving(config) as url:
        yield url


def test_build_a_version_and_download_an_export(live: str, page: Any, tmp_path: Path) -> None:
    page.goto(live + "/versions/new")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.goto(live + "/versions/new")
    page.fill("textarea[name=recipe]", "split: {train: 0.9, valid: 0.2}\naugmentations: {warp: {}}")
    page.click("text=Build version")
    errors = page.inner_text("#recipe-errors")
    assert "split ratios must sum to 1" in errors and "warp: unknown augmentation" in errors
    assert "warp" in page.input_value("textarea[name=recipe]")  # the text is kept to fix
    page.fill(
        "textarea[name=recipe]",
        "classes: [angry, happy, neutral, sad, surprise]\n"
        "preprocess: {resize: {width: 224, height: 224, mode: fit}}\n"
        "augmentations: {flip: {}, brightness: {percent: 20}}\nmultiplier: 2\n",
    )
    page.fill("input[name=name]", "browser-1")
    page.click("text=Build version")
    page.wait_for_selector("text=Leakage report")
    assert "/versions/browser-1" in page.url
    shot(page, "versions-card", tmp_path, full_page=True)
    with page.expect_download() as info:
        page.click("text=coco (.zip)")
    target = tmp_path / "coco.zip"
    info.value.save_as(str(target))
    zipfile.ZipFile(target).extractall(tmp_path / "coco")
    coco = COCO(str(tmp_path / "coco" / "train" / "_annotations.coco.json"))
    assert len(coco.getImgIds()) > 0
    page.goto(live + "/versions/")
    assert "browser-1" in page.inner_text("table.versions")
    shot(page, "versions-list", tmp_path)
