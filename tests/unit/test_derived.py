"""The KPI formulas, with the examples of kpi-definitions.md and its source articles."""
from decimal import Decimal

from plugin.kpi import derived
from plugin.kpi.money import MICROS


def micros(amount: str) -> int:
    return int(Decimal(amount) * MICROS)


def test_section_7_example_is_reproduced_exactly():
    totals = {
        "orders": 12, "items_sold": 30, "items_returned": 2, "orders_cancelled": 1,
        "gross_sales": micros("1234.50"), "discounts": micros("20.00"), "returns": micros("45.00"),
        "shipping": micros("59.40"), "refunded_shipping": 0, "taxes": micros("212.10"),
        "refunded_taxes": micros("7.81"), "refunds": micros("52.81"),
        "carts": 40, "cart_purchases": 10, "checkouts": 25, "checkout_purchases": 10,
    }
    kpis = derived.kpis(totals, customers=11, new_customers=9, returning=2, currency="EUR")
    expected = {
        "orders": 12, "items_sold": 30, "items_returned": 2, "orders_cancelled": 1,
        "gross_sales": "1234.50", "discounts": "20.00", "returns": "45.00", "net_sales": "1169.50",
        "shipping": "59.40", "refunded_shipping": "0.00", "taxes": "212.10", "refunded_taxes": "7.81",
        "total_sales": "1433.19", "refunds": "52.81",
        "average_order_value": "101.21", "return_rate": "6.67", "refund_rate": "3.55", "cancellation_rate": "8.33",
        "customers": 11, "new_customers": 9, "returning_customer_rate": "18.18",
        "carts": 40, "checkouts": 25, "cart_abandonment_rate": "75.00", "checkout_abandonment_rate": "60.00",
    }
    assert {k: kpis[k] for k in expected} == expected


def test_return_rate_is_the_articles_items_returned_over_items_sold():
    # "aantal geretourneerde producten / totaal aantal verkochte producten × 100"
    assert derived.return_rate(5, 200) == "2.50"


def test_cart_abandonment_is_the_articles_carts_minus_purchases_over_carts():
    # "(mandjes − aankopen) / mandjes": 100 carts, 30 purchases → 70 %
    assert derived.abandonment_rate(100, 30) == "70.00"


def test_refund_rate_is_money_back_over_what_was_charged():
    # 52.81 back of 1234.50 − 20.00 + 59.40 + 212.10 = 1486.00 charged
    assert derived.refund_rate(micros("52.81"), micros("1234.50"), micros("20.00"), micros("59.40"),
                               micros("212.10")) == "3.55"


def test_cancellation_rate_is_cancelled_over_orders():
    assert derived.cancellation_rate(1, 12) == "8.33"


def test_zero_denominators_are_no_data_never_zero():
    kpis = derived.kpis({}, customers=0, new_customers=0, returning=0, currency="EUR")
    for key in ("average_order_value", "return_rate", "refund_rate", "cancellation_rate",
                "returning_customer_rate", "cart_abandonment_rate", "checkout_abandonment_rate"):
        assert kpis[key] is None, key
    assert kpis["gross_sales"] == "0.00" and kpis["orders"] == 0


def test_rates_round_half_up_and_can_exceed_100():
    assert derived.percentage(1, 8) == "12.50"
    assert derived.percentage(2, 3) == "66.67"
    assert derived.percentage(1, 200) == "0.50"
    assert derived.percentage(1, 80000) == "0.00"
    assert derived.percentage(1, 40000) == "0.00"          # 0.0025 → 0.00
    assert derived.percentage(1, 20000) == "0.01"          # 0.005 → 0.01 (half-up)
    assert derived.percentage(3, 2) == "150.00"   # refunds of older orders in a quiet range
    assert derived.percentage(-1, 3) == "-33.33"   # more purchases than carts


def test_money_is_rounded_half_up_away_from_zero_and_never_minus_zero():
    assert derived.money(micros("-11.655"), "EUR") == "-11.66"
    assert derived.money(micros("-0.004"), "EUR") == "0.00"
    assert derived.money(micros("2.675"), "EUR") == "2.68"
    assert derived.money(micros("1199.5"), "JPY") == "1200"
    assert derived.money(micros("3.25"), "KWD") == "3.250"


def test_aov_rounds_only_at_the_end_in_the_currency():
    totals = {"orders": 3, "gross_sales": micros("1000"), "discounts": 0}
    assert derived.kpis(totals, 0, 0, 0, "EUR")["average_order_value"] == "333.33"
    assert derived.kpis(totals, 0, 0, 0, "JPY")["average_order_value"] == "333"
    assert derived.kpis(totals, 0, 0, 0, "KWD")["average_order_value"] == "333.333"


def test_total_sales_is_net_plus_shipping_and_taxes_less_their_refunds():
    net = derived.net_sales(100, 10, 20)
    assert net == 70
    assert derived.total_sales(net, 5, 1, 21, 4) == 91


def test_retention_is_the_articles_example():
    # S = 200 active at the start, 20 lapse, 40 new, E = 220 → (220 − 40) / 200 = 90 %
    assert derived.customer_retention_rate(220, 40, 200) == "90.00"
    assert derived.churn_rate(220, 40, 200) == "10.00"
    assert derived.customer_retention_rate(5, 0, 0) is None and derived.churn_rate(5, 0, 0) is None
    assert derived.churn_rate(-25, 0, 200) == "112.50"
    # rounded once: 1 of 32 retained is 3.125 % → 3.13, and 96.875 % churned → 96.88 (100 − 3.13 = 96.87)
    assert derived.customer_retention_rate(1, 0, 32) == "3.13" and derived.churn_rate(1, 0, 32) == "96.88"


def test_spend_is_spread_evenly_over_each_months_days():
    from datetime import date
    from fractions import Fraction
    spend = {"2026-02": 280 * MICROS_PER, "2026-03": 310 * MICROS_PER}
    # 14 of February's 28 days and 10 of March's 31
    assert derived.spend_in_range(spend, date(2026, 2, 15), date(2026, 3, 10)) == Fraction(140 * MICROS_PER + 100 * MICROS_PER)
    # a month with nothing entered: the spend is not known (an entered 0 is known)
    assert derived.spend_in_range(spend, date(2026, 3, 25), date(2026, 4, 2)) is None
    assert derived.spend_in_range({**spend, "2026-04": 0}, date(2026, 3, 25), date(2026, 4, 2)) == 70 * MICROS_PER


def test_acquisition_cost_is_spend_over_new_customers():
    from fractions import Fraction
    assert derived.acquisition_cost(Fraction(1000 * MICROS_PER), 3, "EUR") == "333.33"
    assert derived.acquisition_cost(Fraction(1000 * MICROS_PER), 0, "EUR") is None
    assert derived.acquisition_cost(Fraction(0), 3, "EUR") == "0.00"      # nothing spent: nothing per customer
    assert derived.acquisition_cost(None, 3, "EUR") is None               # spend not entered


def test_clv_to_cac_is_the_ratio_of_the_exact_figures():
    from fractions import Fraction
    # CLV 10.00 (30.00 over 3 customers) against CAC 1/3 (1.00 over 3): 30 : 1, not 10.00 / 0.33 = 30.30
    assert derived.clv_to_cac(30 * MICROS_PER, Fraction(1 * MICROS_PER), 3) == "30.00"
    assert derived.clv_to_cac(30 * MICROS_PER, Fraction(0), 3) is None
    assert derived.clv_to_cac(30 * MICROS_PER, None, 3) is None and derived.clv_to_cac(0, Fraction(1), 0) is None


def test_target_progress_respects_which_way_is_good():
    assert derived.target_progress("800.00", "1000.00", True) == "80.00"
    assert derived.target_progress("4.00", "2.00", False) == "50.00"      # return rate twice its target
    assert derived.target_progress(None, "2.00", False) is None
    assert derived.target_progress("0.00", "2.00", False) == "100.00"   # none at all: the target is met
    assert derived.target_progress("0.00", "0.00", False) is None and derived.target_progress("5", "0", True) is None


MICROS_PER = 1_000_000


def test_a_change_is_a_share_of_the_comparisons_size_rounded_half_up_never_minus_zero():
    assert derived.change_percent("801.00", "800.00") == "0.13"      # +0.125 % exactly: half-up
    assert derived.change_percent("799.00", "800.00") == "-0.13"
    assert derived.change_percent("-5.00", "-10.00") == "50.00"      # against a negative figure: its size
    assert derived.change_percent(3, 1) == "200.00"
    assert derived.change_percent("100.00", "100.03") == "-0.03"
    assert derived.change_percent("100000.00", "100000.01") == "0.00"   # rounds to zero: no "-0.00"
    assert derived.change_percent("5.00", "0.00") is None and derived.change_percent(None, "1") is None
    assert derived.change_percent("5.00", None) is None
