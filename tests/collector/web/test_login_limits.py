"""The login throttle's limits come from the collector config (`web.login`), checked by pydantic:
a site behind one reverse-proxy address, or one that wants stricter limits, can set them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from facetrove.collector.config import CollectorConfig, ConfigError, load_config
from facetrove.collector.store.db import DB_NAME, connect
from facetrove.collector.store.users import create_user
from facetrove.collector.web import create_app
from tests.collector.web.conftest import PASSWORD, AuthActions


def _app(tmp_path: Path, login: dict[str, Any]) -> Any:
    config = CollectorConfig.model_validate(
        {"data_dir": str(tmp_path / "data"), "web": {"secret_key": "k" * 40, "login": login}}
    )
    db = connect(Path(config.data_dir) / DB_NAME)
    create_user(db, "alice", PASSWORD, "admin")
    create_user(db, "bob", PASSWORD, "reviewer")
    db.conn.close()
    return create_app(config, {"TESTING": True})


def test_configured_limits_apply_per_account_and_per_address(tmp_path: Path) -> None:
    """Tried: web.login with 2 failures per account, 3 per address, a 1-minute window. Before:
    the limits were constants (5 per account, 20 per address, 15 minutes) whatever the config.
    Kept: the third guess at alice is refused (429, Retry-After within the minute); bob's first
    wrong password is the address's third failure, and then his right one is refused too."""
    app = _app(
        tmp_path,
        {"max_failures_per_account": 2, "max_failures_per_address": 3, "window_minutes": 1},
    )
    auth = AuthActions(app.test_client())
    assert [auth.login("alice", "wrong").status_code for _ in range(2)] == [401, 401]
    refused = auth.login("alice", "wrong")
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 61
    assert "try again in about 1 minute" in refused.get_data(as_text=True)
    assert auth.login("bob", "wrong").status_code == 401
    assert auth.login("bob", PASSWORD).status_code == 429


def test_the_defaults_are_the_documented_ones(tmp_path: Path) -> None:
    login = CollectorConfig().web.login
    assert (login.max_failures_per_account, login.max_failures_per_address) == (5, 20)
    assert login.window_minutes == 15
    auth = AuthActions(_app(tmp_path, {}).test_client())
    assert [auth.login("alice", "wrong").status_code for _ in range(6)] == [401] * 5 + [429]


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("max_failures_per_account", 0, "greater than or equal to 1"),
        ("max_failures_per_address", "many", "valid integer"),
        ("window_minutes", 0, "greater than 0"),
        ("window_minutes", 2000, "less than or equal to 1440"),
        ("max_failure_per_account", 3, "unknown key"),
    ],
)
def test_bad_limits_are_refused_with_their_key_path(
    tmp_path: Path, key: str, value: object, message: str
) -> None:
    path = tmp_path / "collector.yaml"
    path.write_text(f"web:\n  login:\n    {key}: {value}\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert f"web.login.{key}" in str(err.value) and message in str(err.value), str(err.value)


def test_the_documented_example_loads_and_names_every_key() -> None:
    """docs/collector.md's throttle paragraph names each web.login key with its default, and
    its YAML example is a valid config."""
    import yaml

    from facetrove.collector.config.web import LoginConfig

    text = (Path(__file__).parents[3] / "docs" / "collector.md").read_text()
    section = text.split("- **Logins are throttled.**", 1)[1].split("\n- **", 1)[0]
    for name in LoginConfig.model_fields:
        assert f"`web.login.{name}`" in section, name
    snippet = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    loaded = CollectorConfig.model_validate(yaml.safe_load(snippet))
    assert loaded.web.login.max_failures_per_address == 200
