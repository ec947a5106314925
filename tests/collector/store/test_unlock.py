"""An admin can unlock an account that failed logins locked (an attacker's lockout of a user).

Tried: five failed logins for one account on a real SQLite store, then the sixth refused; then
`set_password` (what `collector user passwd` does) or `set_active(..., True)` (`user enable`).
Kept: the account can try again at once; another account's failures stay.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from facetrove.collector.store import connect
from facetrove.collector.store.sessions import Throttle, TooManyFailures, begin_attempt
from facetrove.collector.store.users import create_user, set_active, set_password


@pytest.mark.parametrize("unlock", ["passwd", "enable"])
def test_an_admin_unlocks_a_locked_account(tmp_path: Path, unlock: str) -> None:
    db = connect(tmp_path / "facetrove.db")
    create_user(db, "alice", "correct horse battery", "reviewer")
    limits = Throttle(per_account=5, per_address=100, window_s=900)
    for i in range(5):
        begin_attempt(db, "alice", f"10.0.0.{i}", limits)
        begin_attempt(db, "bob", f"10.0.1.{i}", limits)
    with pytest.raises(TooManyFailures):
        begin_attempt(db, "alice", "10.0.0.9", limits)
    if unlock == "passwd":
        set_password(db, "alice", "another long passphrase")
    else:
        set_active(db, "alice", True)
    begin_attempt(db, "alice", "10.0.0.9", limits)  # allowed again
    with pytest.raises(TooManyFailures):
        begin_attempt(db, "bob", "10.0.1.9", limits)
    db.close()
