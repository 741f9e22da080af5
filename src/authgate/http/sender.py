"""Authenticate a request at a resource, and hold a DPoP-bound token to its sender.

RFC 9449 s7.1: a token with ``cnf.jkt`` is accepted only with the ``DPoP`` scheme and a
valid proof made with that key for this request; presented as ``Bearer`` (or in a
cookie) it is refused. Tokens without ``cnf.jkt`` keep the plain Bearer path, with no
DPoP work at all.
"""

from __future__ import annotations

from starlette.requests import HTTPConnection

from authgate.authenticator import Authenticator
from authgate.dpop import DPoPVerifier
from authgate.errors import DPoPBindingError, TokenMissingError
from authgate.http.credentials import Credential, device_info, extract_credential
from authgate.principal import Principal

__all__ = ["authenticate_connection", "check_sender"]


async def authenticate_connection(
    conn: HTTPConnection,
    authenticator: Authenticator,
    *,
    cookie_name: str,
    dpop: DPoPVerifier | None,
) -> Principal:
    """The caller's Principal: token checks, then the DPoP binding when there is one."""
    credential = extract_credential(conn, cookie_name=cookie_name)
    if credential is None:
        raise TokenMissingError()
    device = device_info(conn) if authenticator.needs_device else None
    principal = authenticator.authenticate(credential.token, device)
    if principal.jkt is not None or credential.scheme == "dpop":
        await check_sender(conn, principal, credential, dpop)
    return principal


async def check_sender(
    conn: HTTPConnection,
    principal: Principal,
    credential: Credential,
    dpop: DPoPVerifier | None,
) -> None:
    """Refuse unless the token's binding and the request's scheme and proof agree."""
    if principal.jkt is None:
        # The DPoP scheme promises a bound token; an unbound one is a confused client.
        raise DPoPBindingError("not_bound")
    if credential.scheme != "dpop":
        raise DPoPBindingError("bearer_downgrade")  # s7.1
    if dpop is None:
        raise DPoPBindingError("no_verifier")  # fail closed: nothing can check the proof
    await dpop.verify_request(conn, access_token=credential.token, expected_jkt=principal.jkt)
