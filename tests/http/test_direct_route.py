"""``POST /auth/refresh`` answers as FastAPI would, without FastAPI's request handler.

The route is a ``DirectRoute`` (http/direct_route.py): its handler reads and validates
the body itself. Differential: the same requests go to it and to a twin route that
FastAPI runs the usual way (same endpoint, same JSON check), and the answers must be
equal: status, body, and, for validation errors, every error's type, location and
message (a handler on the test app returns them whole).
"""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Body, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, StringConstraints

from authgate.http.app import create_app
from authgate.http.direct_route import DirectRoute, read_json_body
from authgate.http.routes.auth import json_only, refresh
from authgate.testing import client_for, lifespan, make_settings
from tests.conftest import PASSWORD

TWIN = "/auth/refresh-as-fastapi-runs-it"
JSON = "application/json"


async def _all_errors(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [{"type": e["type"], "loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()]
    return JSONResponse({"validation": errors}, status_code=422)


@pytest.fixture
async def twins(settings_factory: Any) -> AsyncIterator[httpx.AsyncClient]:
    app: FastAPI = create_app(settings_factory(rate_limit_enabled=False))
    app.add_api_route(TWIN, refresh, methods=["POST"], dependencies=[Depends(json_only)])
    app.add_exception_handler(RequestValidationError, _all_errors)
    async with lifespan(app), client_for(app) as client:
        yield client


async def _both(
    client: httpx.AsyncClient, content: bytes, headers: dict[str, str]
) -> tuple[httpx.Response, httpx.Response]:
    direct = await client.post("/auth/refresh", content=content, headers=headers)
    twin = await client.post(TWIN, content=content, headers=headers)
    return direct, twin


def _same(direct: httpx.Response, twin: httpx.Response) -> None:
    assert direct.status_code == twin.status_code, (direct.text, twin.text)
    assert direct.headers.get("content-type") == twin.headers.get("content-type")
    assert direct.content == twin.content


async def test_the_route_is_direct_and_documented(twins: httpx.AsyncClient, tmp_path: Path) -> None:
    schema = (await twins.get("/openapi.json")).json()
    operation = schema["paths"]["/auth/refresh"]["post"]
    assert operation["tags"] == ["auth"]
    body = operation["requestBody"]["content"][JSON]["schema"]
    assert "RefreshRequest" in json.dumps(body)
    app = create_app(make_settings(tmp_path, rate_limit_enabled=False))
    routes = [r for r in app.router.routes if getattr(r, "path", "") == "/auth/refresh"]
    assert [type(r) for r in routes] == [DirectRoute]


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        pytest.param(b"", JSON, id="empty"),
        pytest.param(b"{}", JSON, id="empty-object"),
        pytest.param(b"null", JSON, id="null"),
        pytest.param(b"[]", JSON, id="list"),
        pytest.param(b'"eyJ"', JSON, id="string"),
        pytest.param(b"7", JSON, id="number"),
        pytest.param(b"{", JSON, id="truncated"),
        pytest.param(b'{"refreshToken": "a"} x', JSON, id="trailing"),
        pytest.param(b"\xff\xfe{\x00", JSON, id="not-utf8"),
        pytest.param(b'{"refreshToken": 1}', JSON, id="token-not-string"),
        pytest.param(b'{"refreshToken": ""}', JSON, id="token-empty"),
        pytest.param(b'{"refreshToken": "' + b"a" * 20000 + b'"}', JSON, id="token-long"),
        pytest.param(b'{"refreshToken": "not.a.token"}', JSON, id="token-invalid"),
        pytest.param(b'{"useCookies": "maybe"}', JSON, id="cookies-not-bool"),
        pytest.param(b'{"refreshToken": "a", "<b>": 1}', JSON, id="unknown-field"),
        pytest.param(b'{"refreshToken": null, "useCookies": true}', JSON, id="no-token"),
        pytest.param(b'{"refreshToken": "a"}', "application/merge-patch+json", id="plus-json"),
        pytest.param(b'{"refreshToken": "a"}', "application/json; charset=utf-8", id="charset"),
        pytest.param(b'{"refreshToken": "a"}', "APPLICATION/JSON", id="upper-case"),
        pytest.param(b'{"refreshToken": "a"}', "text/x+json", id="text-plus-json"),
        pytest.param(b'{"refreshToken": "a"}', "text/plain", id="text-plain"),
        pytest.param(b'{"refreshToken": "a"}', "application/x-www-form-urlencoded", id="form"),
        pytest.param(b'{"refreshToken": "a"}', "", id="no-type"),
        pytest.param(b"[" * 100 + b"]" * 100, JSON, id="too-deep"),
    ],
)
async def test_same_answer_as_fastapi(
    twins: httpx.AsyncClient, content: bytes, content_type: str
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    direct, twin = await _both(twins, content, headers)
    _same(direct, twin)
    assert direct.status_code in (400, 401, 415, 422)


def _value(rng: random.Random, depth: int = 0) -> Any:
    kinds = ["null", "bool", "int", "float", "str", "list", "object"]
    kind = rng.choice(kinds if depth < 3 else kinds[:5])
    if kind == "null":
        return None
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "int":
        return rng.randint(-(2**40), 2**40)
    if kind == "float":
        return rng.uniform(-1e6, 1e6)
    if kind == "str":
        return "".join(rng.choice('ab.-_é\u2028<>"\\ 0') for _ in range(rng.randint(0, 12)))
    if kind == "list":
        return [_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    names = ["refreshToken", "useCookies", "refresh_token", "x"]
    return {rng.choice(names): _value(rng, depth + 1) for _ in range(rng.randint(0, 3))}


async def test_same_answer_for_random_bodies(twins: httpx.AsyncClient) -> None:
    rng = random.Random(20261202)
    statuses = set()
    for _ in range(300):
        value = _value(rng)
        if rng.random() < 0.5:
            value = {"refreshToken": value} if rng.random() < 0.5 else {"useCookies": value}
        direct, twin = await _both(twins, json.dumps(value).encode(), {"content-type": JSON})
        _same(direct, twin)
        statuses.add(direct.status_code)
    assert statuses >= {401, 422}  # both kinds of refusal were exercised


async def test_a_real_rotation_and_its_cookie_path(twins: httpx.AsyncClient) -> None:
    account = {"email": "ada@example.com", "password": PASSWORD}
    assert (await twins.post("/auth/register", json=account)).status_code == 201
    pair = (await twins.post("/auth/login", json={**account, "useCookies": True})).json()
    # The body's token, answered with cookies when asked for.
    csrf = {"X-CSRF-Token": twins.cookies["csrf_token"]}  # cookies are sent from now on
    rotated = await twins.post(
        "/auth/refresh",
        json={"refreshToken": pair["refreshToken"], "useCookies": True},
        headers=csrf,
    )
    assert rotated.status_code == 200, rotated.text
    assert rotated.headers["cache-control"] == "no-store"
    assert set(rotated.json()) >= {"accessToken", "refreshToken"}
    assert "set-cookie" in rotated.headers
    # No body at all: the refresh cookie the client now holds.
    csrf = {"X-CSRF-Token": twins.cookies["csrf_token"]}  # renewed with the pair
    from_cookie = await twins.post("/auth/refresh", headers=csrf)
    assert from_cookie.status_code == 200, from_cookie.text
    assert from_cookie.json()["refreshToken"] != rotated.json()["refreshToken"]
    # The spent token is refused the same way on both routes (reuse detection).
    twins.cookies.clear()
    spent = json.dumps({"refreshToken": pair["refreshToken"]}).encode()
    direct, twin = await _both(twins, spent, {"content-type": JSON})
    assert direct.status_code == 401
    _same(direct, twin)


class Item(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, StringConstraints(min_length=1, max_length=8)]


async def _item(item: Item) -> JSONResponse:
    return JSONResponse(item.model_dump())


# A dict default: only FastAPI's validation of the default makes it an Item.
async def _item_or_default(
    item: Annotated[Item, Body(validate_default=True)] = {"name": "dflt"},  # type: ignore[assignment]  # noqa: B006
) -> JSONResponse:
    return JSONResponse(item.model_dump())


async def _directly(request: Request) -> JSONResponse:
    return JSONResponse((await read_json_body(request)).model_dump())


@pytest.mark.parametrize("endpoint", [_item, _item_or_default], ids=["required", "default"])
@pytest.mark.parametrize(
    "content",
    [b"", b"{}", b"null", b'{"name": "ada"}', b'{"name": ""}', b'{"name": 7}', b'{"x": 1}'],
)
async def test_a_required_or_validated_default_body_as_fastapi(
    endpoint: Any, content: bytes
) -> None:
    """Branches refresh does not take (its body is optional, its default None): a
    required body, and a default FastAPI validates (``validate_default``)."""
    app = FastAPI()
    app.add_exception_handler(RequestValidationError, _all_errors)
    app.router.routes.append(DirectRoute("/direct", endpoint, handler=_directly, methods=["POST"]))
    app.add_api_route("/usual", endpoint, methods=["POST"])
    headers = {"content-type": JSON}
    async with client_for(app) as client:
        direct = await client.post("/direct", content=content, headers=headers)
        usual = await client.post("/usual", content=content, headers=headers)
    _same(direct, usual)
    assert direct.status_code in (200, 422)
