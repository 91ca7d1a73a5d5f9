from __future__ import annotations

from decimal import Decimal

import pytest

from kokpit.quantity import QuantityError, format_quantity, parse_quantity


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("500m", Decimal("0.5")),
        ("2", Decimal(2)),
        ("16Gi", Decimal(16 * 2**30)),
        ("1k", Decimal(1000)),
        ("1e3", Decimal(1000)),
    ],
)
def test_parse(text: str, value: Decimal) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize("text", ["", "abc", "1.2.3"])
def test_parse_rejects_garbage(text: str) -> None:
    with pytest.raises(QuantityError):
        parse_quantity(text)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Decimal(96), "96"),
        (Decimal("0.75"), "750m"),
        (Decimal(768 * 2**30), "768Gi"),
        (Decimal(0), "0"),
        (Decimal(3072), "3Ki"),
        (Decimal(1536), "1536"),
    ],
)
def test_format(value: Decimal, text: str) -> None:
    assert format_quantity(value) == text
    assert parse_quantity(text) == value
