"""TOTP (RFC 6238) as a second factor, with the injected clock: enrolment, sign-in,
replay, lockout, recovery codes, amr/acr, and step-up (RFC 9470) for sensitive actions."""

from __future__ import annotations

import logging
import re
from typing import Any

import httpx
import pytest
from fastapi import Depends, FastAPI

from authgate.http.dependencies import require
from authgate.principal import Principal
from authgate.testing import FrozenClock
from tests.accounts.conftest import Enrolled, delivered, runtime_of
from tests.accounts.mailbox import Mailbox, key_of
from tests.accounts.test_verification import _claims
from tests.agents.test_agent_grants import delegate, make_agent
from tests.conftest import PASSWORD, bearer, login, register


async def _password_step(client: httpx.AsyncClient) -> str:
    response = await client.post(
        "/auth/login", json={"email": "ada@example.com", "password": PASSWORD}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["mfaRequired"] is True
    assert "accessToken" not in body
    return str(body["mfaToken"])


async def _second_step(client: httpx.AsyncClient, token: str, **code: str) -> httpx.Response:
    return await client.post("/auth/login/mfa", json={"mfaToken": token, **code})


async def test_sign_in_needs_the_code_and_says_so_in_amr_and_acr(
    app: FastAPI, client: httpx.AsyncClient, enrolled: Enrolled
) -> None:
    token = await _password_step(client)
    response = await _second_step(client, token, code=enrolled.code())
    assert response.status_code == 200, response.text
    claims = _claims(app, response.json()["accessToken"])
    assert claims["amr"] == ["otp", "pwd"]
    assert claims["acr"] == "aal2"
    refreshed = await client.post(
        "/auth/refresh", json={"refreshToken": response.json()["refreshToken"]}
    )
    assert _claims(app, refreshed.json()["accessToken"])["acr"] == "aal2"


async def test_the_secret_is_sealed_at_rest(
    app: FastAPI, client: httpx.AsyncClient, enrolled: Enrolled
) -> None:
    db = (runtime_of(app).settings.state_dir / "authgate.db").read_bytes()
    assert enrolled.totp.secret.encode() not in db
    assert enrolled.codes[0].encode() not in db


@pytest.mark.parametrize(
    "attack",
    [
        pytest.param("replayed-code", id="replayed-code"),
        pytest.param("old-code", id="code-from-two-steps-ago"),
        pytest.param("altered-challenge", id="altered-challenge"),
        pytest.param("expired-challenge", id="expired-challenge"),
        pytest.param("reused-challenge", id="reused-challenge"),
    ],
)
async def test_a_bad_second_step_is_refused(
    client: httpx.AsyncClient, enrolled: Enrolled, clock: FrozenClock, attack: str
) -> None:
    token = await _password_step(client)
    code = enrolled.code()
    if attack in ("replayed-code", "reused-challenge"):
        assert (await _second_step(client, token, code=code)).status_code == 200
        if attack == "replayed-code":
            token = await _password_step(client)
    elif attack == "old-code":
        code = enrolled.totp.at(int(clock()) - 60)
    elif attack == "altered-challenge":
        token = token[:-1] + ("A" if token[-1] != "A" else "B")
    else:
        clock.advance(301)
        code = enrolled.code()
    response = await _second_step(client, token, code=code)
    assert response.status_code == 401
    assert "accessToken" not in response.text


async def test_repeated_wrong_codes_lock_the_second_factor(
    app: FastAPI, client: httpx.AsyncClient, enrolled: Enrolled, clock: FrozenClock
) -> None:
    token = await _password_step(client)
    limit = runtime_of(app).settings.mfa_max_failures
    for _ in range(limit):
        assert (await _second_step(client, token, code="123456")).status_code in (401,)
    locked = await _second_step(client, token, code=enrolled.code())
    assert locked.status_code == 429
    assert int(locked.headers["retry-after"]) > 0
    clock.advance(runtime_of(app).settings.mfa_lockout + 1)
    fresh = await _password_step(client)
    assert (await _second_step(client, fresh, code=enrolled.code())).status_code == 200


async def test_a_recovery_code_works_once(client: httpx.AsyncClient, enrolled: Enrolled) -> None:
    code = enrolled.codes[0]
    first = await _second_step(client, await _password_step(client), recoveryCode=code)
    assert first.status_code == 200
    again = await _second_step(client, await _password_step(client), recoveryCode=code)
    assert again.status_code == 401
    other = await _second_step(
        client, await _password_step(client), recoveryCode=enrolled.codes[1].upper()
    )
    assert other.status_code == 200


async def _signed_in(client: httpx.AsyncClient, enrolled: Enrolled) -> dict[str, Any]:
    response = await _second_step(client, await _password_step(client), code=enrolled.code())
    assert response.status_code == 200
    return dict(response.json())


async def test_turning_mfa_off_needs_a_recent_second_factor(
    client: httpx.AsyncClient, enrolled: Enrolled, clock: FrozenClock
) -> None:
    pair = await _signed_in(client, enrolled)
    clock.advance(11 * 60)  # past the 10-minute window
    auth = bearer(pair["accessToken"])
    stale = await client.delete("/auth/mfa/totp", headers=auth)
    assert stale.status_code == 401
    challenge = stale.headers["www-authenticate"]
    assert 'error="insufficient_user_authentication"' in challenge
    assert 'max_age="600"' in challenge
    stepped = await client.post("/auth/mfa/verify", json={"code": enrolled.code()}, headers=auth)
    assert stepped.status_code == 200, stepped.text
    fresh = bearer(stepped.json()["accessToken"])
    assert (await client.delete("/auth/mfa/totp", headers=fresh)).status_code == 200
    clock.advance(30)
    plain = await client.post(
        "/auth/login", json={"email": "ada@example.com", "password": PASSWORD}
    )
    assert "accessToken" in plain.json()


async def test_without_a_second_factor_the_token_is_aal1(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client)
    pair = await login(client)
    claims = _claims(app, pair["accessToken"])
    assert (claims["amr"], claims["acr"]) == (["pwd"], "aal1")


async def test_delegating_vault_access_needs_a_recent_second_factor(
    app: FastAPI, client: httpx.AsyncClient, enrolled: Enrolled, clock: FrozenClock
) -> None:
    agent = await make_agent(app, scopes=["use_agent", "vault:github"])
    pair = await _signed_in(client, enrolled)
    plain = await delegate(client, agent, pair["accessToken"], scope="use_agent")
    assert plain.status_code == 200, plain.text
    clock.advance(11 * 60)
    stale = await delegate(client, agent, pair["accessToken"], scope="vault:github")
    assert stale.status_code == 400
    assert stale.json()["error"] == "invalid_grant"
    auth = bearer(pair["accessToken"])
    stepped = await client.post("/auth/mfa/verify", json={"code": enrolled.code()}, headers=auth)
    fresh = await delegate(client, agent, stepped.json()["accessToken"], scope="vault:github")
    assert fresh.status_code == 200, fresh.text


async def test_require_mfa_and_max_age_refuse_weak_or_old_authentication(
    app: FastAPI, client: httpx.AsyncClient, enrolled: Enrolled, clock: FrozenClock
) -> None:
    """RFC 9470: require(mfa=True, max_age=...) answers 401 insufficient_user_authentication."""

    async def needs_mfa(p: Principal = Depends(require(mfa=True, max_age=300))) -> Any:
        return {"acr": p.acr}

    app.add_api_route("/needs-mfa", needs_mfa)
    strong = (await _signed_in(client, enrolled))["accessToken"]
    assert (await client.get("/needs-mfa", headers=bearer(strong))).json() == {"acr": "aal2"}
    await register(client, "bob@example.com")
    weak = (await login(client, "bob@example.com"))["accessToken"]
    for token in (weak, strong):
        if token is strong:
            clock.advance(301)
        refused = await client.get("/needs-mfa", headers=bearer(token))
        assert refused.status_code == 401
        assert "insufficient_user_authentication" in refused.headers["www-authenticate"]


async def test_links_codes_and_secrets_never_reach_the_logs(
    app: FastAPI,
    client: httpx.AsyncClient,
    mailbox: Mailbox,
    enrolled: Enrolled,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Canary: every secret of the lifecycle, searched for in every log line."""
    caplog.set_level(logging.DEBUG)
    seen = [enrolled.totp.secret, *enrolled.codes]
    code = enrolled.code()
    seen.append(code)
    step = await client.post("/auth/login", json={"email": "ada@example.com", "password": PASSWORD})
    seen.append(step.json()["mfaToken"])
    await client.post("/auth/login/mfa", json={"mfaToken": step.json()["mfaToken"], "code": code})
    await client.post("/auth/password/forgot", json={"email": "ada@example.com"})
    await delivered(app)
    reset_key = key_of(mailbox.last_link("ada@example.com"))
    verification = mailbox.messages[0].get_body(preferencelist=("plain",))
    match = re.search(r"\?key=([A-Za-z0-9_-]+)", verification.get_content())
    assert match is not None
    verify_key = match.group(1)
    seen += [reset_key, verify_key]
    await client.post("/auth/password/reset", json={"token": reset_key, "password": "x" * 20})
    await client.post("/auth/email/verify", json={"token": verify_key})
    logged = caplog.text
    assert [s for s in seen if s in logged] == []
