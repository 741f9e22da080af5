"""422 bodies name only fields the schema knows (issue 19 item 12).

Unknown members are refused (``extra="forbid"``), but their names are the client's text:
a 422 that repeats them reflects attacker-chosen strings (markup, fake messages, tokens)
into logs and consoles. The same goes for dictionary keys and for messages that quote
the value (``email-validator`` names the characters it refused).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import PASSWORD
from tests.helpers import create_admin

EMAIL = "ada@example.com"
CANARY = "<script>alert('x')</script>"


def details(response: httpx.Response) -> list[dict[str, str]]:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "Invalid request"
    return list(body["details"])


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"email": EMAIL, "password": PASSWORD, CANARY: 1}, id="markup-name"),
        pytest.param(
            {"email": EMAIL, "password": PASSWORD, "Your account is locked, call": 1},
            id="message-as-name",
        ),
        pytest.param(
            {"email": EMAIL, "password": PASSWORD, "eyJhbGciOiJIUzI1NiJ9.e30.x": 1},
            id="token-as-name",
        ),
        pytest.param({CANARY: {CANARY: [CANARY]}}, id="unknown-only"),
    ],
)
@pytest.mark.parametrize("path", ["/auth/login", "/auth/register"])
async def test_unknown_field_names_are_not_echoed(
    client: httpx.AsyncClient, path: str, body: dict[str, Any]
) -> None:
    response = await client.post(path, json=body)
    for name in body:
        if name not in ("email", "password"):
            assert name not in response.text
    assert "script" not in response.text
    assert {"field": "", "issue": "Unknown field"} in details(response)


async def test_values_quoted_by_the_email_check_are_not_echoed(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/auth/register", json={"email": f"{CANARY}@example.com", "password": PASSWORD}
    )
    assert "script" not in response.text
    assert details(response) == [{"field": "email", "issue": "value is not a valid email address"}]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(
            {"email": EMAIL}, [{"field": "password", "issue": "Field required"}], id="missing"
        ),
        pytest.param(
            {"email": EMAIL, "password": "x" * 5000},
            [{"field": "password", "issue": "String should have at most 4096 characters"}],
            id="too-long",
        ),
        pytest.param(
            {"email": EMAIL, "password": PASSWORD, "useCookies": [True]},
            [{"field": "useCookies", "issue": "Input should be a valid boolean"}],
            id="wrong-type",
        ),
    ],
)
async def test_known_fields_are_still_named_with_the_reason(
    client: httpx.AsyncClient, body: dict[str, Any], expected: list[dict[str, str]]
) -> None:
    assert details(await client.post("/auth/login", json=body)) == expected


async def test_query_parameters_are_named(app: Any, client: httpx.AsyncClient) -> None:
    admin = await create_admin(app, client)
    response = await client.get(
        "/api/admin/users",
        params={"limit": CANARY, CANARY: "1"},
        headers={"Authorization": f"Bearer {admin['accessToken']}"},
    )
    assert "script" not in response.text
    assert details(response) == [
        {
            "field": "limit",
            "issue": "Input should be a valid integer, unable to parse string as an integer",
        }
    ]
