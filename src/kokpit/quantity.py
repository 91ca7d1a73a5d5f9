"""Kubernetes resource quantities ("500m", "16Gi", "100n", "1e3") as Decimals and back.

Written here rather than taken from lightkube: its parser rejects the `n` and `u` suffixes and
signed exponents that API servers do emit, and rounds to thousandths.
"""

from __future__ import annotations

import re
from decimal import Decimal

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}
_QUANTITY = re.compile(
    r"^(?P<number>[+-]?(?:\d+(?:\.\d*)?|\.\d+))"
    r"(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[eE][+-]?\d+|n|u|m|k|M|G|T|P|E)?$"
)
_FORMAT_SUFFIXES = (("Ei", 2**60), ("Pi", 2**50), ("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10))


class QuantityError(ValueError):
    """A value that is not a Kubernetes quantity."""


def parse_quantity(quantity: str | int | float | Decimal) -> Decimal:
    """`parse_quantity("500m")` is `Decimal("0.5")`; numbers pass through; anything else raises.

    Kubernetes serialises small quantities as JSON numbers at times, so ints and floats are accepted.
    """
    if isinstance(quantity, bool):
        raise QuantityError(f"{quantity!r} is not a quantity")
    if isinstance(quantity, int | Decimal):
        return Decimal(quantity)
    if isinstance(quantity, float):
        return Decimal(str(quantity))
    match = _QUANTITY.match(quantity.strip())
    if match is None:
        raise QuantityError(f"{quantity!r} is not a quantity (expected a number with an optional suffix)")
    number = Decimal(match["number"])
    suffix = match["suffix"] or ""
    if suffix in _BINARY:
        return number * _BINARY[suffix]
    if suffix in _DECIMAL:
        return number * _DECIMAL[suffix]
    return number.scaleb(int(suffix[1:]))


def format_quantity(value: Decimal) -> str:
    """The shortest exact quantity string: "96", "750m", "768Gi"."""
    if value == value.to_integral_value():
        number = int(value)
        for suffix, factor in _FORMAT_SUFFIXES:
            if number and number % factor == 0:
                return f"{number // factor}{suffix}"
        return str(number)
    millis = (value * 1000).to_integral_value()
    return f"{int(millis)}m"
