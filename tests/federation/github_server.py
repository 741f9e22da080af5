"""A local server that speaks GitHub's documented OAuth and REST shapes (GHES layout).

- ``GET /login/oauth/authorize`` redirects back with ``code`` and ``state`` (auto-approve);
- ``POST /login/oauth/access_token`` takes ``client_id``, ``client_secret``, ``code``,
  ``redirect_uri`` and ``code_verifier`` and, like GitHub, answers errors with 200 and
  an ``error`` field; JSON when asked with ``Accept: application/json``;
- ``GET /api/v3/user`` and ``GET /api/v3/user/emails`` with the bearer token;
- with ``expiring = True``, expiring user tokens as GitHub Apps issue them: ``expires_in``
  and a ``refresh_token`` (``grant_type=refresh_token`` at the token endpoint, each
  refresh token once; ``refresh_error`` refuses all);
- ``DELETE /api/v3/applications/{client_id}/token`` (basic auth with the client's
  credentials, JSON ``{"access_token"}``): 204 and the token no longer works.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
import socket
import threading
import time
from typing import Any
from urllib.parse import urlencode

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

__all__ = ["GitHubServer"]


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class GitHubServer:
    def __init__(self, *, client_id: str, client_secret: str) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.user: dict[str, Any] = {
            "login": "octocat",
            "id": 583231,
            "name": "The Octocat",
            "email": "octocat@github.example",
        }
        self.emails: list[dict[str, Any]] = [
            {"email": "octocat@github.example", "primary": True, "verified": True},
        ]
        self.token_requests: list[dict[str, str]] = []
        self.expiring = False
        self.refresh_error: str | None = None
        self.refreshes = 0
        self.revoked: list[str] = []
        # Raw bytes answered instead, to play a misbehaving provider (deep JSON, ...).
        self.raw_token_response: bytes | None = None
        self.raw_user: bytes | None = None
        self._codes: dict[str, dict[str, str]] = {}
        self._tokens: set[str] = set()
        self._refresh_tokens: dict[str, str] = {}  # refresh token -> scope
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self.port = self._socket.getsockname()[1]
        self.base = f"http://127.0.0.1:{self.port}"
        app = Starlette(
            routes=[
                Route("/login/oauth/authorize", self._authorize),
                Route("/login/oauth/access_token", self._access_token, methods=["POST"]),
                Route("/api/v3/user", self._user),
                Route("/api/v3/user/emails", self._emails),
                Route("/api/v3/applications/{client_id}/token", self._revoke, methods=["DELETE"]),
            ]
        )
        config = uvicorn.Config(app, log_level="warning", lifespan="off", ws="none")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )

    def start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the GitHub test server did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._socket.close()

    async def _authorize(self, request: Request) -> Response:
        params = request.query_params
        if params.get("client_id") != self.client_id:
            return PlainTextResponse("unknown client", status_code=404)
        code = secrets.token_hex(10)
        self._codes[code] = {
            "redirect_uri": params["redirect_uri"],
            "challenge": params.get("code_challenge", ""),
            "method": params.get("code_challenge_method", ""),
            "scope": params.get("scope", ""),
        }
        target = f"{params['redirect_uri']}?{urlencode({'code': code, 'state': params['state']})}"
        return RedirectResponse(target, status_code=302)

    async def _access_token(self, request: Request) -> Response:
        form = {key: str(value) for key, value in (await request.form()).items()}
        self.token_requests.append({k: v for k, v in form.items() if k != "client_secret"})
        if request.headers.get("accept") != "application/json":
            return PlainTextResponse("error=unsupported_accept")
        if form.get("client_id") != self.client_id or form.get("client_secret") != (
            self.client_secret
        ):
            return JSONResponse({"error": "incorrect_client_credentials"})
        if self.raw_token_response is not None:
            return Response(self.raw_token_response, media_type="application/json")
        if form.get("grant_type") == "refresh_token":
            return self._refresh(form)
        issued = self._codes.pop(form.get("code", ""), None)
        if issued is None or issued["redirect_uri"] != form.get("redirect_uri"):
            return JSONResponse({"error": "bad_verification_code"})
        verifier = form.get("code_verifier", "")
        if issued["method"] != "S256" or _s256(verifier) != issued["challenge"]:
            return JSONResponse({"error": "bad_verification_code"})
        return JSONResponse(self._issue(issued["scope"]))

    def _issue(self, scope: str) -> dict[str, Any]:
        token = ("ghu_" if self.expiring else "gho_") + secrets.token_hex(18)
        self._tokens.add(token)
        body: dict[str, Any] = {"access_token": token, "token_type": "bearer", "scope": scope}
        if self.expiring:
            refresh = "ghr_" + secrets.token_hex(30)
            self._refresh_tokens[refresh] = scope
            body.update(expires_in=28800, refresh_token=refresh, refresh_token_expires_in=15897600)
        return body

    def _refresh(self, form: dict[str, str]) -> Response:
        scope = self._refresh_tokens.pop(form.get("refresh_token", ""), None)
        if self.refresh_error or scope is None:
            return JSONResponse({"error": self.refresh_error or "bad_refresh_token"})
        self.refreshes += 1
        return JSONResponse(self._issue(scope))

    async def _revoke(self, request: Request) -> Response:
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        try:
            client_id, _, secret = base64.b64decode(encoded).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            client_id, secret = "", ""
        if scheme.lower() != "basic" or (client_id, secret) != (
            self.client_id,
            self.client_secret,
        ):
            return JSONResponse({"message": "Requires authentication"}, status_code=401)
        if request.path_params["client_id"] != self.client_id:
            return JSONResponse({"message": "Not Found"}, status_code=404)
        token = (await request.json()).get("access_token", "")
        if token not in self._tokens:
            return JSONResponse({"message": "Not Found"}, status_code=404)
        self._tokens.discard(token)
        self.revoked.append(token)
        return Response(status_code=204)

    def token_works(self, token: str) -> bool:
        return token in self._tokens

    def _authorized(self, request: Request) -> bool:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        return scheme.lower() in ("bearer", "token") and token in self._tokens

    async def _user(self, request: Request) -> Response:
        if not self._authorized(request):
            return JSONResponse({"message": "Requires authentication"}, status_code=401)
        if self.raw_user is not None:
            return Response(self.raw_user, media_type="application/json")
        return JSONResponse(self.user)

    async def _emails(self, request: Request) -> Response:
        if not self._authorized(request):
            return JSONResponse({"message": "Requires authentication"}, status_code=401)
        return JSONResponse(self.emails)
