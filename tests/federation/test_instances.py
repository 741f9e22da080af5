"""Single use of a login's state holds across instances that share Redis."""

from __future__ import annotations

from pathlib import Path

from authgate.secretstrength import generate_secret
from tests.federation.conftest import AppFactory, MockProvider, authorize, google_settings, start
from tests.scaleout.infra import REDIS_URL, redis_prefix


async def test_state_replayed_on_another_instance_is_refused(
    oauth_app: AppFactory, oidc: MockProvider, tmp_path: Path
) -> None:
    with redis_prefix() as prefix:
        shared = {
            **google_settings(oidc),
            "jwt_access_secret": generate_secret(),
            "jwt_refresh_secret": generate_secret(),
            "redis_url": REDIS_URL,
            "redis_key_prefix": prefix,
        }
        _, first = await oauth_app(**shared, state_dir=tmp_path / "a")
        _, second = await oauth_app(**shared, state_dir=tmp_path / "b")
        started = await start(first, "google")
        cookie = first.cookies.get("oauth_state")
        callback = await authorize(started["authUrl"])
        assert (await first.get(callback)).status_code == 200
        second.cookies.set("oauth_state", cookie, path="/auth/oauth")
        replay = await second.get(callback)
        assert replay.status_code == 400
        assert replay.json()["error"] == "Invalid OAuth state"
