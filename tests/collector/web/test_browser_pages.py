"""The other pages in real headless Chromium: devices (with its "are you sure"), upload, the
new-version form and the dashboard's charts with a long device name."""

from __future__ import annotations

import pytest

from tests.collector.web.browser_support import live, page, serving, shot
from tests.collector.web.conftest import PASSWORD
from tests.collector.web.factory import insert_samples, sample_rows

pytestmark = [pytest.mark.browser, pytest.mark.slow]
__all__ = ["live", "page"]  # fixtures, imported for their names


def test_devices_and_upload_pages_render(live, page, store, tmp_path):
    import json

    stats = {
        "fps": 14.7,
        "outbox_depth": 2,
        "drops": {"blur": 31, "small_face": 9},
        "model_id": "emotion-mini-xception@1",
        "at": "2026-11-24T12:00:00+00:00",
    }
    store.execute("UPDATE devices SET stats = ?", [json.dumps(stats)])
    store.execute("UPDATE devices SET state = 'offline' WHERE id = 'cam-lobby'")
    page.goto(live + "/auth/login")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.goto(live + "/devices/")
    assert "cam-kitchen" in page.inner_text("table.devices")
    shot(page, "devices", tmp_path)
    page.goto(live + "/upload/")
    page.wait_for_selector("#jobs")
    shot(page, "upload", tmp_path)


def test_recipe_box_button_and_long_device_names_are_laid_out(config, store, faces, page):
    """Tried: the new-version page (the recipe box was ~180 px wide, "Build version" looked
    disabled) and a dashboard with a 31-character device name (cut off on the left)."""
    long_name = "cam-warehouse-north-entrance-02"
    insert_samples(store, sample_rows(faces, 6, devices=(long_name, "cam-a")))
    with serving(config) as url:
        page.goto(url + "/auth/login")
        page.fill("input[name=username]", "alice")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.goto(url + "/versions/new")
        box = page.locator("textarea[name=recipe]").bounding_box()
        form = page.locator("form.config-form").bounding_box()
        assert box and form and box["width"] > 0.9 * (form["width"] - 60), (box, form)
        button = page.locator("form.config-form button")
        color = button.evaluate("b => getComputedStyle(b).backgroundColor")
        assert button.is_enabled() and color == "rgb(37, 99, 235)", color
        page.goto(url + "/dashboard/")
        label = page.locator("svg text.lbl", has_text=long_name)
        assert label.count() == 1
        left = label.evaluate("t => t.getBBox().x")
        assert left >= 0, left
        for text in page.locator("svg text.lbl").all():  # every chart's labels fit
            assert text.evaluate("t => t.getBBox().x") >= 0, text.inner_text()


def test_pausing_a_device_asks_first(config, store, faces, page):
    """Tried: Pause on the devices page. Cancel in the "are you sure" leaves it running; OK
    pauses it."""
    insert_samples(store, sample_rows(faces, 2, devices=("cam-door",)))
    with serving(config) as url:
        page.goto(url + "/auth/login")
        page.fill("input[name=username]", "alice")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.goto(url + "/devices/")
        asked: list[str] = []
        page.once("dialog", lambda d: (asked.append(d.message), d.dismiss()))
        page.click("text=Pause")
        page.wait_for_timeout(500)
        assert asked and "cam-door" in asked[0]
        assert page.locator("button", has_text="Resume").count() == 0
        page.once("dialog", lambda d: d.accept())
        page.click("text=Pause")
        page.wait_for_selector("button:has-text('Resume')")
