"""The queue page, the detail view and the review API through Flask's test client."""

from __future__ import annotations

import re


def test_queue_page_shows_a_leased_page_of_real_crops(client, auth, samples):
    auth.login()
    html = client.get("/review").get_data(as_text=True)
    ids = re.findall(r'data-id="([0-9A-Z]{26})"', html)
    assert len(ids) == 24 and len(set(ids)) == 24
    assert "60</strong> pending" in html
    crop = re.search(r'src="(/media/[0-9a-f]{64}\.jpg)"', html)
    assert crop
    img = client.get(crop.group(1))
    assert img.status_code == 200 and img.data[:3] == b"\xff\xd8\xff"
    assert "immutable" in img.headers["Cache-Control"]
    for n, cls in enumerate(["angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"], 1):
        assert f"<kbd>{n}</kbd> {cls}" in html


def test_queue_page_reports_bad_filters_and_missing_images(client, auth, samples):
    auth.login()
    html = client.get("/review?min_conf=abc").get_data(as_text=True)
    assert "min_conf must be a number" in html
    assert client.get("/media/" + "a" * 64 + ".jpg").status_code == 404
    assert client.get("/media/notahash.jpg").status_code == 404


def test_api_page_decide_undo_round_trip(client, auth, samples):
    auth.login()
    page = client.get("/api/samples?status=pending").get_json()
    cards = page["samples"]
    assert len(cards) == 24 and page["classes"][0] == "angry"
    decisions = [
        {"sample_id": c["id"], "action": "label", "label": c["prelabel"]} for c in cards[:-1]
    ] + [{"sample_id": cards[-1]["id"], "action": "reject"}]
    resp = client.post("/api/decisions", json={"decisions": decisions}, headers=auth.headers())
    assert resp.status_code == 200 and resp.get_json()["saved"] == 24
    dash = client.get("/api/dashboard").get_json()
    assert dash["states"] == {"pending": 36, "confirmed": 23, "rejected": 1}
    assert dash["prelabel_accuracy"]["overall"] == 1.0
    undone = client.post("/api/undo", headers=auth.headers()).get_json()["undone"]
    assert sorted(undone) == sorted(c["id"] for c in cards)
    assert client.get("/api/dashboard").get_json()["states"]["pending"] == 60
    # The undone samples come back on the reviewer's next page.
    again = client.get("/api/samples").get_json()["samples"]
    assert {c["id"] for c in again} == {c["id"] for c in cards}


def test_api_rejects_malformed_decisions(client, auth, samples):
    """Tried: not JSON, empty list, bad label type, unknown sample. Kept: no decisions."""
    auth.login()
    h = auth.headers()
    assert client.post("/api/decisions", data="x", headers=h).status_code == 400
    assert client.post("/api/decisions", json={"decisions": []}, headers=h).status_code == 400
    bad = {"decisions": [{"sample_id": samples[0]["id"], "label": 3}]}
    assert client.post("/api/decisions", json=bad, headers=h).status_code == 400
    unknown = {"decisions": [{"sample_id": "nope", "label": "happy"}]}
    resp = client.post("/api/decisions", json=unknown, headers=h)
    assert resp.status_code == 404 and "unknown sample" in resp.get_json()["error"]
    assert client.get("/api/dashboard").get_json()["states"]["pending"] == 60


def test_detail_view_shows_frame_box_probabilities_track_and_history(client, auth, samples):
    auth.login()
    s = samples[5]
    client.post(f"/review/sample/{s['id']}", data={"label": "sad", "csrf_token": auth.token})
    html = client.get(f"/review/sample/{s['id']}").get_data(as_text=True)
    assert 'class="facebox"' in html and f"/media/{s['frame_sha256']}.jpg" in html
    assert html.count('<div class="prob ') == 7
    assert "<td>alice</td>" in html
    assert re.search(r"<td>(correct|confirm)</td><td>sad</td>", html)
    track_mates = [r for r in samples if r["track_id"] == s["track_id"] and r["id"] != s["id"]]
    mates_same_device = [r for r in track_mates if r["device_id"] == s["device_id"]]
    assert f"Same track ({len(mates_same_device)} other samples)" in html
    data = client.get(f"/api/samples/{s['id']}").get_json()
    assert data["state"] == "confirmed" and data["label"] == "sad"
    assert data["frame"]["box"][2] > data["frame"]["box"][0]
    assert client.get("/review/sample/nope").status_code == 404


def test_classes_api_admin_only_and_recorded(client, auth, store):
    auth.login("bob")
    assert (
        client.post("/api/classes", json={"name": "x"}, headers=auth.headers()).status_code == 403
    )
    auth.logout()
    auth.login("alice")
    h = auth.headers()
    resp = client.post("/api/classes", json={"name": "contempt"}, headers=h)
    assert resp.status_code == 201 and resp.get_json()["classes"][-1] == "contempt"
    resp = client.put("/api/classes/contempt", json={"name": "scorn"}, headers=h)
    assert resp.get_json()["classes"][-1] == "scorn"
    assert client.post("/api/classes", json={"name": "happy"}, headers=h).status_code == 400
    assert client.get("/api/classes").get_json()["aliases"] == {"contempt": "scorn"}


def test_logout_releases_leases(client, auth, store, samples):
    auth.login()
    client.get("/review")
    assert store.execute("SELECT COUNT(*) FROM leases").fetchone()[0] == 24
    auth.logout()
    assert store.execute("SELECT COUNT(*) FROM leases").fetchone()[0] == 0
    assert client.get("/review").status_code == 302
