"""Kubernetes resource quantities ("500m", "16Gi") as Decimals and back.

Parsing is lightkube's; formatting picks the shortest exact form so summaries read like kubectl's.
"""

from __future__ import annotations

from decimal import Decimal

from lightkube.utils.quantity import parse_quantity as _lightkube_parse

_BINARY_SUFFIXES = (("Ei", 2**60), ("Pi", 2**50), ("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10))


class QuantityError(ValueError):
    """A string that is not a Kubernetes quantity."""


def parse_quantity(text: str) -> Decimal:
    """`parse_quantity("500m")` is `Decimal("0.5")`; raises QuantityError for anything else."""
    try:
        value = _lightkube_parse(text)
    except (ValueError, ArithmeticError) as error:
        raise QuantityError(f"invalid quantity {text!r}") from error
    if value is None:
        raise QuantityError(f"invalid quantity {text!r}")
    return Decimal(value)


def format_quantity(value: Decimal) -> str:
    """The shortest exact quantity string: "96", "750m", "768Gi"."""
    if value == value.to_integral_value():
        number = int(value)
        for suffix, factor in _BINARY_SUFFIXES:
            if number and number % factor == 0:
                return f"{number // factor}{suffix}"
        return str(number)
    millis = (value * 1000).to_integral_value()
    return f"{int(millis)}m"
