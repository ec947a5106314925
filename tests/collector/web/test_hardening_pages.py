"""Hostile cases against the app served by waitress, spoken to by real HTTP clients in threads:
simultaneous version creation and zip downloads, a framed page, missing pages, lease hoarding,
the CSP in Chromium, hostile class names."""

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

from tests.collector.web.browser_support import serving
from tests.collector.web.conftest import PASSWORD
from tests.collector.web.hostile_support import api_token, live, post_login
from tests.collector.web.test_first_run import Browser

pytestmark = pytest.mark.slow
__all__ = ["live"]  # the fixture, imported for its name


def test_every_page_has_security_headers_and_missing_pages_are_the_apps_own(live):
    client = Browser(live)
    assert post_login(client, "alice", PASSWORD) == 200
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
    token = api_token(config)
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


def test_six_simultaneous_downloads_of_one_export_get_the_same_whole_zip(
    live, config, samples, store, tmp_path
):
    store.execute("UPDATE samples SET state = 'confirmed', label = prelabel_label")
    token = api_token(config)
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


def test_a_reviewer_walking_many_filters_holds_at_most_two_pages(config, store, samples):
    small = config.model_copy(update={"web": config.web.model_copy(update={"page_size": 4})})
    token = api_token(config)
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
    from tests.collector.web.browser_support import ARGS, CHROMIUM

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
