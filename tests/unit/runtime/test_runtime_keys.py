"""Key: string form, parsing, ordering."""

from __future__ import annotations

import pytest
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import ConfigMap, Namespace

from kokpit.runtime.keys import Key


@pytest.mark.parametrize(
    ("key", "text"),
    [
        pytest.param(Key("hub", "default", "cm"), "hub/default/cm", id="namespaced"),
        pytest.param(Key("member1", None, "ns1"), "member1/ns1", id="cluster-scoped"),
    ],
)
def test_string_form_round_trips(key: Key, text: str) -> None:
    assert str(key) == text
    assert Key.parse(text) == key


@pytest.mark.parametrize("text", ["", "a", "a/b/c/d", "a//c", "/b"])
def test_parse_refuses_malformed(text: str) -> None:
    with pytest.raises(ValueError):
        Key.parse(text)


def test_of_reads_objects() -> None:
    assert Key.of("hub", ConfigMap(metadata=ObjectMeta(name="x", namespace="ns"))) == Key("hub", "ns", "x")
    assert Key.of("m1", Namespace(metadata=ObjectMeta(name="ns"))) == Key("m1", None, "ns")


def test_keys_sort_even_with_mixed_scopes() -> None:
    keys = [Key("b", "ns", "a"), Key("a", "ns", "b"), Key("a", None, "z"), Key("a", "ns", "a")]
    assert sorted(keys) == [
        Key("a", None, "z"),
        Key("a", "ns", "a"),
        Key("a", "ns", "b"),
        Key("b", "ns", "a"),
    ]
    assert len({Key("a", "n", "x"), Key("a", "n", "x")}) == 1
