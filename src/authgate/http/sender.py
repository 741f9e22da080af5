"""Authenticate a request at a resource, and hold a DPoP-bound token to its sender.

RFC 9449 s7.1: a token with ``cnf.jkt`` is accepted only with the ``DPoP`` scheme and a
valid proof made with that key for this request; presented as ``Bearer`` (or in a
cookie) it is refused. Tokens without ``cnf.jkt`` keep the plain Bearer path, with no
DPoP work at all.
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.datastructures import Headers
from starlette.requests import HTTPConnection

from authgate.agents.dpop import DPoPVerifier
from authgate.errors import DPoPBindingError, TokenMissingError
from authgate.http.credentials import Credential, device_info, extract_credential
from authgate.principal import Principal
from authgate.sessions.authenticator import Authenticator

__all__ = [
    "authenticate_connection",
    "check_sender",
    "request_uri",
    "token_request_jkt",
    "verify_dpop",
]


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
    await verify_dpop(dpop, conn, access_token=credential.token, expected_jkt=principal.jkt)


async def verify_dpop(
    dpop: DPoPVerifier,
    conn: HTTPConnection,
    *,
    access_token: str | None = None,
    expected_jkt: str | None,
) -> str:
    """The request's DPoP proof checked against its method and target URI."""
    return await dpop.verify_request(
        conn.headers.getlist("dpop"),
        method=conn.scope.get("method", "GET"),
        url=request_uri(conn),
        access_token=access_token,
        expected_jkt=expected_jkt,
    )


async def token_request_jkt(dpop: DPoPVerifier, conn: HTTPConnection) -> str | None:
    """At the token endpoint (RFC 9449 s5): None without a DPoP header, else the jkt."""
    if "dpop" not in conn.headers:
        return None
    return await verify_dpop(dpop, conn, expected_jkt=None)


def request_uri(conn: HTTPConnection) -> str:
    """The target URI of the request as this server received it (RFC 9110 s7.1).

    Only its path counts when a public URL is configured (always, from Settings): the
    DPoP verifier takes the origin from configuration, never from this Host header.
    """
    scope = conn.scope
    scheme = {"ws": "http", "wss": "https"}.get(scope["scheme"], scope["scheme"])
    host = Headers(scope=scope).get("host")
    if not host and scope.get("server"):
        server_host, server_port = scope["server"]
        host = f"{server_host}:{server_port}"
    raw = scope.get("raw_path")
    if raw:
        path = raw.decode("latin-1").split("?", 1)[0]
    else:
        path = quote(scope.get("root_path", "") + scope["path"])
    return f"{scheme}://{host}{path}"
