"""Hostile cases against the app served by waitress, spoken to by real HTTP clients in threads:
password guessing, a replayed cookie after logout, simultaneous version creation, a framed page,
missing pages, simultaneous zip downloads."""

from __future__ import annotations

import io
import json
import urllib.error
import urllib.request
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from facetrove.collector.store.db import DB_NAME, connect
from tests.collector.web.conftest import PASSWORD
from tests.collector.web.test_browser import serving
from tests.collector.web.test_first_run import Browser

pytestmark = pytest.mark.slow


def _status(call: Any) -> int:
    try:
        resp = call()
        resp.read()
        return int(resp.status)
    except urllib.error.HTTPError as exc:
        exc.read()
        return int(exc.code)


def _post_login(client: Browser, username: str, password: str) -> int:
    """One login attempt through the real form; the final status (302 followed -> 200)."""
    import re
    import urllib.parse

    html = client.get("/auth/login").read().decode()
    token = re.search(r'name="csrf-token" content="([^"]+)"', html)
    assert token
    data = urllib.parse.urlencode(
        {"username": username, "password": password, "csrf_token": token.group(1)}
    ).encode()
    return _status(lambda: client.opener.open(client.url + "/auth/login", data=data, timeout=10))


@pytest.fixture
def live(config, store) -> Any:  # type: ignore[no-untyped-def]
    with serving(config) as url:
        yield url


def _failures(config: Any) -> list[tuple[str, str]]:
    db = connect(Path(config.data_dir) / DB_NAME)
    try:
        return db.execute(
            "SELECT target, detail FROM audit WHERE action = 'login.failed'"
        ).fetchall()
    finally:
        db.conn.close()


def test_password_guessing_is_throttled_per_account_and_audited(live, config):
    guesses = [Browser(live) for _ in range(12)]
    with ThreadPoolExecutor(6) as pool:
        codes = list(
            pool.map(lambda b: _post_login(b[1], "alice", f"guess-{b[0]}"), enumerate(guesses))
        )
    assert codes.count(401) == 5, codes
    assert codes.count(429) == 7, codes
    # The right password is refused too while the account is paused.
    assert _post_login(Browser(live), "alice", PASSWORD) == 429
    failed = _failures(config)
    assert len(failed) == 5 and all(t == "alice" and "127.0.0.1" in d for t, d in failed)
    # Another account from the same address still logs in (the address limit is higher).
    assert _post_login(Browser(live), "bob", PASSWORD) == 200


def test_guessing_many_accounts_from_one_address_is_throttled(live, config):
    client = Browser(live)
    codes = [_post_login(client, f"user{i}", "wrong-password") for i in range(22)]
    assert codes[:20] == [401] * 20 and codes[20:] == [429, 429], codes
    assert len(_failures(config)) == 20


def test_admins_see_failed_logins_on_the_dashboard(live, config):
    _post_login(Browser(live), "alice", "not-it")
    admin = Browser(live)
    assert _post_login(admin, "alice", PASSWORD) == 200
    page = admin.get("/dashboard").read().decode()
    assert "Failed logins" in page and "127.0.0.1" in page
    reviewer = Browser(live)
    assert _post_login(reviewer, "bob", PASSWORD) == 200
    assert "Failed logins" not in reviewer.get("/dashboard").read().decode()


def _cookie(client: Browser) -> str:
    jar = next(h for h in client.opener.handlers if hasattr(h, "cookiejar")).cookiejar
    return "; ".join(f"{c.name}={c.value}" for c in jar)


def _with_cookie(url: str, cookie: str) -> int:
    """GET with a replayed cookie and no redirects followed."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    req = urllib.request.Request(url, headers={"Cookie": cookie})
    return _status(lambda: opener.open(req, timeout=10))


def test_a_cookie_replayed_after_logout_or_password_change_is_refused(live, config):
    client = Browser(live)
    assert _post_login(client, "bob", PASSWORD) == 200
    cookie = _cookie(client)
    assert _with_cookie(live + "/review", cookie) == 200
    html = client.get("/review").read().decode()
    import re
    import urllib.parse

    token = re.search(r'name="csrf-token" content="([^"]+)"', html)
    assert token
    data = urllib.parse.urlencode({"csrf_token": token.group(1)}).encode()
    client.opener.open(live + "/auth/logout", data=data, timeout=10).read()
    assert _with_cookie(live + "/review", cookie) == 302  # to the login page

    from facetrove.collector.store.users import set_active, set_password

    other = Browser(live)
    assert _post_login(other, "bob", PASSWORD) == 200
    stolen = _cookie(other)
    db = connect(Path(config.data_dir) / DB_NAME)
    set_password(db, "bob", "a-new-password-1")
    assert _with_cookie(live + "/review", stolen) == 302
    third = Browser(live)
    assert _post_login(third, "bob", "a-new-password-1") == 200
    kept = _cookie(third)
    set_active(db, "bob", False)
    db.conn.close()
    assert _with_cookie(live + "/review", kept) == 302


def test_every_page_has_security_headers_and_missing_pages_are_the_apps_own(live):
    client = Browser(live)
    assert _post_login(client, "alice", PASSWORD) == 200
    for path in ("/auth/login", "/review", "/dashboard", "/upload", "/versions/", "/healthz"):
        headers = client.get(path).headers
        csp = headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in csp and "script-src 'self';" in csp, path
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["Referrer-Policy"] == "same-origin"
    with pytest.raises(urllib.error.HTTPError) as html_404:
        client.get("/versions/nope/export/coco.zip")
    body = html_404.value.read().decode()
    assert html_404.value.code == 404 and "facetrove" in body and "Werkzeug" not in body
    assert "no version" in body and "nope" in body, "the page names what is missing"
    assert "Content-Security-Policy" in html_404.value.headers
    with pytest.raises(urllib.error.HTTPError) as api_404:
        client.get("/api/nothing-here")
    assert api_404.value.code == 404
    assert "error" in json.loads(api_404.value.read())


def test_simultaneous_version_requests_get_a_clear_conflict(config, samples, store):
    store.execute("UPDATE samples SET state = 'confirmed', label = prelabel_label")
    token = _token(config)
    # Four builds allowed at once, so the name conflict (not web.jobs.max_builds) answers.
    jobs = config.web.jobs.model_copy(update={"max_builds": 4})
    config = config.model_copy(update={"web": config.web.model_copy(update={"jobs": jobs})})
    with serving(config) as live:
        _create_same_name_four_times(live, token)


def _create_same_name_four_times(live: str, token: str) -> None:
    recipe = "seed: 0\nsplit: {train: 0.8, valid: 0.2, test: 0.0}\n"

    def create(_: int) -> tuple[int, dict[str, Any]]:
        body = json.dumps({"recipe": recipe, "name": "same"}).encode()
        req = urllib.request.Request(
            live + "/api/versions", data=body, method="POST",
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )  # fmt: skip
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(create, range(4)))
    codes = sorted(code for code, _ in results)
    assert 500 not in codes, results
    assert codes.count(202) == 1, results
    assert codes == [202, 409, 409, 409], results  # a name in use is a conflict, not a 400
    assert all("same" in body["error"] for code, body in results if code != 202)


def _token(config: Any) -> str:
    from facetrove.collector.store.users import issue_token

    db = connect(Path(config.data_dir) / DB_NAME)
    try:
        return issue_token(db, "alice")
    finally:
        db.conn.close()


def test_six_simultaneous_downloads_of_one_export_get_the_same_whole_zip(
    live, config, samples, store, tmp_path
):
    store.execute("UPDATE samples SET state = 'confirmed', label = prelabel_label")
    token = _token(config)
    auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    body = json.dumps({"recipe": "seed: 0\nmultiplier: 1\n", "name": "zipme"}).encode()
    req = urllib.request.Request(live + "/api/versions", data=body, method="POST", headers=auth)
    assert urllib.request.urlopen(req, timeout=30).status == 202
    import time

    deadline = time.monotonic() + 120
    while True:
        req = urllib.request.Request(live + "/api/versions/zipme", headers=auth)
        status = json.loads(urllib.request.urlopen(req, timeout=10).read())["status"]
        if status != "building" or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert status == "ready"

    def download(_: int) -> tuple[int, bytes]:
        req = urllib.request.Request(live + "/versions/zipme/export/coco.zip", headers=auth)
        try:
            with urllib.request.urlopen(req, timeout=120) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(download, range(6)))
    assert [code for code, _ in results] == [200] * 6
    bodies = {data for _, data in results}
    assert len(bodies) == 1
    served = bodies.pop()
    # The same export made alone, afterwards: zips are reproducible, so the bytes must match.
    from facetrove.collector.export.registry import export_version

    alone = export_version(
        Path(config.data_dir) / "versions" / "zipme", "coco", tmp_path / "alone.zip", as_zip=True
    )
    assert served == alone.read_bytes()
    assert zipfile.ZipFile(io.BytesIO(served)).testzip() is None
    exports = Path(config.data_dir) / "exports"
    assert sorted(p.name for p in exports.iterdir()) == ["zipme-coco.zip"]


def _api_status(url: str, token: str) -> int:
    req = urllib.request.Request(
        url + "/api/versions", headers={"Authorization": f"Bearer {token}"}
    )
    return _status(lambda: urllib.request.urlopen(req, timeout=10))


def test_cli_disables_users_changes_passwords_and_revokes_tokens(live, config):
    from click.testing import CliRunner

    from facetrove.collector.cli import collector

    runner = CliRunner()
    d = ["--data-dir", str(config.data_dir)]
    token = runner.invoke(collector, ["user", "token", "bob", *d]).output.strip()
    assert _api_status(live, token) == 200
    assert runner.invoke(collector, ["user", "token", "--list", *d]).output.split() == ["bob"]
    out = runner.invoke(collector, ["user", "token", "bob", "--revoke", *d])
    assert out.exit_code == 0 and "revoked" in out.output
    assert _api_status(live, token) == 401
    assert runner.invoke(collector, ["user", "token", "--list", *d]).output == ""

    web = Browser(live)
    assert _post_login(web, "bob", PASSWORD) == 200
    cookie = _cookie(web)
    token = runner.invoke(collector, ["user", "token", "bob", *d]).output.strip()
    out = runner.invoke(collector, ["user", "disable", "bob", *d])
    assert out.exit_code == 0 and "disabled bob" in out.output
    assert _with_cookie(live + "/review", cookie) == 302
    assert _api_status(live, token) == 401
    assert _post_login(Browser(live), "bob", PASSWORD) == 401
    assert "(disabled)" in runner.invoke(collector, ["user", "list", *d]).output
    assert runner.invoke(collector, ["user", "enable", "bob", *d]).exit_code == 0
    short = runner.invoke(collector, ["user", "passwd", "bob", "--password-stdin", *d], input="x\n")
    assert short.exit_code == 1 and "at least 8" in short.output
    out = runner.invoke(
        collector, ["user", "passwd", "bob", "--password-stdin", *d], input="brand new secret\n"
    )
    assert out.exit_code == 0, out.output
    assert _post_login(Browser(live), "bob", "brand new secret") == 200
    missing = runner.invoke(collector, ["user", "disable", "nobody", *d])
    assert missing.exit_code == 1 and "no user named 'nobody'" in missing.output


def test_password_change_in_the_ui_ends_other_sessions(live):
    import re
    import urllib.parse

    elsewhere = Browser(live)
    assert _post_login(elsewhere, "bob", PASSWORD) == 200
    old_cookie = _cookie(elsewhere)
    me = Browser(live)
    assert _post_login(me, "bob", PASSWORD) == 200
    html = me.get("/auth/password").read().decode()
    token = re.search(r'name="csrf-token" content="([^"]+)"', html)
    assert token

    def change(current: str, new: str, confirm: str) -> tuple[int, str]:
        form = {"password": current, "new_password": new, "confirm": confirm}
        data = urllib.parse.urlencode({**form, "csrf_token": token.group(1)}).encode()
        try:
            resp = me.opener.open(live + "/auth/password", data=data, timeout=10)
            return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    assert change("wrong one!", "another secret", "another secret")[0] == 400
    code, body = change(PASSWORD, "another secret", "other secret")
    assert code == 400 and "differ" in body
    code, body = change(PASSWORD, "another secret", "another secret")
    assert code == 200 and "Password changed" in body
    assert _with_cookie(live + "/review", old_cookie) == 302
    assert _with_cookie(live + "/review", _cookie(me)) == 200
    assert _post_login(Browser(live), "bob", "another secret") == 200


def test_a_reviewer_walking_many_filters_holds_at_most_two_pages(config, store, samples):
    small = config.model_copy(update={"web": config.web.model_copy(update={"page_size": 4})})
    token = _token(config)
    held = []
    with serving(small) as url:
        for i in range(21):  # non-overlapping confidence windows, as in the report
            lo, hi = i / 21, (i + 1) / 21 - 1e-9
            req = urllib.request.Request(
                f"{url}/api/samples?min_conf={lo:.6f}&max_conf={hi:.6f}",
                headers={"Authorization": f"Bearer {token}"},
            )
            with urllib.request.urlopen(req, timeout=10) as resp:
                assert resp.status == 200
            count = store.execute("SELECT COUNT(*) FROM leases WHERE user_id = 1").fetchone()[0]
            held.append(count)
    assert max(held) <= 8, held
    pending = store.execute("SELECT COUNT(*) FROM samples WHERE state = 'pending'").fetchone()[0]
    assert pending >= 40  # enough samples that hoarding would have shown


@pytest.mark.browser
def test_pages_work_in_chromium_under_the_csp(config, store, samples):
    from tests.collector.web.test_browser import ARGS, CHROMIUM

    if not CHROMIUM.exists():
        pytest.skip("chromium missing (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    violations: list[str] = []
    with serving(config) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            page = browser.new_context().new_page()  # the CSP is enforced (no bypass)
            page.on(
                "console",
                lambda m: (
                    violations.append(m.text) if "Content Security Policy" in m.text else None
                ),
            )
            page.goto(url + "/auth/login")
            page.fill("input[name=username]", "alice")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_selector("#grid .card")
            page.keyboard.press("Enter")  # review.js runs: the page is saved
            page.wait_for_selector("#status.ok")
            for path in ("/dashboard", "/devices", "/upload", "/versions/new", "/auth/password"):
                page.goto(url + path)
                page.wait_for_load_state("load")
            page.goto(url + "/upload")
            before = page.url
            page.fill("#import-tag", "x")
            page.press("#import-tag", "Enter")  # the options form must not submit the page
            page.wait_for_timeout(500)
            assert page.url == before
        finally:
            browser.close()
    assert violations == []
    confirmed = store.execute("SELECT COUNT(*) FROM samples WHERE state = 'confirmed'").fetchone()
    assert confirmed[0] == 24


def test_api_refuses_hostile_class_names(client, auth, store):
    auth.login()
    for name in ["..", "\\..\\..\\evil", "CON", '=HYPERLINK("http://x")']:
        resp = client.post("/api/classes", json={"name": name}, headers=auth.headers())
        assert resp.status_code == 400, name
        assert "class name" in resp.get_json()["error"]
    assert store.execute("SELECT COUNT(*) FROM classes").fetchone()[0] == 7
