"""Hostile logins against the app served by waitress, spoken to by real HTTP clients in threads:
password guessing (throttled, audited), a replayed cookie after logout, a password change or a
disable, revoked tokens."""

from __future__ import annotations

import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from facetrove.collector.store.db import DB_NAME, connect
from tests.collector.web.conftest import PASSWORD
from tests.collector.web.hostile_support import live, post_login, status_of
from tests.collector.web.test_first_run import Browser

pytestmark = pytest.mark.slow
__all__ = ["live"]  # the fixture, imported for its name


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
            pool.map(lambda b: post_login(b[1], "alice", f"guess-{b[0]}"), enumerate(guesses))
        )
    assert codes.count(401) == 5, codes
    assert codes.count(429) == 7, codes
    # The right password is refused too while the account is paused.
    assert post_login(Browser(live), "alice", PASSWORD) == 429
    failed = _failures(config)
    assert len(failed) == 5 and all(t == "alice" and "127.0.0.1" in d for t, d in failed)
    # Another account from the same address still logs in (the address limit is higher).
    assert post_login(Browser(live), "bob", PASSWORD) == 200


def test_guessing_many_accounts_from_one_address_is_throttled(live, config):
    client = Browser(live)
    codes = [post_login(client, f"user{i}", "wrong-password") for i in range(22)]
    assert codes[:20] == [401] * 20 and codes[20:] == [429, 429], codes
    assert len(_failures(config)) == 20


def test_admins_see_failed_logins_on_the_dashboard(live, config):
    post_login(Browser(live), "alice", "not-it")
    admin = Browser(live)
    assert post_login(admin, "alice", PASSWORD) == 200
    page = admin.get("/dashboard").read().decode()
    assert "Failed logins" in page and "127.0.0.1" in page
    reviewer = Browser(live)
    assert post_login(reviewer, "bob", PASSWORD) == 200
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
    return status_of(lambda: opener.open(req, timeout=10))


def test_a_cookie_replayed_after_logout_or_password_change_is_refused(live, config):
    client = Browser(live)
    assert post_login(client, "bob", PASSWORD) == 200
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
    assert post_login(other, "bob", PASSWORD) == 200
    stolen = _cookie(other)
    db = connect(Path(config.data_dir) / DB_NAME)
    set_password(db, "bob", "a-new-password-1")
    assert _with_cookie(live + "/review", stolen) == 302
    third = Browser(live)
    assert post_login(third, "bob", "a-new-password-1") == 200
    kept = _cookie(third)
    set_active(db, "bob", False)
    db.conn.close()
    assert _with_cookie(live + "/review", kept) == 302


def _api_status(url: str, token: str) -> int:
    req = urllib.request.Request(
        url + "/api/versions", headers={"Authorization": f"Bearer {token}"}
    )
    return status_of(lambda: urllib.request.urlopen(req, timeout=10))


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
    assert post_login(web, "bob", PASSWORD) == 200
    cookie = _cookie(web)
    token = runner.invoke(collector, ["user", "token", "bob", *d]).output.strip()
    out = runner.invoke(collector, ["user", "disable", "bob", *d])
    assert out.exit_code == 0 and "disabled bob" in out.output
    assert _with_cookie(live + "/review", cookie) == 302
    assert _api_status(live, token) == 401
    assert post_login(Browser(live), "bob", PASSWORD) == 401
    assert "(disabled)" in runner.invoke(collector, ["user", "list", *d]).output
    assert runner.invoke(collector, ["user", "enable", "bob", *d]).exit_code == 0
    short = runner.invoke(collector, ["user", "passwd", "bob", "--password-stdin", *d], input="x\n")
    assert short.exit_code == 1 and "at least 8" in short.output
    out = runner.invoke(
        collector, ["user", "passwd", "bob", "--password-stdin", *d], input="brand new secret\n"
    )
    assert out.exit_code == 0, out.output
    assert post_login(Browser(live), "bob", "brand new secret") == 200
    missing = runner.invoke(collector, ["user", "disable", "nobody", *d])
    assert missing.exit_code == 1 and "no user named 'nobody'" in missing.output


def test_password_change_in_the_ui_ends_other_sessions(live):
    import re
    import urllib.parse

    elsewhere = Browser(live)
    assert post_login(elsewhere, "bob", PASSWORD) == 200
    old_cookie = _cookie(elsewhere)
    me = Browser(live)
    assert post_login(me, "bob", PASSWORD) == 200
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
    assert post_login(Browser(live), "bob", "another secret") == 200
