"""The tutorial-style baseline: what the FastAPI security tutorial leads people to write.

A sync ``def`` dependency reads the Bearer header (``OAuth2PasswordBearer``) and calls
``jwt.decode`` (PyJWT), another checks the permission, and the handler takes a plain
``dict`` body. Same checks on the token as authgate's (HS256, iss, aud, exp, iat,
required claims, typ) and the same response; no revocation, no rate limit, no log.
Sync dependencies run in FastAPI's thread pool, as they do in the tutorial.
"""

from __future__ import annotations

import os
from typing import Annotated, Any

import jwt
from fastapi import Body, Depends, FastAPI, HTTPException, status
from fastapi.security import OAuth2PasswordBearer

SECRET_KEY = os.environ["JWT_ACCESS_SECRET"]
ALGORITHM = "HS256"
ISSUER = os.environ.get("AUTHGATE_JWT_ISSUER", "ai-agent-system")
AUDIENCE = os.environ.get("AUTHGATE_JWT_AUDIENCE", "ai-agent-users")

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="auth/login")


def get_current_user(token: Annotated[str, Depends(oauth2_scheme)]) -> dict[str, Any]:
    credentials_exception = HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED,
        detail="Could not validate credentials",
        headers={"WWW-Authenticate": "Bearer"},
    )
    try:
        header = jwt.get_unverified_header(token)
        payload: dict[str, Any] = jwt.decode(
            token,
            SECRET_KEY,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=ISSUER,
            leeway=10,
            options={"require": ["exp", "iat", "iss", "aud", "sub", "jti", "sessionId"]},
        )
    except jwt.InvalidTokenError:
        raise credentials_exception from None
    if header.get("typ") != "at+jwt" or payload.get("sub") is None:
        raise credentials_exception
    return payload


def require_agent_user(
    current_user: Annotated[dict[str, Any], Depends(get_current_user)],
) -> dict[str, Any]:
    if "use_agent" not in current_user.get("permissions", []):
        raise HTTPException(status_code=403, detail="Not enough permissions")
    return current_user


def app() -> FastAPI:
    application = FastAPI()

    @application.post("/api/ai/chat")
    async def chat(
        body: Annotated[dict[str, Any], Body()],
        user: Annotated[dict[str, Any], Depends(require_agent_user)],
    ) -> dict[str, Any]:
        message = body.get("message")
        if not isinstance(message, str) or not message:
            raise HTTPException(status_code=422, detail="message is required")
        return {
            "reply": f"Echo: {message}",
            "message": message,
            "user": {"id": user["sub"], "email": user.get("email")},
            "sessionId": user["sessionId"],
        }

    return application
