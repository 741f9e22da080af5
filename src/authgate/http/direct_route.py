"""``DirectRoute``: a route FastAPI documents, answered without FastAPI's request handler.

FastAPI runs a route by solving its dependency graph, reading and validating the body
and keeping two exit stacks open, whatever the route needs: on ``POST /auth/refresh``,
the hottest write, that was 100-150 µs of CPU of a rotation (bench/README.md, 18.6).
A ``DirectRoute`` is still an ``APIRoute`` (its OpenAPI schema, ``scope["route"]`` for
422 details, the app's exception handlers) but answers with ``handler(request)``, which
reads its body with ``read_json_body``: the same 400, 415 and 422 answers as FastAPI's
own handling of the route (tests/http/test_direct_route.py sends both the same bodies).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import request_response

__all__ = ["DirectRoute", "read_json_body"]

Handler = Callable[[Request], Awaitable[Response]]


class DirectRoute(APIRoute):
    """An ``APIRoute`` whose requests go to ``handler`` instead of ``endpoint``.

    ``endpoint`` describes the route (parameters, body model, responses) as usual;
    ``handler`` must do what its dependencies and parameters would have done.
    """

    def __init__(
        self, path: str, endpoint: Callable[..., Any], *, handler: Handler, **kwargs: Any
    ) -> None:
        super().__init__(path, endpoint, **kwargs)
        # Starlette's wrapper: the app's exception handlers, no dependency exit stacks.
        self.app = request_response(handler)


async def read_json_body(request: Request) -> Any:
    """The matched route's one body parameter, read and validated as FastAPI does it.

    A JSON content type (``application/json`` or ``application/*+json``) is parsed,
    anything else validated as the bytes it is; an empty body is the parameter's
    default. A body that is not JSON is a ``json_invalid`` validation error (400), one
    that cannot be read or decoded a 400, a wrong one a ``RequestValidationError``
    located under ``body`` (422).
    """
    route = request.scope["route"]
    field = route.body_field if isinstance(route, APIRoute) else None
    assert field is not None, "read_json_body needs an APIRoute with a body parameter"
    try:
        raw = await request.body()
        value: Any = raw
        if raw and _is_json(request.headers.get("content-type", "")):
            value = json.loads(raw)
    except json.JSONDecodeError as exc:
        error = {
            "type": "json_invalid",
            "loc": ("body", exc.pos),
            "msg": "JSON decode error",
            "input": {},
            "ctx": {"error": exc.msg},
        }
        raise RequestValidationError([error]) from exc
    except HTTPException:
        raise
    except Exception as exc:
        raise HTTPException(400, "There was an error parsing the body") from exc
    if not raw:
        if field.field_info.is_required():
            raise RequestValidationError(
                [{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}]
            )
        value = copy.deepcopy(field.default)
        if not field.field_info.validate_default:
            return value
    body, errors = field.validate(value, {}, loc=("body",))
    if errors:
        raise RequestValidationError(errors)
    return body


def _is_json(content_type: str) -> bool:
    mime = content_type.partition(";")[0].strip().lower()
    kind, _, subtype = mime.partition("/")
    return kind == "application" and (subtype == "json" or subtype.endswith("+json"))
