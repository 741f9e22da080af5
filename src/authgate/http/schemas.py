"""Request bodies. Unknown fields are refused; sizes are bounded before any work."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from authgate.accounts.users import check_email
from authgate.errors import InvalidRequestError

__all__ = ["ChatRequest", "LoginRequest", "RefreshRequest", "RegisterRequest"]

Password = Annotated[str, Field(min_length=1, max_length=4096)]


def _email(value: str) -> str:
    try:
        return check_email(value)  # the same rule as `authgate users create`
    except InvalidRequestError as exc:
        raise ValueError(exc.message) from None


Email = Annotated[
    str,
    StringConstraints(max_length=320),
    AfterValidator(_email),
    Field(json_schema_extra={"format": "email"}),
]
Token = Annotated[str, StringConstraints(min_length=1, max_length=16384)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class RegisterRequest(_Body):
    email: Email
    password: Password
    name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = None


class LoginRequest(_Body):
    email: Annotated[str, StringConstraints(min_length=3, max_length=320)]
    password: Password
    useCookies: bool = False


class RefreshRequest(_Body):
    refreshToken: Token | None = None
    useCookies: bool = False


class ChatRequest(_Body):
    message: Annotated[str, StringConstraints(min_length=1, max_length=10000)]
