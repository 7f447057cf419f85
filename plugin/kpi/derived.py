"""Derived KPIs (sections 2 to 4) and the report's `kpis` object (section 7).

Inputs are counter sums over a range: money in micros, counts as ints. A ratio whose denominator
is zero is None ("no data"), never 0. Rounding happens only here, at the very end.
"""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Mapping

from .money import MICROS, format_money, round_money

HUNDRED = Decimal(100)
TWO_PLACES = Decimal("0.01")


def _money(totals: Mapping[str, int], name: str) -> Decimal:
    return Decimal(totals.get(name, 0)) / MICROS


def net_sales(gross_sales: Decimal, discounts: Decimal, returns: Decimal) -> Decimal:
    """net_sales = gross_sales − discounts − returns (Shopify's "Net sales")."""
    return gross_sales - discounts - returns


def total_sales(net: Decimal, shipping: Decimal, refunded_shipping: Decimal, taxes: Decimal,
                refunded_taxes: Decimal) -> Decimal:
    """total_sales = net_sales + shipping − refunded_shipping + taxes − refunded_taxes."""
    return net + shipping - refunded_shipping + taxes - refunded_taxes


def average_order_value(gross_sales: Decimal, discounts: Decimal, orders: int) -> Decimal | None:
    """AOV = (gross_sales − discounts) / orders, unrounded; None without orders."""
    if orders == 0:
        return None
    return (gross_sales - discounts) / Decimal(orders)


def percentage(numerator: Decimal | int, denominator: Decimal | int) -> Decimal | None:
    """numerator / denominator × 100, rounded half-up to two decimals; None for a zero denominator."""
    if denominator == 0:
        return None
    value = Decimal(numerator) * HUNDRED / Decimal(denominator)
    return value.quantize(TWO_PLACES, rounding=ROUND_HALF_UP)


def refund_rate(refunds: Decimal, gross_sales: Decimal, discounts: Decimal, shipping: Decimal,
                taxes: Decimal) -> Decimal | None:
    """Refund rate = refunds / (gross_sales − discounts + shipping + taxes) × 100, money."""
    return percentage(refunds, gross_sales - discounts + shipping + taxes)


def return_rate(items_returned: int, items_sold: int) -> Decimal | None:
    """Return rate = items_returned / items_sold × 100 (the article's formula)."""
    return percentage(items_returned, items_sold)


def cancellation_rate(orders_cancelled: int, orders: int) -> Decimal | None:
    """Cancellation rate = orders_cancelled / orders × 100."""
    return percentage(orders_cancelled, orders)


def abandonment_rate(started: int, purchases: int) -> Decimal | None:
    """(carts − purchases) / carts × 100, the article's "(mandjes − aankopen) / mandjes"."""
    return percentage(started - purchases, started)


def returning_customer_rate(returning: int, customers: int) -> Decimal | None:
    """Customers in R with at least two counted orders up to R's last day / customers(R) × 100."""
    return percentage(returning, customers)


def _rate(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:f}"


def kpis(totals: Mapping[str, int], customers: int, new_customers: int, returning: int,
         currency: str) -> dict[str, object]:
    """The section-7 `kpis` object for counter sums over one range.

    `customers`, `new_customers` and `returning` are the range's customer figures, which do not
    add up over days and are therefore passed in rather than read from `totals`.
    """
    gross = _money(totals, "gross_sales")
    disc = _money(totals, "discounts")
    rets = _money(totals, "returns")
    ship = _money(totals, "shipping")
    rship = _money(totals, "refunded_shipping")
    tax = _money(totals, "taxes")
    rtax = _money(totals, "refunded_taxes")
    refs = _money(totals, "refunds")
    orders = totals.get("orders", 0)
    net = net_sales(gross, disc, rets)
    aov = average_order_value(gross, disc, orders)
    carts = totals.get("carts", 0)
    checkouts = totals.get("checkouts", 0)
    return {
        "orders": orders,
        "items_sold": totals.get("items_sold", 0),
        "items_returned": totals.get("items_returned", 0),
        "orders_cancelled": totals.get("orders_cancelled", 0),
        "gross_sales": format_money(gross, currency),
        "discounts": format_money(disc, currency),
        "returns": format_money(rets, currency),
        "net_sales": format_money(net, currency),
        "shipping": format_money(ship, currency),
        "refunded_shipping": format_money(rship, currency),
        "taxes": format_money(tax, currency),
        "refunded_taxes": format_money(rtax, currency),
        "total_sales": format_money(total_sales(net, ship, rship, tax, rtax), currency),
        "refunds": format_money(refs, currency),
        "average_order_value": None if aov is None else format_money(round_money(aov, currency), currency),
        "return_rate": _rate(return_rate(totals.get("items_returned", 0), totals.get("items_sold", 0))),
        "refund_rate": _rate(refund_rate(refs, gross, disc, ship, tax)),
        "cancellation_rate": _rate(cancellation_rate(totals.get("orders_cancelled", 0), orders)),
        "customers": customers,
        "new_customers": new_customers,
        "returning_customer_rate": _rate(returning_customer_rate(returning, customers)),
        "carts": carts,
        "checkouts": checkouts,
        "cart_abandonment_rate": _rate(abandonment_rate(carts, totals.get("cart_purchases", 0))),
        "checkout_abandonment_rate": _rate(abandonment_rate(checkouts, totals.get("checkout_purchases", 0))),
        "returns_requested": totals.get("returns_requested", 0),
        "returns_approved": totals.get("returns_approved", 0),
    }
