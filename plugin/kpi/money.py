"""Exact money: Decimal amounts, currency minor units, and the fixed-point unit counters store.

Amounts are `Decimal` in the shop's currency from the moment they leave a payload. Counters store
money as integer *micros* (amount × 10^6) so that SQLite, which has no decimal type, sums exactly.
Rounding happens only in plugin.kpi.derived.money, for output.
"""
from __future__ import annotations

from decimal import Decimal, InvalidOperation

MICROS = 10**6

# ISO 4217 minor units that are not 2. Source: ISO 4217 list (as used by Shopify and Stripe).
_MINOR_UNITS = {
    # none
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0,
    "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
    # three
    "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
    # four
    "CLF": 4, "UYW": 4,
}

ZERO = Decimal(0)


class MoneyError(ValueError):
    """An amount in a payload could not be read as an exact decimal."""


def minor_units(currency: str) -> int:
    """Number of decimals of `currency` (ISO 4217 code); 2 when the code is not special."""
    return _MINOR_UNITS.get((currency or "").upper(), 2)


def to_decimal(value: object) -> Decimal:
    """Read an amount from a payload: a decimal string, an int, or a JSON number.

    JSON numbers arrive as floats (Shopify's refund `subtotal: 20`); their shortest repr is the
    decimal the platform wrote, so it is read through `repr`, never through binary arithmetic.
    `None` and "" read as zero.
    """
    if value is None or value == "":
        return ZERO
    if isinstance(value, bool):
        raise MoneyError(f"not an amount: {value!r}")
    if isinstance(value, float):
        value = repr(value)
    try:
        result = Decimal(str(value).strip())
    except InvalidOperation as exc:
        raise MoneyError(f"not an amount: {value!r}") from exc
    if not result.is_finite():
        raise MoneyError(f"not an amount: {value!r}")
    return result


def to_micros(amount: Decimal) -> int:
    """Exact integer micros of `amount`; raises MoneyError if it has more than 6 decimals."""
    scaled = amount * MICROS
    if scaled != scaled.to_integral_value():
        raise MoneyError(f"amount {amount} has more than 6 decimals")
    return int(scaled)
