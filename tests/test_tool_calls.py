"""``authgate.tool_calls``: the arguments hash (RFC 8785 + SHA-256) and the entry check.

The hash is tested against computations that do not use ``rfc8785``: the canonical
texts RFC 8785 itself prints (s3.2.2, s3.2.3), and for generated JSON with integers,
strings, booleans and null, the standard library's sorted compact ``json.dumps``, which
is the same text for those values (RFC 8785 s3.2.2.2 strings, s3.2.3 member order).
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from authgate.errors import InvalidAuthorizationDetailsError
from authgate.tool_calls import (
    arguments_sha256,
    parse_arguments,
    tool_call,
    validate_tool_call,
)


def independent(canonical: str) -> str:
    digest = hashlib.sha256(canonical.encode("utf-8")).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def test_rfc8785_s3_2_2_sample() -> None:
    """The RFC's own input and canonical output (numbers, escapes, literals)."""
    source = (
        '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],'
        ' "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",'
        ' "literals": [null, true, false]}'
    )
    expected = (
        '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
        '"string":"\u20ac$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
    )
    assert arguments_sha256(json.loads(source)) == independent(expected)


def test_rfc8785_s3_2_3_member_order_is_by_utf16_code_units() -> None:
    """The RFC's sorting sample: UTF-16 order, where U+1F600 sorts before U+FB33."""
    source = {
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One",
        "\U0001f600": "Emoji: Grinning Face",
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis",
    }
    expected = (
        '{"\\r":"Carriage Return","1":"One","\u0080":"Control",'
        '"\u00f6":"Latin Small Letter O With Diaeresis","\u20ac":"Euro Sign",'
        '"\U0001f600":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}'
    )
    assert arguments_sha256(source) == independent(expected)


def test_a_payment_has_the_hash_computed_by_hand() -> None:
    canonical = '{"amount":40,"currency":"EUR","to":"ACME"}'
    assert arguments_sha256({"to": "ACME", "amount": 40, "currency": "EUR"}) == independent(
        canonical
    )
    assert len(independent(canonical)) == 43


SAFE_INT = st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
BMP_TEXT = st.text(st.characters(max_codepoint=0xFFFF, exclude_categories=["Cs"]), max_size=12)
JSON = st.recursive(
    st.none() | st.booleans() | SAFE_INT | BMP_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(BMP_TEXT, inner, max_size=4),
    max_leaves=20,
)


@given(st.dictionaries(BMP_TEXT, JSON, max_size=6))
def test_matches_an_independent_canonicalization(arguments: dict[str, Any]) -> None:
    """Differential: for ints, BMP strings, booleans and null, sorted compact json.dumps is
    the JCS text (BMP code points sort as UTF-16 code units do)."""
    canonical = json.dumps(arguments, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert arguments_sha256(arguments) == independent(canonical)


def test_number_spelling_and_member_order_do_not_change_the_hash() -> None:
    assert arguments_sha256(json.loads('{"a": 40.0, "b": [1e2]}')) == arguments_sha256(
        json.loads('{"b": [100], "a": 40}')
    )


@pytest.mark.parametrize(
    "arguments",
    [
        pytest.param({"amount": 2**53 + 1}, id="integer-beyond-2**53"),
        pytest.param({"amount": float("nan")}, id="nan"),
        pytest.param({"amount": float("inf")}, id="infinity"),
        pytest.param({1: "non-string member name"}, id="member-name"),
        pytest.param({"x": object()}, id="not-json"),
        pytest.param([1, 2], id="not-an-object"),
    ],
)
def test_what_jcs_cannot_represent_is_refused(arguments: Any) -> None:
    with pytest.raises(InvalidAuthorizationDetailsError):
        arguments_sha256(arguments)


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b'{"to": "ACME", "to": "MALLORY"}', id="duplicate-member"),
        pytest.param(b'{"a": {"b": 1, "b": 2}}', id="nested-duplicate"),
        pytest.param(b"[1]", id="array"),
        pytest.param(b'{"a": NaN}', id="nan"),
        pytest.param(b'{"a": Infinity}', id="infinity"),
        pytest.param(b"[" * 100 + b"]" * 100, id="too-deep"),
        pytest.param(b"\xff", id="not-utf8"),
    ],
)
def test_parse_arguments_refuses_ambiguous_or_hostile_bodies(raw: bytes) -> None:
    with pytest.raises(InvalidAuthorizationDetailsError):
        parse_arguments(raw)


def test_parse_arguments_reads_an_object() -> None:
    assert parse_arguments(b'{"amount": 40}') == {"amount": 40}


RESOURCE = "https://pay.example/api"


def entry(**changes: Any) -> dict[str, Any]:
    base = tool_call(
        resource=RESOURCE, tool="send_payment", arguments={"amount": 40}, summary="Pay 40 EUR"
    )
    return {**base, **changes}


def test_tool_call_builds_a_valid_entry() -> None:
    assert validate_tool_call(entry()) == {
        "type": "tool_call",
        "resource": RESOURCE,
        "tool": "send_payment",
        "arguments_sha256": arguments_sha256({"amount": 40}),
        "summary": "Pay 40 EUR",
    }


def without(name: str) -> dict[str, Any]:
    value = entry()
    del value[name]
    return value


@pytest.mark.parametrize(
    ("detail", "member"),
    [
        pytest.param(entry(type="payment"), "type", id="other-type"),
        pytest.param(entry(extra="x"), "extra", id="unknown-member"),
        pytest.param(entry(actions=["pay"]), "actions", id="rfc9396-common-member"),
        pytest.param(without("summary"), "summary", id="no-summary"),
        pytest.param(without("arguments_sha256"), "arguments_sha256", id="no-hash"),
        pytest.param(entry(tool=["send_payment"]), "tool", id="tool-not-a-string"),
        pytest.param(entry(tool=""), "tool", id="empty-tool"),
        pytest.param(entry(tool="send payment"), "tool", id="space-in-tool"),
        pytest.param(entry(tool="x" * 129), "tool", id="long-tool"),
        pytest.param(entry(arguments_sha256="x" * 42), "arguments_sha256", id="short-hash"),
        pytest.param(entry(arguments_sha256="x" * 43 + "="), "arguments_sha256", id="padded"),
        pytest.param(entry(arguments_sha256="A" * 42 + "B"), "arguments_sha256", id="noncanon"),
        pytest.param(entry(arguments_sha256="+" * 43), "arguments_sha256", id="not-urlsafe"),
        pytest.param(entry(resource="pay.example"), "resource", id="resource-not-url"),
        pytest.param(entry(resource="javascript:alert(1)"), "resource", id="resource-js"),
        pytest.param(entry(summary=""), "summary", id="empty-summary"),
        pytest.param(entry(summary=" "), "summary", id="blank-summary"),
        pytest.param(entry(summary="x" * 201), "summary", id="long-summary"),
        pytest.param(entry(summary="Pay 40 EUR\u202eRCIM"), "summary", id="bidi-override"),
        pytest.param(entry(summary="Pay\u200b 40 EUR"), "summary", id="zero-width-space"),
        pytest.param(entry(summary="Pay\n4000 EUR"), "summary", id="newline"),
    ],
)
def test_malformed_entries_are_refused(detail: Any, member: str) -> None:
    """RFC 9396 s5: ``invalid_authorization_details``, naming the member at fault."""
    with pytest.raises(InvalidAuthorizationDetailsError) as caught:
        validate_tool_call(detail)
    assert caught.value.member == member
    assert caught.value.error == "invalid_authorization_details"


@pytest.mark.parametrize("detail", ["tool_call", None, ["tool_call"]])
def test_an_entry_must_be_an_object(detail: Any) -> None:
    with pytest.raises(InvalidAuthorizationDetailsError):
        validate_tool_call(detail)


def test_summary_keeps_emoji_sequences_and_accents() -> None:
    summary = "Payer 40 \u20ac \u00e0 ACME \U0001f469\u200d\U0001f4bb"
    assert validate_tool_call(entry(summary=summary))["summary"] == summary
