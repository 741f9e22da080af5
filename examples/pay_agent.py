"""An agent that asks its user before it pays, then makes its one call (docs/approvals.md).

It names the exact call (tool `send_payment`, its arguments' RFC 8785 hash, a summary)
in an RFC 9396 `authorization_details` entry, asks through OpenID CIBA's backchannel
(`POST /oauth2/bc-authorize`, `login_hint` = the user's email, a `binding_message` the
user sees on the account page), waits for the decision, polling the token endpoint
(poll mode) or woken by authgate (ping mode, `--ping`), and sends the payment once with
the approval token it gets. The user must have delegated to the agent first
(`POST /auth/delegations`).

    AUTHGATE_URL=http://127.0.0.1:8000 PAYMENTS_URL=http://127.0.0.1:9200 \\
    AGENT_CLIENT_ID=... AGENT_CLIENT_SECRET=... \\
    python examples/pay_agent.py --user ada@example.com --amount 40 --currency EUR --to ACME

Ping mode: register the agent with `--ciba-mode ping --notification-endpoint
http://127.0.0.1:9300/ciba` and pass `--ping http://127.0.0.1:9300/ciba`: the agent
listens there for authgate's notice (`Authorization: Bearer <client_notification_token>`,
CIBA s10.2) and then fetches its token once. Exit status: 0 paid, 1 refused or denied.
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import json
import os
import secrets
import sys
from typing import Any
from urllib.parse import urlsplit

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from authgate.tool_calls import tool_call

CIBA_GRANT = "urn:openid:params:grant-type:ciba"


class Refused(Exception):
    """authgate or the user said no; the message says which, never a secret."""


class Agent:
    def __init__(self, http: httpx.AsyncClient, *, authgate: str, payments: str) -> None:
        self.http = http
        self.authgate = authgate.rstrip("/")
        self.payments = payments.rstrip("/")
        self.auth = (os.environ["AGENT_CLIENT_ID"], os.environ["AGENT_CLIENT_SECRET"])

    async def ask(
        self, user: str, arguments: dict[str, Any], *, notification_token: str | None
    ) -> dict[str, Any]:
        """CIBA s7.1: the backchannel request naming the one call (RFC 9396 s2)."""
        summary = f"Pay {arguments['amount']} {arguments['currency']} to {arguments['to']}"
        detail = tool_call(
            resource=self.payments, tool="send_payment", arguments=arguments, summary=summary
        )
        code = secrets.token_hex(2).upper()  # CIBA s7.1: lets the user tie the two screens
        form = {
            "login_hint": user,
            "binding_message": f"{summary} (code {code})",
            "scope": "payments",
            "authorization_details": json.dumps([detail]),
        }
        if notification_token is not None:
            form["client_notification_token"] = notification_token
        response = await self.http.post(
            f"{self.authgate}/oauth2/bc-authorize", data=form, auth=self.auth
        )
        if response.status_code != 200:
            raise Refused(f"bc-authorize: {response.json().get('error')}")
        print(f"Asked {user}: {form['binding_message']}", flush=True)
        return dict(response.json())

    async def token(self, auth_req_id: str) -> dict[str, Any] | str:
        """CIBA s10.1: the token, or the pending error code (s11)."""
        response = await self.http.post(
            f"{self.authgate}/oauth2/token",
            data={"grant_type": CIBA_GRANT, "auth_req_id": auth_req_id},
            auth=self.auth,
        )
        if response.status_code == 200:
            return dict(response.json())
        error = str(response.json().get("error"))
        if error in ("authorization_pending", "slow_down"):
            return error
        raise Refused(f"token: {error}")  # access_denied, expired_token, invalid_grant

    async def poll(self, started: dict[str, Any]) -> dict[str, Any]:
        interval = int(started.get("interval", 5))
        while True:
            await asyncio.sleep(interval)  # CIBA s7.3: no faster than the interval
            answer = await self.token(started["auth_req_id"])
            if isinstance(answer, dict):
                return answer
            if answer == "slow_down":
                interval += 5  # CIBA s11

    async def pay(self, token: str, arguments: dict[str, Any]) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}"}
        response = await self.http.post(
            f"{self.payments}/payments", json=arguments, headers=headers
        )
        if response.status_code != 200:
            raise Refused(f"payment: {response.status_code} {response.json().get('reason')}")
        return dict(response.json())


class PingListener:
    """CIBA s10.2: authgate POSTs {"auth_req_id"} with our bearer token once the user
    decided. Listens before the request is made, so no notice can come too early."""

    def __init__(self, url: str, bearer: str) -> None:
        self.bearer = bearer
        self.notified: set[str] = set()
        self.event = asyncio.Event()
        parts = urlsplit(url)
        app = Starlette(routes=[Route(parts.path or "/", self.notify, methods=["POST"])])
        config = uvicorn.Config(
            app, host=parts.hostname or "127.0.0.1", port=parts.port or 80, log_level="warning"
        )
        self.server = uvicorn.Server(config)
        self.task: asyncio.Task[None] | None = None

    async def notify(self, request: Request) -> Response:
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {self.bearer}".encode()):
            return Response(status_code=401)
        body = await request.json()
        if isinstance(body, dict) and isinstance(body.get("auth_req_id"), str):
            self.notified.add(body["auth_req_id"])
            self.event.set()
        return Response(status_code=204)

    async def start(self) -> None:
        self.task = asyncio.create_task(self.server.serve())
        while not self.server.started:  # noqa: ASYNC110 (uvicorn offers no event for it)
            await asyncio.sleep(0.05)

    async def wait(self, auth_req_id: str, seconds: float) -> None:
        async with asyncio.timeout(seconds):
            while auth_req_id not in self.notified:
                self.event.clear()
                await self.event.wait()

    async def stop(self) -> None:
        self.server.should_exit = True
        if self.task is not None:
            await self.task


async def run(args: argparse.Namespace) -> dict[str, Any]:
    arguments = {"amount": args.amount, "currency": args.currency, "to": args.to}
    async with httpx.AsyncClient(timeout=10.0) as http:
        agent = Agent(
            http,
            authgate=os.environ.get("AUTHGATE_URL", "http://127.0.0.1:8000"),
            payments=os.environ.get("PAYMENTS_URL", "http://127.0.0.1:9200"),
        )
        if args.ping:
            listener = PingListener(args.ping, secrets.token_urlsafe(32))
            await listener.start()
            try:
                started = await agent.ask(args.user, arguments, notification_token=listener.bearer)
                await listener.wait(started["auth_req_id"], started["expires_in"])
            finally:
                await listener.stop()
            answer = await agent.token(started["auth_req_id"])
            if not isinstance(answer, dict):
                raise Refused(f"token after ping: {answer}")
            token = answer
        else:
            started = await agent.ask(args.user, arguments, notification_token=None)
            token = await agent.poll(started)
        paid = await agent.pay(token["access_token"], arguments)
        print(f"Paid: {paid['payment_id']}", flush=True)
        return paid


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--user", required=True, help="the user's email (login_hint)")
    parser.add_argument("--amount", type=int, required=True)
    parser.add_argument("--currency", default="EUR")
    parser.add_argument("--to", required=True)
    parser.add_argument("--ping", metavar="URL", help="ping mode: listen here for the notice")
    try:
        asyncio.run(run(parser.parse_args()))
    except Refused as exc:
        print(f"Refused: {exc}", file=sys.stderr, flush=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
