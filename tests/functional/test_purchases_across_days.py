"""Section 8: "A purchase in R is a counted order booked in R whose cart_token (checkout_token) names
a cart (checkout) created in R; a cart created before midnight and ordered after it is abandoned on
its own day." A range holding both days counts the purchase (found in a review: the range summed
the one-day figures, so every evening cart ordered after midnight stayed abandoned in a week)."""
from datetime import date

from plugin import report
from plugin.shops import find_shop
from tests.helpers import SHOP, payload


def kpis(db, start, end):  # noqa: ANN001, ANN201
    with db.reading() as session:
        return report.build(session, find_shop(session, SHOP), date.fromisoformat(start), date.fromisoformat(end))


def order(**changes):  # noqa: ANN003, ANN201
    data = payload("shopify", "orders-create")
    data.update(test=False, cancelled_at=None, financial_status="paid")
    data.update(changes)
    return data


def test_a_cart_ordered_after_midnight_is_bought_in_a_range_holding_both_days(send, db, shopify_shop):
    cart = payload("shopify", "carts-create")
    cart.update(token="cart-xmidnight", id="cart-xmidnight",
                created_at="2026-03-01T23:50:00+01:00", updated_at="2026-03-01T23:50:00+01:00")
    assert send("shopify", "carts/create", cart).status_code == 200
    assert send("shopify", "orders/create", order(
        cart_token="cart-xmidnight", created_at="2026-03-02T00:10:00+01:00",
        processed_at="2026-03-02T00:10:00+01:00", updated_at="2026-03-02T00:10:00+01:00")).status_code == 200
    both = kpis(db, "2026-03-01", "2026-03-02")
    assert (both["kpis"]["carts"], both["kpis"]["orders"]) == (1, 1)
    assert both["kpis"]["cart_abandonment_rate"] == "0.00"                      # the range: bought
    assert [d["cart_abandonment_rate"] for d in both["days"]] == ["100.00", None]   # its own day: abandoned
    assert kpis(db, "2026-03-01", "2026-03-01")["kpis"]["cart_abandonment_rate"] == "100.00"
    assert kpis(db, "2026-03-02", "2026-03-02")["kpis"]["cart_abandonment_rate"] is None   # no cart created
    week = kpis(db, "2026-02-23", "2026-03-08")["kpis"]
    assert week["cart_abandonment_rate"] == "0.00"


def test_a_purchase_days_after_its_cart_counts_only_in_ranges_holding_the_carts_day(send, db, shopify_shop):
    cart = payload("shopify", "carts-create")
    cart.update(token="cart-monday", id="cart-monday",
                created_at="2026-03-02T10:00:00+01:00", updated_at="2026-03-02T10:00:00+01:00")
    send("shopify", "carts/create", cart)
    send("shopify", "orders/create", order(
        cart_token="cart-monday", created_at="2026-03-05T09:00:00+01:00",
        processed_at="2026-03-05T09:00:00+01:00", updated_at="2026-03-05T09:00:00+01:00"))
    assert kpis(db, "2026-03-02", "2026-03-08")["kpis"]["cart_abandonment_rate"] == "0.00"
    assert kpis(db, "2026-03-02", "2026-03-04")["kpis"]["cart_abandonment_rate"] == "100.00"   # not yet ordered
    assert kpis(db, "2026-03-03", "2026-03-08")["kpis"]["cart_abandonment_rate"] is None      # cart not in R
