"""The range customer figures read from the day histograms equal section 3's definitions,
computed by brute force from the orders, for any range."""
import itertools
from datetime import date, datetime, time, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plugin import ingest, report
from plugin.kpi.booking import to_epoch_micros
from plugin.kpi.entities import OrderState
from plugin.shops import add_shop

AMS = ZoneInfo("Europe/Amsterdam")
START = date(2026, 1, 1)
_shops = itertools.count()


def brute_force(orders, a, b):
    """customers(R), new_customers(R) and returning customers of R straight from section 3."""
    by_customer = {}
    for customer, day in orders:
        by_customer.setdefault(customer, []).append(day)
    in_range = {c for c, days in by_customer.items() if any(a <= d <= b for d in days)}
    new = {c for c, days in by_customer.items() if a <= min(days) <= b}
    returning = {c for c in in_range if sum(1 for d in by_customer[c] if d <= b) >= 2}
    return len(in_range), len(new), len(returning)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(orders=st.lists(st.tuples(st.integers(0, 5), st.integers(0, 60)), max_size=40),
       ranges=st.lists(st.tuples(st.integers(0, 60), st.integers(0, 30)), min_size=1, max_size=5))
def test_range_customer_figures_match_the_definition(db, orders, ranges):
    domain = f"cust-{next(_shops)}.myshopify.com"
    with db.transaction() as s:
        shop = add_shop(s, platform="shopify", domain=domain, timezone_name="Europe/Amsterdam", currency="EUR")
        context = ingest.ShopContext.of(shop)
        states = []
        for n, (customer, offset) in enumerate(orders):
            at = to_epoch_micros(datetime.combine(START + timedelta(days=offset), time(12), AMS).astimezone(timezone.utc))
            states.append(OrderState(order_id=str(n), version=1, counted=True, booked_at=at, gross_sales=Decimal(1),
                                     items_sold=1, customer_key=f"c:{customer}"))
        ingest.apply(s, context, states)
    days = [(c, START + timedelta(days=o)) for c, o in orders]
    with db.reading() as s:
        for first, length in ranges:
            a = START + timedelta(days=first)
            b = a + timedelta(days=length)
            k = report.build(s, shop, a, b)["kpis"]
            customers, new, returning = brute_force(days, a, b)
            assert (k["customers"], k["new_customers"]) == (customers, new)
            expected_rate = None if customers == 0 else str(
                (Decimal(returning * 100) / customers).quantize(Decimal("0.01"), ROUND_HALF_UP))
            assert k["returning_customer_rate"] == expected_rate
