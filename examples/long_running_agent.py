"""An agent that works for a user for longer than any one access token lives.

1. The user signs in, consents to this agent acting for them (POST /auth/delegations:
   which agent, which scopes, for how long; in a real product: a consent screen), and
   hands the agent their access token (here: --email/--password of the user).
2. The agent exchanges it for a delegation (RFC 8693): a token that says "agent X for
   user Y", narrowed to the scopes asked for, with a refresh token bound to the agent.
3. It calls the protected /api/ai/chat step after step; AgentAuth renews the token
   before it expires. When the user revokes the delegation (or logs out), the next
   renewal fails and the agent stops.

    .venv/bin/python examples/long_running_agent.py --base-url http://127.0.0.1:8000 \\
        --client-id ID --client-secret SECRET --email ada@example.com --password ... \\
        --steps 100 --interval 30
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
from collections.abc import Awaitable, Callable

import httpx

from authgate.sdk.agent import AgentAuth, DPoPKey, aexchange_token
from authgate.sdk.user import AuthgateClientError


async def run_task(
    http: httpx.AsyncClient, *, steps: int, pause: Callable[[], Awaitable[None]]
) -> tuple[int, str]:
    """Do ``steps`` units of work; return how many were done and why the task ended."""
    for done in range(steps):
        try:
            response = await http.post("/api/ai/chat", json={"message": f"step {done + 1}"})
        except AuthgateClientError as exc:
            return done, f"stopped: {exc.error}"
        if response.status_code != 200:
            return done, f"stopped: HTTP {response.status_code}"
        await pause()
    return steps, "finished"


async def user_access_token(base_url: str, email: str, password: str) -> str:
    async with httpx.AsyncClient(base_url=base_url) as http:
        response = await http.post("/auth/login", json={"email": email, "password": password})
        response.raise_for_status()
        token: str = response.json()["accessToken"]
        return token


async def consent(base_url: str, user_token: str, client_id: str, scope: str) -> None:
    """The user's consent to this agent: token exchange is refused without it."""
    async with httpx.AsyncClient(base_url=base_url) as http:
        response = await http.post(
            "/auth/delegations",
            json={"clientId": client_id, "scopes": scope.split()},
            headers={"Authorization": f"Bearer {user_token}"},
        )
        response.raise_for_status()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8000")
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--client-secret", required=True)
    parser.add_argument("--email", required=True)
    parser.add_argument("--password")
    parser.add_argument("--scope", default="use_agent")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--interval", type=float, default=5.0)
    parser.add_argument("--dpop", action="store_true", help="bind tokens to a key of the agent")
    args = parser.parse_args()
    password = args.password or getpass.getpass("User password: ")
    subject = await user_access_token(args.base_url, args.email, password)
    await consent(args.base_url, subject, args.client_id, args.scope)
    dpop = DPoPKey() if args.dpop else None
    body = await aexchange_token(
        base_url=args.base_url,
        client_id=args.client_id,
        client_secret=args.client_secret,
        subject_token=subject,
        scope=args.scope,
        dpop_key=dpop,
    )
    auth = AgentAuth.from_token_response(
        body,
        base_url=args.base_url,
        client_id=args.client_id,
        client_secret=args.client_secret,
        dpop_key=dpop,
    )
    async with httpx.AsyncClient(base_url=args.base_url, auth=auth) as http:
        done, outcome = await run_task(
            http, steps=args.steps, pause=lambda: asyncio.sleep(args.interval)
        )
    print(f"{done} steps, {outcome}")


if __name__ == "__main__":
    asyncio.run(main())
