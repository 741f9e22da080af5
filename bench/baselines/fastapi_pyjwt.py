"""The hand-written baseline: a FastAPI dependency calling ``jwt.decode`` (PyJWT).

This is the pattern of the FastAPI security tutorial (OAuth2PasswordBearer, a
``get_current_user`` dependency, HTTP 401 on any PyJWTError), with the same checks
authgate makes on the token (HS256, iss, aud, exp, iat, required claims, typ), the
same permission, the same body model and the same response. Like most hand-written
code it has no revocation check, no rate limit and no security headers.
"""

from __future__ import annotations

import os
from typing import Annotated, Any

import jwt
from fastapi import Depends, FastAPI, HTTPException
from fastapi.security import OAuth2PasswordBearer
from pydantic import BaseModel, ConfigDict, StringConstraints

SECRET = os.environ["JWT_ACCESS_SECRET"]
ISSUER = os.environ.get("AUTHGATE_JWT_ISSUER", "ai-agent-system")
AUDIENCE = os.environ.get("AUTHGATE_JWT_AUDIENCE", "ai-agent-users")
REQUIRED = ["exp", "iat", "iss", "aud", "sub", "jti", "sessionId"]

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="auth/login")


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    message: Annotated[str, StringConstraints(min_length=1, max_length=10000)]


async def get_current_user(token: Annotated[str, Depends(oauth2_scheme)]) -> dict[str, Any]:
    unauthorized = HTTPException(
        status_code=401,
        detail="Could not validate credentials",
        headers={"WWW-Authenticate": "Bearer"},
    )
    try:
        decoded = jwt.decode_complete(
            token,
            SECRET,
            algorithms=["HS256"],
            audience=AUDIENCE,
            issuer=ISSUER,
            leeway=10,
            options={"require": REQUIRED},
        )
    except jwt.PyJWTError:
        raise unauthorized from None
    if decoded["header"].get("typ") != "at+jwt":
        raise unauthorized
    payload: dict[str, Any] = decoded["payload"]
    return payload


async def require_agent_user(
    user: Annotated[dict[str, Any], Depends(get_current_user)],
) -> dict[str, Any]:
    if "use_agent" not in user.get("permissions", []):
        raise HTTPException(status_code=403, detail="Not enough permissions")
    return user


def app() -> FastAPI:
    application = FastAPI()

    @application.post("/api/ai/chat")
    async def chat(
        body: ChatRequest, user: Annotated[dict[str, Any], Depends(require_agent_user)]
    ) -> dict[str, Any]:
        return {
            "reply": f"Echo: {body.message}",
            "message": body.message,
            "user": {"id": user["sub"], "email": user.get("email")},
            "sessionId": user["sessionId"],
        }

    return application
