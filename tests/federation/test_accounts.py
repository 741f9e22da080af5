"""Account outcomes of a provider sign-in: UserInfo fallback, disabled users, closed
registration, and a discovery document that names another issuer."""

from __future__ import annotations

from sqlalchemy import update

from authgate.storage.models import User
from tests.conftest import PASSWORD
from tests.federation.conftest import AppFactory, MockProvider, google_settings, login


async def test_email_missing_from_id_token_comes_from_userinfo(
    oauth_app: AppFactory, oidc: MockProvider
) -> None:
    oidc.configure(
        idTokenClaims={"sub": "u-9", "email": None, "email_verified": None},
        userinfo={"sub": "u-9", "email": "info@example.com", "email_verified": True},
    )
    _, client = await oauth_app(**google_settings(oidc))
    response = await login(client, "google")
    assert response.status_code == 200, response.text
    assert response.json()["user"]["email"] == "info@example.com"


async def test_userinfo_about_another_subject_is_refused(
    oauth_app: AppFactory, oidc: MockProvider
) -> None:
    """OIDC Core s5.3.2: the UserInfo `sub` must be the ID token's."""
    oidc.configure(
        idTokenClaims={"sub": "u-9", "email": None},
        userinfo={"sub": "someone-else", "email": "victim@example.com", "email_verified": True},
    )
    app, client = await oauth_app(**google_settings(oidc))
    response = await login(client, "google")
    assert response.status_code == 400
    assert "(userinfo_sub)" in response.json()["message"]
    assert await app.state.authgate.store.list_users(limit=5, offset=0) == []


async def test_disabled_user_cannot_sign_in_with_a_provider(
    oauth_app: AppFactory, oidc: MockProvider
) -> None:
    oidc.configure(idTokenClaims={"sub": "u-1", "email": "off@example.com"})
    app, client = await oauth_app(**google_settings(oidc))
    user_id = (await login(client, "google")).json()["user"]["id"]
    async with app.state.authgate.store.engine.begin() as conn:
        await conn.execute(update(User).where(User.id == user_id).values(is_active=False))
    response = await login(client, "google")
    assert response.status_code == 403
    assert response.json()["error"] == "Account disabled"


async def test_closed_registration_links_but_does_not_create(
    oauth_app: AppFactory, oidc: MockProvider
) -> None:
    app, client = await oauth_app(**google_settings(oidc), registration_enabled=False)
    oidc.configure(idTokenClaims={"sub": "stranger", "email": "stranger@example.com"})
    refused = await login(client, "google")
    assert refused.status_code == 403
    assert "Max-Age=0" in refused.headers["set-cookie"]
    assert await app.state.authgate.store.list_users(limit=5, offset=0) == []
    users = app.state.authgate.users
    member = await users.create("member@example.com", PASSWORD, roles=["user"])
    await app.state.authgate.accounts.update_user(member.id, email_verified=True)
    oidc.configure(idTokenClaims={"sub": "member", "email": "member@example.com"})
    linked = await login(client, "google")
    assert linked.status_code == 200, linked.text
    assert linked.json()["user"]["email"] == "member@example.com"


async def test_discovery_naming_another_issuer_is_502(
    oauth_app: AppFactory, oidc: MockProvider
) -> None:
    """OIDC Discovery s4.3: the document's issuer must be the one it was fetched for."""
    _, client = await oauth_app(**{**google_settings(oidc), "google_issuer": oidc.issuer + "/"})
    response = await client.get("/auth/oauth/google")
    assert response.status_code == 502
    assert "another issuer" in response.json()["message"]
