"""The review queue in real headless Chromium: keys, undo, the detail view, the dashboard,
folder labels, images from a relative data folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from facetrove.collector.config import load_config
from facetrove.collector.store.blobs import BlobStore
from facetrove.collector.store.db import DB_NAME, connect
from facetrove.collector.store.users import create_user
from tests.collector.web.browser_support import Keys, live, page, serving, shot
from tests.collector.web.conftest import PASSWORD
from tests.collector.web.factory import insert_samples, real_faces, sample_rows

pytestmark = [pytest.mark.browser, pytest.mark.slow]
__all__ = ["live", "page"]  # fixtures, imported for their names


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
