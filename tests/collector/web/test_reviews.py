"""Decisions, derived state, consensus, undo, leases and classes on a real SQLite store."""

from __future__ import annotations

from typing import Any

import pytest

from facetrove.collector.store import classes, queue, reviews
from facetrove.collector.store.users import find_user
from tests.collector.web.factory import insert_samples, sample_rows


def _state(db: Any, sid: str) -> tuple[str, str | None]:
    row = db.execute("SELECT state, label FROM samples WHERE id = ?", [sid]).fetchone()
    return row[0], row[1]


def test_decision_rows_derive_state_and_undo_takes_back_a_whole_batch(store, samples):
    alice = find_user(store, "alice").id
    a, b, c = (s["id"] for s in samples[:3])
    reviews.decide(
        store, alice, [reviews.DecisionIn(a, "label", "happy"), reviews.DecisionIn(b, "reject")]
    )
    reviews.decide(store, alice, [reviews.DecisionIn(c, "label", "sad")])
    assert _state(store, a) == ("confirmed", "happy")
    assert _state(store, b) == ("rejected", None)
    assert reviews.undo_last(store, alice) == [c]
    assert _state(store, c) == ("pending", None)
    assert sorted(reviews.undo_last(store, alice)) == sorted([a, b])
    assert _state(store, a) == ("pending", None)
    assert reviews.undo_last(store, alice) == []
    actions = [r[0] for r in store.execute("SELECT action FROM decisions ORDER BY id")]
    # Nothing is deleted: the undo rows sit beside the decisions they cancel.
    assert actions.count("undo") == 3 and len(actions) == 6
    assert (
        store.execute("SELECT COUNT(*) FROM audit WHERE action LIKE 'decision.%'").fetchone()[0]
        == 5
    )


def test_confirm_or_correct_depends_on_the_prelabel(store, samples):
    alice = find_user(store, "alice").id
    s = samples[0]
    other = next(c for c in classes.class_names(store) if c != s["prelabel_label"])
    reviews.decide(store, alice, [reviews.DecisionIn(s["id"], "label", s["prelabel_label"])])
    reviews.decide(store, alice, [reviews.DecisionIn(s["id"], "label", other)])
    rows = store.execute("SELECT action, label FROM decisions ORDER BY id").fetchall()
    assert rows == [("confirm", s["prelabel_label"]), ("correct", other)]
    assert _state(store, s["id"]) == ("confirmed", other)


def test_bad_decisions_are_refused_and_nothing_is_written(store, samples):
    """Tried: unknown class, unknown action, unknown sample in a batch. Kept: no decision rows."""
    alice = find_user(store, "alice").id
    sid = samples[0]["id"]
    with pytest.raises(reviews.ReviewError, match="unknown class"):
        reviews.decide(store, alice, [reviews.DecisionIn(sid, "label", "<b>bold</b>")])
    with pytest.raises(reviews.ReviewError, match="action"):
        reviews.decide(store, alice, [reviews.DecisionIn(sid, "delete")])
    with pytest.raises(reviews.UnknownSample):
        reviews.decide(
            store,
            alice,
            [
                reviews.DecisionIn(sid, "label", "happy"),
                reviews.DecisionIn("nope", "label", "happy"),
            ],
        )
    assert store.execute("SELECT COUNT(*) FROM decisions").fetchone()[0] == 0
    assert _state(store, sid) == ("pending", None)


def test_consensus_needs_k_agreeing_reviewers(store, samples):
    alice, bob = find_user(store, "alice").id, find_user(store, "bob").id
    sid = samples[0]["id"]
    reviews.decide(store, alice, [reviews.DecisionIn(sid, "label", "happy")], k=2)
    assert _state(store, sid) == ("pending", None)
    reviews.decide(store, bob, [reviews.DecisionIn(sid, "label", "sad")], k=2)
    assert _state(store, sid) == ("pending", None)
    reviews.decide(store, bob, [reviews.DecisionIn(sid, "label", "happy")], k=2)
    assert _state(store, sid) == ("confirmed", "happy")
    reviews.undo_last(store, bob, k=2)
    # bob's earlier "sad" vote is live again: no agreement.
    assert _state(store, sid) == ("pending", None)


def test_derive_rules():
    assert reviews.derive([], 1) == ("pending", None, None)
    votes = [(1, 10, "confirm", "happy", "t1"), (2, 11, "reject", None, "t2")]
    assert reviews.derive(votes, 1) == ("rejected", None, "t2")
    assert reviews.derive(votes, 2) == ("pending", None, None)
    same_user = [(1, 10, "confirm", "happy", "t1"), (2, 10, "confirm", "happy", "t2")]
    assert reviews.derive(same_user, 2) == ("pending", None, None)


def test_two_reviewers_never_get_the_same_page(store, samples):
    alice, bob = find_user(store, "alice").id, find_user(store, "bob").id
    flt = queue.QueueFilter()
    pa = queue.lease_page(store, alice, flt, page_size=24)
    pb = queue.lease_page(store, bob, flt, page_size=24)
    ids_a, ids_b = {s["id"] for s in pa.samples}, {s["id"] for s in pb.samples}
    assert len(ids_a) == 24 and len(ids_b) == 24 and not ids_a & ids_b
    # A reload gives alice the same page back.
    assert {s["id"] for s in queue.lease_page(store, alice, flt, 24).samples} == ids_a
    # Expired leases are free again.
    store.execute("UPDATE leases SET expires_at = '2000-01-01' WHERE user_id = ?", [alice])
    pb2 = queue.lease_page(store, bob, flt, page_size=60)
    assert ids_a <= {s["id"] for s in pb2.samples}


def test_priority_puts_low_confidence_lacking_classes_and_disagreeing_tracks_first(store, faces):
    rows = sample_rows(faces, 40, labels=("happy",))
    for i, r in enumerate(rows):
        r["prelabel_confidence"] = 0.9
        r["track_id"] = 1000 + i  # one sample per track: no disagreement
    rows[5]["prelabel_confidence"] = 0.3  # uncertain
    rows[6]["prelabel_label"] = "fear"  # a class the dataset lacks
    rows[7]["track_id"] = rows[8]["track_id"] = 77  # a track whose pre-labels disagree
    rows[8]["device_id"] = rows[7]["device_id"]
    rows[8]["prelabel_label"] = "sad"
    insert_samples(store, rows)
    alice = find_user(store, "alice").id
    happy = [reviews.DecisionIn(r["id"], "label", "happy") for r in rows[20:40]]
    reviews.decide(store, alice, happy)  # the dataset now has 20 happy, 0 of the rest
    page = queue.lease_page(store, alice, queue.QueueFilter(), page_size=20)
    top = [s["id"] for s in page.samples]
    # score = uncertainty + 0.5 x class need + 0.3 if the track disagrees:
    # rows[8] 0.1+0.5+0.3, rows[5] 0.7, rows[6] 0.1+0.5, rows[7] 0.1+0.3, the rest 0.1.
    assert top[:4] == [rows[i]["id"] for i in (8, 5, 6, 7)]


def test_queue_filters(store, samples):
    alice = find_user(store, "alice").id
    flt = queue.QueueFilter(device="cam-lobby", prelabel="happy", min_conf=0.3, max_conf=0.95)
    page = queue.lease_page(store, alice, flt, 100)
    expected = {
        s["id"]
        for s in samples
        if s["device_id"] == "cam-lobby"
        and s["prelabel_label"] == "happy"
        and 0.3 <= s["prelabel_confidence"] <= 0.95
    }
    assert {s["id"] for s in page.samples} == expected and expected
    with pytest.raises(reviews.ReviewError):
        queue.lease_page(store, alice, queue.QueueFilter(status="weird"), 10)


def test_classes_add_and_rename_are_recorded(store, samples):
    alice = find_user(store, "alice").id
    s = next(r for r in samples if r["prelabel_label"] == "angry")
    reviews.decide(store, alice, [reviews.DecisionIn(s["id"], "label", "angry")])
    classes.add_class(store, "contempt", alice)
    classes.rename_class(store, "angry", "anger", alice)
    names = classes.class_names(store)
    assert names[0] == "anger" and names[-1] == "contempt" and "angry" not in names
    assert _state(store, s["id"]) == ("confirmed", "anger")
    assert classes.class_aliases(store) == {"angry": "anger"}
    with pytest.raises(reviews.ReviewError, match="already exists"):
        classes.add_class(store, "happy", alice)
    with pytest.raises(reviews.ReviewError, match="no active class"):
        classes.rename_class(store, "angry", "x", alice)
    audit = store.execute("SELECT action, target FROM audit WHERE action LIKE 'class.%'").fetchall()
    assert audit == [("class.add", "contempt"), ("class.rename", "angry")]
