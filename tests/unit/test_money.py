from decimal import Decimal

import pytest

from plugin.kpi.derived import money
from plugin.kpi.money import MoneyError, minor_units, to_decimal, to_micros


@pytest.mark.parametrize("currency, units", [("EUR", 2), ("JPY", 0), ("VND", 0), ("KWD", 3), ("usd", 2)])
def test_minor_units_follow_iso_4217(currency, units):
    assert minor_units(currency) == units


@pytest.mark.parametrize("amount, currency, text", [
    ("12.5", "EUR", "12.50"), ("1200", "JPY", "1200"), ("1199.5", "JPY", "1200"), ("3.25", "KWD", "3.250"),
    ("0.005", "EUR", "0.01"), ("-0.004", "EUR", "0.00"), ("-11.655", "EUR", "-11.66"), ("2.675", "EUR", "2.68"),
])
def test_format_money_rounds_half_up_to_the_currency_and_never_prints_minus_zero(amount, currency, text):
    assert money(to_micros(Decimal(amount)), currency) == text


def test_json_numbers_are_read_as_the_decimal_the_platform_wrote():
    # 0.1 + 0.2 in binary floats is 0.30000000000000004; read through repr it is exact
    assert to_decimal(0.1) + to_decimal(0.2) == Decimal("0.3")
    assert to_decimal(20) == Decimal(20)
    assert to_decimal(None) == 0 and to_decimal("") == 0


@pytest.mark.parametrize("bad", ["abc", "NaN", "Infinity", True, "1,5"])
def test_unreadable_amounts_raise_money_error(bad):
    with pytest.raises(MoneyError):
        to_decimal(bad)


def test_micros_are_exact_and_refuse_to_round():
    assert to_micros(Decimal("19.99")) == 19_990_000
    assert to_micros(Decimal("-3.250")) == -3_250_000
    with pytest.raises(MoneyError):
        to_micros(Decimal("0.0000001"))
