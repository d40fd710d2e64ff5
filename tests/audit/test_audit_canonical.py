"""Canonical JSON: the exact bytes hashes and signatures cover."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from governance.audit.canonical import MAX_SAFE_INTEGER, CanonicalJSONError, canonical_json, sha256_hex


def test_sorted_keys_no_whitespace_utf8():
    assert canonical_json({"b": 1, "a": {"d": [1, 2], "c": None}}) == b'{"a":{"c":null,"d":[1,2]},"b":1}'
    assert canonical_json("Zoë") == '"Zoë"'.encode()


def test_literals_and_escapes_follow_rfc_8785():
    assert canonical_json([True, False, None]) == b"[true,false,null]"
    assert canonical_json('q"\\\n\t\x01\x7f') == b'"q\\"\\\\\\n\\t\\u0001\x7f"'


def test_keys_sort_by_utf16_code_units():
    # U+1F600 is D83D DE00 in UTF-16, which sorts before U+FFFD; code point order says the opposite.
    assert canonical_json({"\ufffd": 1, "\U0001f600": 2}) == '{"\U0001f600":2,"\ufffd":1}'.encode()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"quota": 2.5}, r"\$\.quota: floats are not allowed"),
        ([1, [float("nan")]], r"\$\[1\]\[0\]: floats"),
        ({1: "x"}, "keys must be strings"),
        (2**53, "too large"),
        ({"s": {1, 2}}, r"\$\.s: set values cannot"),
        ("\ud800", "unpaired surrogate"),
    ],
)
def test_refuses_what_is_not_exact_json(value, message):
    with pytest.raises(CanonicalJSONError, match=message):
        canonical_json(value)


def test_largest_safe_integers_pass():
    assert (
        canonical_json([MAX_SAFE_INTEGER, -MAX_SAFE_INTEGER])
        == f"[{MAX_SAFE_INTEGER},-{MAX_SAFE_INTEGER}]".encode()
    )


def test_sha256_hex():
    assert sha256_hex(b"abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=20,
)


@given(json_values)
def test_round_trips_and_is_stable(value):
    encoded = canonical_json(value)
    assert json.loads(encoded) == value
    assert canonical_json(json.loads(encoded)) == encoded
