"""Derived KPIs (sections 2 to 4) and the report's `kpis` object (section 7).

Inputs are counter sums over a range: money in integer micros (amount × 10^6), counts as ints.
Everything is exact integer arithmetic; rounding (half-up, away from zero at .5) happens once,
at the very end. A ratio whose denominator is zero is None ("no data"), never 0.
"""
from __future__ import annotations

from datetime import date, timedelta
from fractions import Fraction
from typing import Mapping

from .money import MICROS, minor_units


def _round_div(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded half-up (away from zero at .5); denominator > 0."""
    q, r = divmod(abs(numerator), denominator)
    if 2 * r >= denominator:
        q += 1
    return -q if numerator < 0 else q


def _fixed(value: int, decimals: int) -> str:
    """An integer number of 10^-decimals units as text: 1250, 2 → "12.50"; never "-0.00"."""
    sign = "-" if value < 0 else ""
    digits = str(abs(value))
    if decimals == 0:
        return sign + digits
    digits = digits.rjust(decimals + 1, "0")
    return f"{sign}{digits[:-decimals]}.{digits[-decimals:]}"


def money(micros: int, currency: str) -> str:
    """An amount as the report prints it, in the currency's minor units ("12.50", JPY "1200")."""
    return _money(micros, minor_units(currency))


def _money(micros: int, units: int) -> str:
    return _fixed(_round_div(micros, MICROS // 10**units), units)


def net_sales(gross_sales: int, discounts: int, returns: int) -> int:
    """net_sales = gross_sales − discounts − returns (Shopify's "Net sales")."""
    return gross_sales - discounts - returns


def total_sales(net: int, shipping: int, refunded_shipping: int, taxes: int, refunded_taxes: int) -> int:
    """total_sales = net_sales + shipping − refunded_shipping + taxes − refunded_taxes."""
    return net + shipping - refunded_shipping + taxes - refunded_taxes


def average_order_value(gross_sales: int, discounts: int, orders: int, currency: str) -> str | None:
    """AOV = (gross_sales − discounts) / orders, the orders' own days, rounded to the currency."""
    if orders == 0:
        return None
    units = minor_units(currency)
    return _fixed(_round_div(gross_sales - discounts, orders * (MICROS // 10**units)), units)


def percentage(numerator: int, denominator: int) -> str | None:
    """numerator / denominator × 100, rounded half-up to two decimals; None for a zero denominator.

    Numerator and denominator are in the same unit (both counts, or both money in micros).
    """
    if denominator == 0:
        return None
    if denominator < 0:
        numerator, denominator = -numerator, -denominator
    return _fixed(_round_div(numerator * 10_000, denominator), 2)


def refund_rate(refunds: int, gross_sales: int, discounts: int, shipping: int, taxes: int) -> str | None:
    """Refund rate = refunds / (gross_sales − discounts + shipping + taxes) × 100, money."""
    return percentage(refunds, gross_sales - discounts + shipping + taxes)


def return_rate(items_returned: int, items_sold: int) -> str | None:
    """Return rate = items_returned / items_sold × 100 (the article's formula)."""
    return percentage(items_returned, items_sold)


def cancellation_rate(orders_cancelled: int, orders: int) -> str | None:
    """Cancellation rate = orders_cancelled / orders × 100."""
    return percentage(orders_cancelled, orders)


def abandonment_rate(started: int, purchases: int) -> str | None:
    """(carts − purchases) / carts × 100, the article's "(mandjes − aankopen) / mandjes"."""
    return percentage(started - purchases, started)


def returning_customer_rate(returning: int, customers: int) -> str | None:
    """Customers in R with at least two counted orders up to R's last day / customers(R) × 100."""
    return percentage(returning, customers)


def customer_retention_rate(active_at_end: int, new_customers: int, active_at_start: int) -> str | None:
    """CRR = ((E − N) / S) × 100 (section 3): E and S active customers at the end and start of
    the range, N its new customers. The article's example: (220 − 40) / 200 = 90 %."""
    return percentage(active_at_end - new_customers, active_at_start)


def churn_rate(active_at_end: int, new_customers: int, active_at_start: int) -> str | None:
    """Churn rate = 100 − CRR (section 3), from the exact CRR: (S − (E − N)) / S × 100, rounded
    once (100 − the rounded CRR would round twice: 3.125 % retained is 96.88 % churned, not 96.87)."""
    return percentage(active_at_start - (active_at_end - new_customers), active_at_start)


def _month_starts(start: date, end: date):  # noqa: ANN202
    """(first day of the month, first and last day of start..end in it, days in the month), per month."""
    day = start
    while day <= end:
        month_start = day.replace(day=1)
        next_month = (month_start + timedelta(days=32)).replace(day=1)
        last = min(end, next_month - timedelta(days=1))
        yield month_start, day, last, (next_month - month_start).days
        day = last + timedelta(days=1)


def spend_in_range(monthly_micros: Mapping[str, int], start: date, end: date) -> Fraction | None:
    """Marketing spend over start..end: each month's amount spread evenly over its days (section 3).
    None when a month of the range has no amount entered: its spend is not known (not zero; an
    entered 0 is a spend of 0), and a sum without it would make CAC look lower than it is."""
    total = Fraction(0)
    for month_start, first, last, days_in_month in _month_starts(start, end):
        amount = monthly_micros.get(month_start.strftime("%Y-%m"))
        if amount is None:
            return None
        total += Fraction(amount * ((last - first).days + 1), days_in_month)
    return total


def acquisition_cost(spend_micros: Fraction | None, new_customers: int, currency: str) -> str | None:
    """CAC = marketing spend in R / new_customers(R), in the currency's minor units; None without
    new customers or with spend not known for all of R (spend_in_range)."""
    if new_customers == 0 or spend_micros is None:
        return None
    units = minor_units(currency)
    value = spend_micros / new_customers / (MICROS // 10**units)
    return _fixed(_round_div(value.numerator, value.denominator), units)


def lifetime_value(clv_net_sales: int, new_customers: int, currency: str) -> str | None:
    """CLV (12 months) = net sales in the year after their first order of the customers whose
    first order is in R / their number (section 3), in the currency's minor units."""
    if new_customers == 0:
        return None
    units = minor_units(currency)
    return _fixed(_round_div(clv_net_sales, new_customers * (MICROS // 10**units)), units)


def clv_to_cac(clv_net_sales: int, spend_micros: Fraction | None, new_customers: int) -> str | None:
    """CLV : CAC as one number with two decimals (3.20 means 3.20 : 1), from the exact figures (not
    the rounded ones shown beside it): both divide by the same new customers, so it is their net
    sales in their first year / the spend that won them. None where either figure is."""
    if new_customers == 0 or spend_micros is None or spend_micros == 0:
        return None
    ratio = Fraction(clv_net_sales) / spend_micros * 100
    return _fixed(_round_div(ratio.numerator, ratio.denominator), 2)


def change_percent(current: str | int | None, previous: str | int | None) -> str | None:
    """The change of a figure against its comparison, in % of the comparison's size, rounded half-up
    to two decimals as every figure is (section 8; never "-0.00"); None without both figures or
    from zero. Figures are report values (counts, or money and rates as decimal text)."""
    if current is None or previous is None:
        return None
    before = Fraction(str(previous))
    if before == 0:
        return None
    exact = (Fraction(str(current)) - before) / abs(before) * 100
    return _fixed(_round_div(exact.numerator * 100, exact.denominator), 2)


def target_progress(value: str | int | None, target: str | None, rise_is_good: bool) -> str | None:
    """How far a KPI is towards its target, in percent: value / target (or target / value when a
    lower figure is better, 100 when that figure is 0), rounded to two decimals; None when either
    is missing, or the figure it divides by is zero."""
    if value is None or target is None:
        return None
    v, t = Fraction(str(value)), Fraction(str(target))
    numerator, denominator = (v, t) if rise_is_good else (t, v)
    if not rise_is_good and v == 0 and t > 0:
        return "100.00"   # nothing at all where less is better: the target is met
    if denominator == 0:
        return None
    ratio = numerator / denominator * 10_000
    return _fixed(_round_div(ratio.numerator, ratio.denominator), 2)


def kpis(totals: Mapping[str, int], customers: int, new_customers: int, returning: int,
         currency: str) -> dict[str, object]:
    """The section-7 `kpis` object for counter sums over one range.

    `customers`, `new_customers` and `returning` are the range's customer figures, which do not
    add up over days and are therefore passed in rather than read from `totals`.
    """
    get = totals.get
    gross, disc, rets = get("gross_sales", 0), get("discounts", 0), get("returns", 0)
    ship, rship, tax, rtax = get("shipping", 0), get("refunded_shipping", 0), get("taxes", 0), get("refunded_taxes", 0)
    refs, orders = get("refunds", 0), get("orders", 0)
    items_sold, items_returned, cancelled = get("items_sold", 0), get("items_returned", 0), get("orders_cancelled", 0)
    carts, checkouts = get("carts", 0), get("checkouts", 0)
    net = net_sales(gross, disc, rets)
    units = minor_units(currency)
    return {
        "orders": orders,
        "items_sold": items_sold,
        "items_returned": items_returned,
        "orders_cancelled": cancelled,
        "gross_sales": _money(gross, units),
        "discounts": _money(disc, units),
        "returns": _money(rets, units),
        "net_sales": _money(net, units),
        "shipping": _money(ship, units),
        "refunded_shipping": _money(rship, units),
        "taxes": _money(tax, units),
        "refunded_taxes": _money(rtax, units),
        "total_sales": _money(total_sales(net, ship, rship, tax, rtax), units),
        "refunds": _money(refs, units),
        "average_order_value": average_order_value(gross, disc, orders, currency),
        "return_rate": return_rate(items_returned, items_sold),
        "refund_rate": refund_rate(refs, gross, disc, ship, tax),
        "cancellation_rate": cancellation_rate(cancelled, orders),
        "customers": customers,
        "new_customers": new_customers,
        "returning_customers": returning,
        "returning_customer_rate": returning_customer_rate(returning, customers),
        "carts": carts,
        "checkouts": checkouts,
        "cart_abandonment_rate": abandonment_rate(carts, get("cart_purchases", 0)),
        "checkout_abandonment_rate": abandonment_rate(checkouts, get("checkout_purchases", 0)),
        # section 4, until visits are measured: orders from checkouts / checkouts (rounded once)
        "checkout_conversion": percentage(get("checkout_purchases", 0), checkouts),
        "returns_requested": get("returns_requested", 0),
        "returns_approved": get("returns_approved", 0),
    }
