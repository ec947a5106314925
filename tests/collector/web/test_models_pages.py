"""The Models pages and the dashboard's accuracy per model: real store, real model folders, the
real forms with their CSRF token; the publisher records what would go to the broker (the e2e
test tests/collector/test_rollout_e2e.py uses a real one)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from facetrove import wire
from facetrove.collector.identity.passwords import hash_password
from facetrove.collector.store import device_logins, reviews
from facetrove.collector.store import models as registry
from facetrove.collector.store.db import now_iso
from facetrove.collector.store.users import find_user
from tests.collector.model_helpers import model_folder


def _setup(config: Any, store: Any) -> Path:
    data = Path(config.data_dir)
    for name in ("emo-1", "emo-2"):
        model_folder(data, name)
    (data / "models" / "emo-1" / "confusion-v1 test-new.png").write_bytes(b"\x89PNG fake")
    device_logins.add_login(store, "cam-a", hash_password("pw", 1000), now_iso())
    return data


def test_list_report_compare_and_a_confirmed_canary(client, auth, store, config, publisher):
    _setup(config, store)
    assert client.get("/models/").status_code == 302  # login first
    auth.login()
    page = client.get("/models/").get_data(as_text=True)
    assert "emo-1" in page and "emo-2" in page and "candidate" in page and "80.0%" in page
    assert "/models/bundled" in page and "deployed" in page  # the shipped model is listed too
    bundled = client.get("/models/bundled").get_data(as_text=True)
    assert "shipped with facetrove" in bundled and "Roll out" in bundled
    show = client.get("/models/emo-1").get_data(as_text=True)
    assert "confusion-v1 test-new.png" in show
    assert client.get("/models/emo-1/confusion-v1 test-new.png").status_code == 200
    assert client.get("/models/emo-1/card.json").status_code == 404  # only the pictures
    assert client.get("/models/emo-1/..%2Fcard.json").status_code == 404
    assert client.get("/models/nope").status_code == 404
    cmp = client.get("/models/compare?a=emo-1&b=emo-2").get_data(as_text=True)
    assert "emo-1" in cmp and "emo-2" in cmp and "+0.0" in cmp

    form = {"csrf_token": auth.token, "target": "devices", "devices": "cam-a", "action": "rollout"}
    sure = client.post("/models/emo-2/rollout", data=form).get_data(as_text=True)
    assert "Are you sure?" in sure and publisher.sent == []  # nothing happens before "yes"
    assert registry.get(store, "emo-2").status == "candidate"
    resp = client.post("/models/emo-2/rollout", data={**form, "confirm": "yes"})
    assert resp.status_code == 302
    topic, payload, qos, retain = publisher.sent[-1]
    assert topic == wire.topic("cam-a", wire.Kind.MODEL) and retain and qos == 1
    assert json.loads(payload)["model_id"] == "emo-2"
    assert registry.get(store, "emo-2").status == "canary"
    # No CSRF token: refused, nothing published.
    n = len(publisher.sent)
    bad = client.post("/models/emo-1/rollout", data={**form, "csrf_token": "", "confirm": "yes"})
    assert bad.status_code in (400, 403) and len(publisher.sent) == n


def test_a_reviewer_sees_models_but_cannot_roll_out(client, auth, store, config, publisher):
    _setup(config, store)
    auth.login("bob")
    assert client.get("/models/emo-1").status_code == 200
    form = {"csrf_token": auth.token, "target": "all", "confirm": "yes"}
    assert client.post("/models/emo-1/rollout", data=form).status_code == 403
    assert publisher.sent == []


def test_dashboard_shows_prelabel_accuracy_per_model(client, auth, store, samples):
    # Half the samples were pre-labelled by a new model: it is right on all of them.
    new = samples[:20]
    store.execute(
        "UPDATE samples SET prelabel_model_id = 'emo-ft', prelabel_label = 'happy' WHERE id IN "
        f"({','.join('?' * len(new))})",
        [s["id"] for s in new],
    )
    old = samples[20:40]
    alice = find_user(store, "alice").id
    reviews.decide(store, alice, [reviews.DecisionIn(s["id"], "label", "happy") for s in new + old])
    auth.login()
    rows = client.get("/api/dashboard").get_json()["prelabel_accuracy_by_model"]
    by_model: dict[str, list[int]] = {}
    for r in rows:
        cell = by_model.setdefault(r["model"], [0, 0])
        cell[0] += round(r["accuracy"] * r["reviewed"])
        cell[1] += r["reviewed"]
    assert by_model["emo-ft"] == [20, 20]
    old_right = sum(1 for s in old if s["prelabel_label"] == "happy")
    assert by_model["emotion-mini-xception"] == [old_right, 20]
    html = client.get("/dashboard/").get_data(as_text=True)
    assert "Pre-label accuracy per model" in html and "emo-ft" in html


def test_train_from_a_version_page_as_a_background_job(app, client, auth, store, config):
    from tests.collector.train.helpers import need_train_extra, store_with_version

    need_train_extra()
    factory = store_with_version(Path(config.data_dir), n=30, name="v1")
    auth.login()
    page = client.get("/versions/v1").get_data(as_text=True)
    assert 'action="/models/train"' in page
    form = {"csrf_token": auth.token, "version": "v1", "name": "web-1", "epochs": "1"}
    for bad, message in [({"name": "Bad Name!"}, "is not allowed"),
                         ({"epochs": "0"}, "from 1 to 1000"),
                         ({"version": "nope"}, None)]:  # fmt: skip
        resp = client.post("/models/train", data={**form, **bad}, follow_redirects=True)
        if message is None:
            assert resp.status_code == 404
        else:
            assert message in resp.get_data(as_text=True)
    resp = client.post("/models/train", data=form)
    assert resp.status_code == 302 and "/models/jobs/" in resp.location
    running = client.get(resp.location).get_data(as_text=True)
    assert "Training web-1" in running
    app.extensions["facetrove.train_jobs"].wait(600)
    done = client.get(resp.location).get_data(as_text=True)
    assert "done" in done and "epoch 1/1" in done, done
    assert registry.get(store, "web-1").status == "candidate"
    report = client.get("/models/web-1").get_data(as_text=True)
    assert "v1 test" in report and "confusion-" in report
    factory.db.close()


def test_the_bundled_row_shows_its_figures(client, auth, store, config, samples):
    """The bundled model has no report of its own: the list and its page show what the reports
    of models trained against it measured for it, and every model's pre-labels as reviewed
    (by the file's sha256: samples tagged emotion_mini_xception or bundled are one model)."""
    from facetrove import models

    data = _setup(config, store)
    card = data / "models" / "emo-1" / "card.json"
    emo1 = json.loads(card.read_text())
    emo1["compared_with"] = {"id": "bundled", "reason": "the bundled model: no model is deployed"}
    emo1["metrics"]["v1 test"]["baseline"] = {"top1": 0.625, "macro_f1": 0.5, "n": 8}
    card.write_text(json.dumps(emo1))
    shipped = hashlib.sha256(models.path(models.EMOTION_ONNX).read_bytes()).hexdigest()
    alice = find_user(store, "alice").id
    decided = []
    for ids, model_id, right in ((samples[:10], "emotion_mini_xception", 5),
                                 (samples[10:20], "bundled", 4)):  # fmt: skip
        store.execute(
            f"UPDATE samples SET prelabel_model_id = ?, prelabel_model_sha256 = ?,"
            f" prelabel_label = 'happy' WHERE id IN ({','.join('?' * len(ids))})",
            [model_id, shipped, *[s["id"] for s in ids]],
        )
        decided += [reviews.DecisionIn(s["id"], "label", "happy" if i < right else "sad")
                    for i, s in enumerate(ids)]  # fmt: skip
    reviews.decide(store, alice, decided)
    auth.login()
    page = client.get("/models/").get_data(as_text=True)
    row = page[page.index('href="/models/bundled"') :].split("</tr>")[0]
    assert "62.5%" in row and "emo-1" in row, row  # measured in emo-1's report
    assert "45.0% of 20" in row, row  # 9 of 20 reviewed pre-labels right
    show = client.get("/models/bundled").get_data(as_text=True)
    assert "62.5%" in show and "v1 test" in show and "emo-1" in show
    assert "45.0%" in show and "20 reviewed" in show
