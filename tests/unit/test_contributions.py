import random
from collections import Counter
from datetime import date, datetime, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from plugin.kpi.booking import from_epoch_micros, local_day, to_epoch_micros
from plugin.kpi.contributions import (_day, CUSTOMER_FIRST_SECOND, CUSTOMER_VISIT, NO_DAY_AFTER, NO_DAY_BEFORE,
                                      CounterKey, cart_contribution, customer_contribution, delta,
                                      full_contribution, order_contribution)
from plugin.kpi.entities import CartState, OrderState, RefundState

AMS = ZoneInfo("Europe/Amsterdam")
M = 1_000_000


def at(y, m, d, h=12):
    return to_epoch_micros(datetime(y, m, d, h, tzinfo=timezone.utc))


def order(**kw):
    base = dict(order_id="1", version=1, counted=True, booked_at=at(2026, 3, 1), gross_sales=Decimal("100"),
                discounts=Decimal("10"), shipping=Decimal("5"), taxes=Decimal("19.95"), items_sold=2)
    base.update(kw)
    return OrderState(**base)


def test_an_order_books_its_sales_on_its_own_day():
    c = order_contribution(order(), [], None, None, AMS)
    d = date(2026, 3, 1)
    assert c == Counter({CounterKey("orders", d): 1, CounterKey("items_sold", d): 2,
                         CounterKey("gross_sales", d): 100 * M, CounterKey("discounts", d): 10 * M,
                         CounterKey("shipping", d): 5 * M, CounterKey("taxes", d): 19_950_000,
                         # the same sale again under its traffic source, "direct" when unknown
                         CounterKey("src:direct|orders", d): 1, CounterKey("src:direct|gross_sales", d): 100 * M,
                         CounterKey("src:direct|discounts", d): 10 * M,
                         # and under its shop-local hour (12:00 UTC is 13:00 in Amsterdam)
                         CounterKey("hour:13|orders", d): 1, CounterKey("hour:13|items_sold", d): 2,
                         CounterKey("hour:13|gross_sales", d): 100 * M, CounterKey("hour:13|discounts", d): 10 * M,
                         # and under both, for an alert's biggest contributor (its sales net of discounts)
                         CounterKey("hour:13|src:direct|orders", d): 1, CounterKey("hour:13|src:direct|sales", d): 90 * M})


def test_returns_are_attributed_to_the_orders_source_on_the_refund_day():
    refund = RefundState("r", "1", 1, at(2026, 3, 5), returns=Decimal("40"), refunds=Decimal("40"))
    c = order_contribution(order(source="newsletter"), [refund], None, None, AMS)
    assert c[CounterKey("src:newsletter|returns", date(2026, 3, 5))] == 40 * M
    assert c[CounterKey("src:newsletter|orders", date(2026, 3, 1))] == 1


def test_test_deleted_and_missing_orders_contribute_nothing_refunds_included():
    refund = RefundState("r", "1", 1, at(2026, 3, 5), returns=Decimal(10), refunds=Decimal(12))
    assert order_contribution(order(counted=False), [refund], None, None, AMS) == Counter()
    assert order_contribution(order(deleted=True), [refund], None, None, AMS) == Counter()
    assert order_contribution(None, [refund], None, None, AMS) == Counter()


def test_refunds_book_on_their_own_day():
    refund = RefundState("r", "1", 1, at(2026, 3, 5), returns=Decimal("40"), refunded_shipping=Decimal("5"),
                         refunded_taxes=Decimal("8.40"), refunds=Decimal("53.40"), items_returned=1)
    c = order_contribution(order(), [refund], None, None, AMS)
    d = date(2026, 3, 5)
    assert c[CounterKey("returns", d)] == 40 * M
    assert c[CounterKey("refunds", d)] == 53_400_000
    assert c[CounterKey("refunded_taxes", d)] == 8_400_000
    assert c[CounterKey("items_returned", d)] == 1
    assert c[CounterKey("orders", date(2026, 3, 1))] == 1


def test_unpaid_cancellation_reverses_the_sale_on_the_cancel_day_and_moves_no_money():
    o = order(cancelled_at=at(2026, 3, 3), cancel_reverses_sale=True)
    c = order_contribution(o, [], None, None, AMS)
    d = date(2026, 3, 3)
    assert c[CounterKey("orders_cancelled", d)] == 1
    assert c[CounterKey("returns", d)] == 90 * M          # gross − discounts
    assert c[CounterKey("refunded_shipping", d)] == 5 * M
    assert c[CounterKey("refunded_taxes", d)] == 19_950_000
    assert c[CounterKey("refunds", d)] == 0
    # total sales over both days nets to zero
    net = (c[CounterKey("gross_sales", date(2026, 3, 1))] - c[CounterKey("discounts", date(2026, 3, 1))]
           - c[CounterKey("returns", d)] + c[CounterKey("shipping", date(2026, 3, 1))]
           - c[CounterKey("refunded_shipping", d)] + c[CounterKey("taxes", date(2026, 3, 1))]
           - c[CounterKey("refunded_taxes", d)])
    assert net == 0


def test_an_unpaid_cancellation_with_the_refund_shopify_makes_for_it_gives_the_goods_back_once():
    """Cancelling an unpaid order with its items restocked gives a refund of its lines with
    restock type cancel and no money: the cancellation already gave the whole order back, so the
    refund adds no second return (total sales still net to zero); its customer's value too."""
    from plugin.kpi.contributions import customer_value_contribution

    o = order(cancelled_at=at(2026, 3, 3), cancel_reverses_sale=True, customer_key="c:1")
    refund = RefundState("r", "1", 1, at(2026, 3, 3), returns=Decimal("90"), refunded_taxes=Decimal("19.95"),
                         refunds=Decimal("0"), items_returned=0, products=(("Vaas", "90", 0),))
    c = order_contribution(o, [refund], None, None, AMS)
    d = date(2026, 3, 3)
    assert (c[CounterKey("returns", d)], c[CounterKey("refunded_taxes", d)], c[CounterKey("refunds", d)]) == (
        90 * M, 19_950_000, 0)
    assert c[CounterKey("prod:Vaas|returns", d)] == 0
    assert customer_value_contribution([o], {"1": [refund]}, AMS)[CounterKey("clv12_net_sales", date(2026, 3, 1))] == 0


def test_paid_cancellation_only_counts_the_cancellation():
    c = order_contribution(order(cancelled_at=at(2026, 3, 3)), [], None, None, AMS)
    assert c[CounterKey("orders_cancelled", date(2026, 3, 3))] == 1
    assert c[CounterKey("returns", date(2026, 3, 3))] == 0


def test_a_purchase_needs_its_cart_created_on_the_same_shop_local_day():
    same_day = at(2026, 3, 1, 9)
    c = order_contribution(order(cart_token="t"), [], same_day, None, AMS)
    assert c[CounterKey("cart_purchases", date(2026, 3, 1))] == 1
    # cart at 23:50 local on Feb 28, order next day: abandoned on its own day
    before_midnight = to_epoch_micros(datetime(2026, 2, 28, 22, 50, tzinfo=timezone.utc))
    c = order_contribution(order(cart_token="t"), [], before_midnight, None, AMS)
    assert c[CounterKey("cart_purchases", date(2026, 3, 1))] == 0


def test_customer_days_give_new_returning_and_range_pairs():
    d1, d2, d3 = date(2026, 1, 5), date(2026, 2, 1), date(2026, 2, 1)
    c = customer_contribution([d2, d1, d3])  # two orders on Feb 1
    assert c[CounterKey("new_customers", d1)] == 1
    assert c[CounterKey("customers", d1)] == 1 and c[CounterKey("customers", d2)] == 1
    assert c[CounterKey("returning_customers", d1)] == 0
    assert c[CounterKey("returning_customers", d2)] == 1
    assert c[CounterKey(CUSTOMER_VISIT, d1, NO_DAY_BEFORE)] == 1
    assert c[CounterKey(CUSTOMER_VISIT, d2, d1)] == 1
    assert c[CounterKey(CUSTOMER_FIRST_SECOND, d1, d2)] == 1


def test_two_orders_on_the_first_day_make_a_returning_customer_that_day():
    d = date(2026, 1, 5)
    c = customer_contribution([d, d])
    assert c[CounterKey("returning_customers", d)] == 1
    assert c[CounterKey("customers", d)] == 1
    assert c[CounterKey(CUSTOMER_FIRST_SECOND, d, d)] == 1


def test_single_order_customer_has_no_second_day():
    c = customer_contribution([date(2026, 1, 5)])
    assert c[CounterKey(CUSTOMER_FIRST_SECOND, date(2026, 1, 5), NO_DAY_AFTER)] == 1


def test_delta_retracts_the_old_and_adds_the_new():
    old = Counter({CounterKey("orders", date(2026, 1, 1)): 1})
    new = Counter({CounterKey("orders", date(2026, 1, 2)): 1})
    assert delta(old, new) == Counter({CounterKey("orders", date(2026, 1, 1)): -1,
                                       CounterKey("orders", date(2026, 1, 2)): 1})
    assert delta(old, old) == Counter()


def test_carts_count_once_on_their_creation_day():
    cart = CartState("cart", "tok", version=2, created_at=at(2026, 3, 1, 23))  # 00:00 local on Mar 2
    assert cart_contribution(cart, AMS) == Counter({CounterKey("carts", date(2026, 3, 2)): 1,
                                                    CounterKey("hour:00|carts", date(2026, 3, 2)): 1})


def test_full_contribution_joins_orders_refunds_carts_and_customers():
    o = order(customer_key="c:1", cart_token="t")
    cart = CartState("cart", "t", 1, at(2026, 3, 1, 8))
    refund = RefundState("r", "1", 1, at(2026, 3, 2), returns=Decimal(10), refunds=Decimal(10))
    c = full_contribution([refund, o, cart], AMS)
    assert c[CounterKey("cart_purchases", date(2026, 3, 1))] == 1
    assert c[CounterKey("refunds", date(2026, 3, 2))] == 10 * M
    assert c[CounterKey("new_customers", date(2026, 3, 1))] == 1


def test_lifetime_value_counts_the_year_after_the_first_order_less_its_returns():
    from plugin.kpi.contributions import customer_value_contribution
    first = order(order_id="1", booked_at=at(2025, 3, 1), gross_sales=Decimal(100), discounts=Decimal(10))
    within = order(order_id="2", booked_at=at(2026, 2, 28), gross_sales=Decimal(50), discounts=Decimal(0))
    after = order(order_id="3", booked_at=at(2026, 3, 2), gross_sales=Decimal(70), discounts=Decimal(0))
    refunds = {"1": [RefundState("r1", "1", 1, at(2025, 3, 20), returns=Decimal(30))],
               "2": [RefundState("r2", "2", 1, at(2026, 3, 5), returns=Decimal(50))]}   # outside the year
    c = customer_value_contribution([after, within, first], refunds, AMS)
    assert c == Counter({CounterKey("clv12_net_sales", date(2025, 3, 1)): (90 + 50 - 30) * M})


def test_hour_counters_add_up_to_the_day_counters_on_a_25_hour_day():
    from plugin.kpi.contributions import HOUR_COUNTERS, HOUR_PREFIX

    # 2026-10-25 in Amsterdam has 25 hours: 02:00-03:00 happens twice (00:00 and 01:00 UTC)
    states = [order(order_id=str(n), booked_at=at(2026, 10, d, h), cart_token=f"t{n}", checkout_token=f"k{n}")
              for n, (d, h) in enumerate([(24, 22), (24, 23), (25, 0), (25, 1), (25, 2), (25, 12), (25, 22)])]
    states += [CartState("cart", f"t{n}", 1, at(2026, 10, 24, 21)) for n in range(7)]
    states += [CartState("checkout", f"k{n}", 1, at(2026, 10, 25, 1)) for n in range(7)]
    states += [RefundState(f"r{n}", str(n), 1, at(2026, 10, 25, n), returns=Decimal(3), refunds=Decimal(4),
                           items_returned=1) for n in range(4)]
    c = full_contribution(states, AMS)
    for counter in HOUR_COUNTERS:
        for day in (date(2026, 10, 24), date(2026, 10, 25), date(2026, 10, 26)):
            hourly = sum(v for k, v in c.items() if k.day == day and k.name.startswith(HOUR_PREFIX)
                         and k.name.endswith("|" + counter) and "|src:" not in k.name)
            by_source = sum(v for k, v in c.items() if k.day == day and k.name.startswith(HOUR_PREFIX)
                            and "|src:" in k.name and k.name.endswith("|orders"))
            assert by_source == c.get(CounterKey("orders", day), 0)
            assert hourly == c.get(CounterKey(counter, day), 0), (counter, day)
    assert c[CounterKey("hour:02|orders", date(2026, 10, 25))] == 2   # both 02:00s of the long night
    assert c[CounterKey("hour:00|orders", date(2026, 10, 25))] == 1   # 22:00 UTC on the 24th


@pytest.mark.parametrize("zone", ["Europe/Amsterdam", "Asia/Kathmandu", "Australia/Lord_Howe", "America/Sao_Paulo",
                                  "Pacific/Chatham", "UTC"])
def test_the_memoized_local_day_is_the_local_day_of_every_instant(zone):
    """_day memoizes by UTC hour; it must still give every instant its own local date, also in the
    hour that holds local midnight (+05:45, +12:45) and around DST changes (30-minute ones on Lord
    Howe, changes at midnight in São Paulo's history)."""
    tz = ZoneInfo(zone)
    rng = random.Random(zone)
    starts = [datetime(2018, 11, 4, tzinfo=timezone.utc), datetime(2019, 2, 16, tzinfo=timezone.utc),
              datetime(2026, 3, 29, tzinfo=timezone.utc), datetime(2026, 4, 5, tzinfo=timezone.utc),
              datetime(2026, 10, 4, tzinfo=timezone.utc), datetime(2026, 10, 25, tzinfo=timezone.utc)]
    for start in starts:
        base = to_epoch_micros(start)
        # every minute of three days, plus random instants, a second either side of each
        instants = [base + m * 60_000_000 + d for m in range(3 * 24 * 60) for d in (-1_000_000, 0)]
        instants += [base + rng.randrange(3 * 86_400_000_000) for _ in range(2000)]
        for micros in instants:
            assert _day(micros, tz) == local_day(from_epoch_micros(micros), tz), (zone, micros)
