"""The DynamoDB attribute (de)serializer gives exactly what boto3's TypeSerializer/TypeDeserializer path gives."""

from __future__ import annotations

from decimal import Decimal, Inexact, Rounded
from enum import StrEnum
from typing import Any

import pytest
from boto3.dynamodb.types import Binary, TypeDeserializer, TypeSerializer
from hypothesis import given
from hypothesis import strategies as st

from emrex_emc.adapters import sessions
from emrex_emc.adapters.sessions import deserialize, deserialize_item, serialize, serialize_item, to_dynamo, to_plain


class Colour(StrEnum):
    RED = "red"


def boto3_serialize(value: Any) -> dict[str, Any]:
    return dict(TypeSerializer().serialize(to_dynamo(value)))


def boto3_deserialize(attribute: dict[str, Any]) -> Any:
    return to_plain(TypeDeserializer().deserialize(attribute))


def outcome(func: Any, value: Any) -> tuple[str, Any]:
    """The result as its ``repr`` (exact types, and NaN equals NaN) or the exception type."""
    try:
        return "ok", repr(func(value))
    except Exception as exc:  # the same refusal is part of the contract
        return "error", type(exc)


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.text(max_size=8),
    st.floats(allow_nan=False, allow_infinity=False),
    st.decimals(allow_nan=False, allow_infinity=False, places=3),
    st.binary(max_size=4),
    st.just(Colour.RED),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=4).map(tuple),
        st.dictionaries(st.one_of(st.text(max_size=5), st.integers()), inner, max_size=4),
        st.frozensets(st.text(max_size=4), min_size=1, max_size=3).map(set),
    ),
    max_leaves=12,
)


@given(values)
def test_serialize_matches_boto3(value: Any) -> None:
    assert outcome(serialize, value) == outcome(boto3_serialize, value)


number_texts = st.one_of(
    st.integers(min_value=-(10**40), max_value=10**40).map(str),
    st.sampled_from(["0", "-0", "007", "+5", " 5", "1.5", "1.0", "1e3", "-", "", "٣", "1_000", "9" * 38, "9" * 39]),
)
attributes = st.recursive(
    st.one_of(
        st.builds(lambda s: {"S": s}, st.text(max_size=6)),
        st.builds(lambda n: {"N": n}, number_texts),
        st.builds(lambda b: {"BOOL": b}, st.booleans()),
        st.just({"NULL": True}),
        st.builds(lambda b: {"B": b}, st.binary(max_size=3)),
        st.builds(lambda ss: {"SS": ss}, st.lists(st.text(max_size=3), min_size=1, max_size=3, unique=True)),
        st.builds(lambda ns: {"NS": ns}, st.lists(st.integers(0, 99).map(str), min_size=1, max_size=3, unique=True)),
    ),
    lambda inner: st.one_of(
        st.builds(lambda items: {"L": items}, st.lists(inner, max_size=3)),
        st.builds(lambda m: {"M": m}, st.dictionaries(st.text(max_size=4), inner, max_size=3)),
    ),
    max_leaves=10,
)


@given(attributes)
def test_deserialize_matches_boto3(attribute: dict[str, Any]) -> None:
    assert outcome(deserialize, attribute) == outcome(boto3_deserialize, attribute)


@pytest.mark.parametrize("odd", [{}, {"S": "a", "N": "1"}, {"XX": 1}])
def test_odd_attributes_are_refused_or_read_like_boto3(odd: dict[str, Any]) -> None:
    assert outcome(deserialize, odd) == outcome(boto3_deserialize, odd)


def test_plain_values_skip_boto3_and_the_rest_uses_it(monkeypatch: pytest.MonkeyPatch) -> None:
    item = {"pk": "SESSION#1", "n": 12, "flag": True, "none": None, "map": {"list": ["a", (1, -2)]}}
    attribute_item = serialize_item(item)
    monkeypatch.setattr(sessions, "_serializer", None)
    monkeypatch.setattr(sessions, "_deserializer", None)
    assert serialize_item(item) == attribute_item
    assert deserialize_item(attribute_item) == {**item, "map": {"list": ["a", [1, -2]]}}
    with pytest.raises(AttributeError):
        serialize(1.5)
    with pytest.raises(AttributeError):
        deserialize({"N": "1.5"})


def test_values_boto3_handles_keep_their_form() -> None:
    assert serialize(1.5) == {"N": "1.5"}
    assert serialize(Decimal("2.50")) == {"N": "2.50"}
    assert serialize(b"\x00") == {"B": b"\x00"}
    assert serialize(Colour.RED) == {"S": Colour.RED}
    assert deserialize({"N": "1.5"}) == 1.5
    assert deserialize({"N": "1E+3"}) == 1000
    assert deserialize({"B": b"\x00"}) == Binary(b"\x00")
    with pytest.raises((Inexact, Rounded)):
        serialize(10**38)
