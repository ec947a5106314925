"""Login on every route, CSRF on every state change, bearer tokens, escaping of device data."""

from __future__ import annotations

import re

import pytest

from facetrove.collector.store import users
from tests.collector.web.conftest import PASSWORD, csrf_token
from tests.collector.web.factory import insert_samples, sample_rows

# /metrics has its own guard (token, or loopback clients only): test_metrics_access.py.
PUBLIC = {"auth.login", "healthz", "static", "metrics.metrics"}


def _concrete(rule) -> str:  # type: ignore[no-untyped-def]
    """A URL for a rule, with made-up values for its variables."""
    path = rule.rule
    for name in rule.arguments:
        value = "0" * 64 if name == "sha256" else "x"
        path = re.sub(rf"<(?:[^:>]+:)?{name}>", value, path)
    return path


def test_every_route_refuses_a_visitor_who_is_not_logged_in(app, client):
    checked = 0
    for rule in app.url_map.iter_rules():
        if rule.endpoint in PUBLIC:
            continue
        url = _concrete(rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            resp = client.open(url, method=method)
            checked += 1
            if url.startswith(("/api/", "/device/")):  # /device/: a device's own login (Basic)
                assert resp.status_code in (400, 401), (method, url, resp.status_code)
            else:
                # Pages send visitors to the login form (or refuse an unsafe request).
                assert resp.status_code in (302, 400), (method, url, resp.status_code)
                if resp.status_code == 302:
                    assert "/auth/login" in resp.headers["Location"], (method, url)
    assert checked > 20


def test_health_check_and_login_page_are_public(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    assert client.get("/auth/login").status_code == 200


def test_wrong_password_is_refused_without_saying_which_part(client, auth):
    resp = auth.login("alice", "wrong password!")
    assert resp.status_code == 401
    assert "Wrong username or password" in resp.get_data(as_text=True)
    assert auth.login("nobody", PASSWORD).status_code == 401
    assert client.get("/review").status_code == 302


def test_login_form_without_csrf_token_is_refused(client):
    client.get("/auth/login")
    resp = client.post("/auth/login", data={"username": "alice", "password": PASSWORD})
    assert resp.status_code == 400
    assert client.get("/review").status_code == 302  # still logged out


def test_api_post_without_csrf_token_is_refused(client, auth, samples):
    """Tried: a session POST without the X-CSRFToken header. Kept: no decision is stored."""
    auth.login()
    body = {"decisions": [{"sample_id": samples[0]["id"], "action": "label", "label": "happy"}]}
    resp = client.post("/api/decisions", json=body)
    assert resp.status_code == 400 and "CSRF" in resp.get_json()["error"]
    resp = client.post("/api/decisions", json=body, headers={"X-CSRFToken": "forged"})
    assert resp.status_code == 400
    detail = client.get(f"/api/samples/{samples[0]['id']}").get_json()
    assert detail["state"] == "pending" and detail["history"] == []
    assert client.post("/api/decisions", json=body, headers=auth.headers()).status_code == 200


def test_form_post_without_csrf_token_is_refused(client, auth, samples):
    auth.login()
    sid = samples[0]["id"]
    resp = client.post(f"/review/sample/{sid}", data={"label": "happy"})
    assert resp.status_code == 400
    assert client.get(f"/api/samples/{sid}").get_json()["state"] == "pending"
    resp = client.post("/auth/logout")
    assert resp.status_code == 400
    assert client.get("/review").status_code == 200  # still logged in


def test_bearer_token_works_without_csrf_and_a_bad_token_does_not(client, store, samples):
    token = users.issue_token(store, "bob")
    bearer = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/me", headers=bearer).get_json()["username"] == "bob"
    body = {"decisions": [{"sample_id": samples[0]["id"], "action": "reject"}]}
    resp = client.post("/api/decisions", json=body, headers=bearer)
    assert resp.status_code == 200 and resp.get_json()["states"] == {samples[0]["id"]: "rejected"}
    assert "facetrove_session" not in resp.headers.get("Set-Cookie", "")
    bad = {"Authorization": "Bearer ft_" + "A" * 43}
    assert client.get("/api/me", headers=bad).status_code == 401
    assert client.post("/api/decisions", json=body, headers=bad).status_code in (400, 401)
    # A reviewer's token cannot do admin things.
    assert client.post("/api/classes", json={"name": "x"}, headers=bearer).status_code == 403
    # A new token replaces the old one.
    users.issue_token(store, "bob")
    assert client.get("/api/me", headers=bearer).status_code == 401


def test_session_cookie_is_httponly_and_samesite(client, auth):
    auth.login()
    cookie = client.get_cookie("facetrove_session")
    assert cookie is not None and cookie.http_only and cookie.same_site == "Lax"


def test_login_does_not_redirect_off_site(client):
    token = csrf_token(client)
    resp = client.post(
        "/auth/login?next=https://evil.example/",
        data={"username": "alice", "password": PASSWORD, "csrf_token": token},
    )
    assert resp.status_code == 302 and resp.headers["Location"] == "/review"


@pytest.mark.parametrize("page", ["/review", "/devices/", "/dashboard/", "detail"])
def test_html_from_devices_is_shown_escaped(client, auth, store, faces, page):
    """A device id, provided label and stats field holding markup are shown as text."""
    evil = "<script>alert(1)</script>"
    rows = sample_rows(faces, 3, devices=("cam-ok",))
    for r in rows:
        r["device_id"] = evil
        r["provided_label"] = evil
        r["source"] = evil
    rows[0]["state"] = "confirmed"
    rows[0]["label"] = evil
    insert_samples(store, rows)
    store.execute(
        "UPDATE devices SET stats = ? WHERE id = ?",
        ['{"drops": {"<img src=x onerror=alert(2)>": 3}, "model_id": "<b>m</b>"}', evil],
    )
    auth.login()
    url = f"/review/sample/{rows[1]['id']}" if page == "detail" else page
    html = client.get(url).get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert "<img src=x" not in html and "<b>m</b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
