"""The job registry's limits through the app served by waitress: parallel real HTTP requests
start more version builds and uploads than web.jobs allows; the extra ones are refused with a
clear 429 before they write anything, the accepted ones finish."""

from __future__ import annotations

import io
import json
import logging
import re
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from facetrove.collector.web.job_registry import JobFailed, JobRegistry, TooManyJobs
from tests.collector.importer.conftest import crop_bytes
from tests.collector.web.browser_support import serving
from tests.collector.web.conftest import PASSWORD
from tests.collector.web.hostile_support import api_token
from tests.collector.web.test_first_run import Browser

SLOW_RECIPE = (
    "seed: 0\nsplit: {train: 0.8, valid: 0.2, test: 0.0}\n"
    "preprocess:\n  resize: {width: 224, height: 224, mode: fit}\n"
    "augmentations:\n  rotation: {degrees: 10}\n  brightness: {percent: 20}\nmultiplier: 4\n"
)


def _call(url: str, token: str, data: bytes | None = None, ctype: str = "") -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    if ctype:
        headers["Content-Type"] = ctype
    req = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _until(check: Any, timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.3)


def _with_limits(config: Any, **limits: int) -> Any:
    jobs = config.web.jobs.model_copy(update=limits)
    return config.model_copy(update={"web": config.web.model_copy(update={"jobs": jobs})})


@pytest.mark.slow
def test_more_builds_than_the_limit_are_refused_and_leave_nothing(config, store, samples):
    store.execute("UPDATE samples SET state = 'confirmed', label = prelabel_label")
    store.conn.commit()
    token = api_token(config)
    data = Path(config.data_dir)
    with serving(_with_limits(config, max_builds=1)) as url:
        browser = Browser(url)
        browser.login("alice", PASSWORD)
        html = browser.get("/versions/new").read().decode()
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', html)
        assert csrf
        form = {"recipe": SLOW_RECIPE, "name": "html", "csrf_token": csrf.group(1)}

        def create(i: int) -> tuple[int, Any]:
            body = json.dumps({"recipe": SLOW_RECIPE, "name": f"v{i}"}).encode()
            return _call(url + "/api/versions", token, body, "application/json")

        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(create, range(4)))
        codes = [code for code, _ in results]
        assert sorted(set(codes)) == [202, 429], results
        accepted = [body["id"] for code, body in results if code == 202]
        refused = [f"v{i}" for i, (code, _) in enumerate(results) if code == 429]
        for code, body in results:
            if code == 429:
                assert body["error"].startswith("too many build jobs running"), body
                assert "try again" in body["error"]

        # The HTML form says the same on its page while that build runs (logged in beforehand).
        with pytest.raises(urllib.error.HTTPError) as page:
            browser.opener.open(url + "/versions/new", urllib.parse.urlencode(form).encode())
        assert page.value.code == 429
        assert "too many build jobs running" in page.value.read().decode()
        refused.append("html")

        def all_ready() -> bool:
            status = [_call(url + f"/api/versions/{v}", token)[1]["status"] for v in accepted]
            return all(s != "building" for s in status)

        assert _until(all_ready)
        for v in accepted:
            assert _call(url + f"/api/versions/{v}", token)[1]["status"] == "ready"
        for name in refused:
            assert _call(url + f"/api/versions/{name}", token)[0] == 404
            assert not (data / "versions" / name).exists()
        # Once the build is done, the next one is accepted.
        body = json.dumps({"recipe": SLOW_RECIPE, "name": "after"}).encode()
        assert _call(url + "/api/versions", token, body, "application/json")[0] == 202
        assert _until(lambda: _call(url + "/api/versions/after", token)[1]["status"] == "ready")


def _multipart(zip_bytes: bytes) -> tuple[bytes, str]:
    boundary = "facetrove-test-boundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="f.zip"\r\n'
            "Content-Type: application/zip\r\n\r\n"
        ).encode()
        + zip_bytes
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


@pytest.mark.slow
def test_more_uploads_than_the_limit_are_refused_and_leave_nothing(config, store):
    token = api_token(config)
    uploads = Path(config.data_dir) / "uploads"

    def upload(i: int) -> tuple[int, Any]:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            for n in range(3):
                zf.writestr(f"happy/{i}-{n}.png", crop_bytes(size=48 + i * 3 + n))
        body, ctype = _multipart(buf.getvalue())
        return _call(url + "/api/uploads", token, body, ctype)

    with serving(_with_limits(config, max_uploads=2)) as url:
        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(upload, range(4)))
        codes = [code for code, _ in results]
        assert sorted(set(codes)) == [202, 429] and codes.count(202) <= 2, results
        for code, body in results:
            if code == 429:
                assert body["error"].startswith("too many upload jobs running"), body
        accepted = [body["id"] for code, body in results if code == 202]

        def finished() -> bool:
            jobs = [_call(url + f"/api/uploads/{j}", token)[1] for j in accepted]
            return all(j["status"] in ("done", "failed") for j in jobs)

        assert _until(finished)
        for job_id in accepted:
            job = _call(url + f"/api/uploads/{job_id}", token)[1]
            assert job["status"] == "done" and job["imported"] == 3, job
        listed = {j["id"] for j in _call(url + "/api/uploads", token)[1]["jobs"]}
        assert listed == set(accepted)
    assert not uploads.exists() or not any(uploads.iterdir()), list(uploads.iterdir())
    imported = store.execute("SELECT COUNT(*) FROM samples").fetchone()[0]
    assert imported == 3 * len(accepted)


def test_registry_limits_kinds_apart_and_keeps_a_bounded_history():
    reg = JobRegistry({"builds": 1, "uploads": 2}, history=3)
    held = reg.reserve("builds")
    with pytest.raises(TooManyJobs, match="too many build jobs running"):
        reg.reserve("builds")
    reg.reserve("uploads")  # another kind has its own limit
    reg.cancel(held)
    reg.submit("builds", lambda: None)
    reg.wait(10)

    def boom() -> None:
        raise ValueError("disk full\nsecond line")

    failed = reg.submit("builds", boom)
    reg.wait(10)
    assert failed.status == "failed" and failed.error == "disk full"
    for _ in range(5):
        reg.submit("builds", lambda: None)
        reg.wait(10)
    finished = [j for j in reg.all() if j.status in ("done", "failed")]
    assert len(finished) == 3
    assert [j.kind for j in reg.all() if j.status == "queued"] == ["uploads"]


def test_docs_jobs_section_matches_the_config():
    """docs/collector.md's web.jobs table lists every key with its default; its YAML loads."""
    import yaml

    from facetrove.collector.config import CollectorConfig
    from facetrove.collector.config.web import JobsConfig

    text = (Path(__file__).parents[3] / "docs" / "collector.md").read_text()
    section = text.split("### Background jobs (`web.jobs`)", 1)[1].split("\n## ", 1)[0]
    for name, field in JobsConfig.model_fields.items():
        assert f"| `web.jobs.{name}` | `{field.default}` |" in section, name
    snippet = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    loaded = CollectorConfig.model_validate(yaml.safe_load(snippet))
    assert loaded.web.jobs == JobsConfig()


def test_a_refused_job_logs_one_line_and_a_crash_its_traceback(caplog):
    """Tried: uploads refused with a clear message (a 300-character entry name, a zip of
    too-large entries) logged ERROR with a RuntimeError traceback each; a user's refused input is
    one WARNING line, a real crash keeps its traceback."""

    reg = JobRegistry({"uploads": 1})
    caplog.set_level(logging.INFO, logger="facetrove.collector.web.job_registry")

    def refused() -> None:
        raise JobFailed("upload.zip: no images found; set aside: 1 name-too-long")

    job = reg.submit("uploads", refused)
    reg.wait(10)
    assert job.status == "failed" and job.error.startswith("upload.zip: no images found")
    (record,) = caplog.records
    assert record.levelno == logging.WARNING and record.exc_info is None
    assert "name-too-long" in record.getMessage()
    caplog.clear()

    def crash() -> None:
        raise KeyError("bug")

    reg.submit("uploads", crash)
    reg.wait(10)
    (record,) = caplog.records
    assert record.levelno == logging.ERROR and record.exc_info is not None
