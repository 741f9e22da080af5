"""The ``details`` of a 422: which known field is wrong and why, in the server's words.

A validation error from pydantic carries the location (``loc``) and a message built
from the input. Both can hold what the client sent: an unknown member's name (the
schemas forbid extra fields, so ``{"<script>": 1}`` is reported at ``loc`` ``<script>``),
a dictionary key, or text from the value (``email-validator`` quotes the characters it
refused). A 422 names only fields the route's schema declares, stopping the path at the
first part it does not know, and keeps pydantic's message only for error types whose
message is made from the schema alone (limits, types, allowed values).
"""

from __future__ import annotations

import types
import typing
import weakref
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from fastapi.routing import APIRoute
from pydantic import BaseModel

__all__ = ["known_field_names", "validation_detail"]

_SOURCES = frozenset({"body", "query", "path", "header", "cookie"})
# pydantic-core error types whose message has only schema constants in it (ctx limits,
# expected types, allowed literals): safe to show as they are.
_SCHEMA_MESSAGES = frozenset(
    {
        "missing",
        "string_type",
        "string_too_short",
        "string_too_long",
        "string_pattern_mismatch",
        "int_type",
        "int_parsing",
        "int_from_float",
        "float_type",
        "float_parsing",
        "bool_type",
        "bool_parsing",
        "greater_than",
        "greater_than_equal",
        "less_than",
        "less_than_equal",
        "multiple_of",
        "list_type",
        "dict_type",
        "model_type",
        "model_attributes_type",
        "too_short",
        "too_long",
        "literal_error",
        "enum",
        "none_required",
        "url_type",
        "url_too_long",
        "url_scheme",
    }
)
_EMAIL_PREFIX = "value is not a valid email address"
# Per route (APIRoute is not hashable: by id, with a weak reference that proves the id
# still belongs to the same route), computed on its first 422.
_known_cache: dict[int, tuple[weakref.ref[APIRoute], frozenset[str]]] = {}


def validation_detail(error: Mapping[str, Any], known: frozenset[str]) -> dict[str, str]:
    """``{"field": ..., "issue": ...}`` for one pydantic error, echoing nothing sent."""
    path = list(error.get("loc", ()))
    if path and path[0] in _SOURCES:
        path = path[1:]
    kind = str(error.get("type", ""))
    if kind == "extra_forbidden":
        # The last part is the unknown member's own name: report its parent instead.
        return {"field": _known_prefix(path[:-1], known), "issue": "Unknown field"}
    return {"field": _known_prefix(path, known), "issue": _issue(kind, error)}


def _known_prefix(path: Iterable[Any], known: frozenset[str]) -> str:
    kept = []
    for part in path:
        if isinstance(part, int) and not isinstance(part, bool):
            kept.append(str(part))  # a list index: a number, never client text
        elif isinstance(part, str) and part in known:
            kept.append(part)
        else:
            break
    return ".".join(kept)


def _issue(kind: str, error: Mapping[str, Any]) -> str:
    message = str(error.get("msg", ""))
    if kind in _SCHEMA_MESSAGES:
        return message
    # pydantic's email check, or authgate's own (accounts.users.check_email).
    if kind == "value_error" and "not a valid email address" in message.lower():
        return _EMAIL_PREFIX  # the rest quotes the characters that were refused
    return "Value is not valid"


def known_field_names(route: object) -> frozenset[str]:
    """Every parameter and model field name (and alias) the route's schema declares."""
    if not isinstance(route, APIRoute):
        return frozenset()
    entry = _known_cache.get(id(route))
    if entry is not None and entry[0]() is route:
        return entry[1]
    names = frozenset(_dependant_names(route.dependant))
    _known_cache[id(route)] = (weakref.ref(route), names)
    return names


def _dependant_names(dependant: Any) -> Iterator[str]:
    for params in (
        dependant.path_params,
        dependant.query_params,
        dependant.header_params,
        dependant.cookie_params,
        dependant.body_params,
    ):
        for param in params:
            yield param.name
            yield param.alias
            yield from _annotation_names(param.field_info.annotation, set())
    for sub in dependant.dependencies:
        yield from _dependant_names(sub)


def _annotation_names(annotation: Any, seen: set[int]) -> Iterator[str]:
    if id(annotation) in seen:
        return
    seen.add(id(annotation))
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        for name, info in annotation.model_fields.items():
            yield name
            if info.alias:
                yield info.alias
            if isinstance(info.validation_alias, str):
                yield info.validation_alias
            yield from _annotation_names(info.annotation, seen)
        return
    origin = typing.get_origin(annotation)
    if origin is not None or isinstance(annotation, types.UnionType):
        for arg in typing.get_args(annotation):
            yield from _annotation_names(arg, seen)
