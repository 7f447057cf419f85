"""What a channel says about an alert event: texts, Slack's formatting, without a database."""
from datetime import datetime, timezone

from plugin.alerts import channels
from plugin.alerts.models import AlertEvent
from plugin.models import Shop

SHOP = Shop(id=1, platform="shopify", domain="kaas.myshopify.com", name="Kaas & Co <Utrecht>", currency="EUR",
            timezone="Europe/Amsterdam")
AT = datetime(2026, 3, 25, 13, tzinfo=timezone.utc)


def event(kind="firing", rule=None, contributor=None, kpi="orders", value=3.0, normal=30.0, change=-90.0):
    return AlertEvent(id=7, shop_id=1, rule_id=None, rule_key="orders_drop_today", incident=1, kind=kind, at=AT,
                      kpi=kpi, value=value, normal=normal, change=change,
                      details={"figures": {}, "series": [], "contributor": contributor,
                               "rule": rule or {"kind": "drop", "window": "today"}})


def test_slack_shows_shop_product_and_source_names_literally():
    """Slack reads <…> as a link or a mention: a traffic source named "<!channel>" (a visitor's
    own utm_source) would ping the whole channel; & < > go as entities, the panel link stays a link."""
    contributor = {"by": "source", "name": "<!channel>", "observed": 1, "normal": 20, "money": False}
    message = channels.alert_message(event(contributor=contributor), SHOP, "nl", {"PUBLIC_URL": "https://k.example"})
    text = channels.slack_text(message)
    body, link = text.rsplit("\n", 1)
    assert "<" not in body and ">" not in body
    assert "Kaas &amp; Co &lt;Utrecht&gt;" in body and "&lt;!channel&gt;" in body
    assert link == f"<{message['link'].replace('&', '&amp;')}|Kompas>" and link.startswith("<https://k.example/panel/")


def test_a_threshold_reminder_says_it_is_one():
    rule = {"kind": "threshold", "window": "hours", "window_hours": 24, "threshold": 100.0, "direction": "below"}
    first, again = (channels.alert_message(event(kind, rule=rule, kpi="net_sales", value=40.0, normal=None,
                                                 change=None), SHOP, language, {})["subject"]
                    for kind, language in (("firing", "nl"), ("repeat", "nl")))
    assert again == "Nog steeds: " + first
    assert channels.alert_message(event("repeat", rule=rule, kpi="net_sales", value=40.0, normal=None, change=None),
                                  SHOP, "en", {})["subject"].startswith("Still: Net sales")


def test_open_kompas_leads_to_the_panel_inside_the_shops_admin():
    """The panel gets its session token from the shop's admin: a Shopify merchant opens the app in
    the Shopify admin, a WooCommerce merchant the plugin's page in wp-admin (Kompas's bare /panel/
    has no token to show anything with)."""
    woo = Shop(id=2, platform="woocommerce", domain="https://winkel.example", currency="EUR",
               timezone="Europe/Amsterdam")
    config = {"PUBLIC_URL": "https://k.example", "SHOPIFY_API_KEY": "client-id-123"}
    assert channels.panel_link(config, SHOP, event()) == "https://kaas.myshopify.com/admin/apps/client-id-123"
    assert channels.panel_link(config, woo, event()) == "https://winkel.example/wp-admin/admin.php?page=kompas"
    demo = channels.panel_link({"PUBLIC_URL": "https://k.example"}, SHOP, event())
    assert demo == "https://k.example/panel/?shop=kaas.myshopify.com&alert=7#alerts"
    # a WordPress under /Winkel: the shop's key folds the path's case, the link must not
    capital = Shop(id=3, platform="woocommerce", domain="https://winkel.example/winkel",
                   site_url="https://winkel.example/Winkel", currency="EUR", timezone="Europe/Amsterdam")
    assert channels.panel_link(config, capital, event()) == \
        "https://winkel.example/Winkel/wp-admin/admin.php?page=kompas"
    # WordPress in its own directory: its wp-admin, as its plugin connected from it, not the site's
    own = Shop(id=4, platform="woocommerce", domain="https://winkel.example", site_url="https://winkel.example",
               admin_url="https://winkel.example/wp/wp-admin/", currency="EUR", timezone="Europe/Amsterdam")
    assert channels.panel_link(config, own, event()) == "https://winkel.example/wp/wp-admin/admin.php?page=kompas"


def test_a_merchants_rule_is_titled_by_what_it_watches_wherever_it_is_shown():
    """The rules table, the alert history and the messages name a merchant's rule by its settings
    (kept with each event), as several would otherwise all read "Custom rule"; a default rule keeps
    its own name."""
    rule = {"kind": "drop", "window": "hours", "window_hours": 3, "change_pct": 12.5}
    assert channels.rule_title("custom_3", "en", "orders", rule) == "Custom rule: Orders · Last 3 hours · -12.5%"
    assert channels.rule_title("custom_4", "nl", "net_sales", {"kind": "threshold", "window": "today",
                                                                "threshold": "200", "direction": "above"}) == \
        "Eigen regel: Netto-omzet · Vandaag tot nu · boven €\xa0200,00"
    assert channels.rule_title("custom_5", "en", "orders", {"kind": "drop", "window": "cusum", "window_hours": 168,
                                                            "change_pct": 50}) == \
        "Custom rule: Orders · Since the drop began (last week) · -50.0%"
    assert channels.rule_title("no_orders", "en", "orders", rule) == "No orders for much longer than usual"
    custom = event(rule=rule)
    custom.rule_key = "custom_3"
    message = channels.alert_message(custom, SHOP, "en", {})
    assert message["title"] == "Custom rule: Orders · Last 3 hours · -12.5%"


def test_a_fall_of_carts_is_told_with_what_their_orders_did_over_the_same_time():
    """carts_drop_cusum fires only when the orders point down too: the message says how far, in
    both languages, and its recovery does not repeat it."""
    rule = {"kind": "drop", "window": "cusum", "window_hours": 168, "change_pct": 50}
    fell = event(kpi="carts", value=34.0, normal=69.0, change=-50.7, rule=rule)
    fell.rule_key = "carts_drop_cusum"
    fell.details["figures"] = {"window_start": "2026-03-25T11:00:00+00:00",
                               "confirmed": {"kpi": "orders", "value": 11.0, "normal": 22.5}}
    nl = channels.alert_message(fell, SHOP, "nl", {})
    en = channels.alert_message(fell, SHOP, "en", {})
    assert nl["subject"].startswith("Winkelwagens 51% onder normaal") and en["subject"].startswith("Carts 51% below")
    assert "Bestellingen in dezelfde tijd: 11 tegen normaal 22,5." in nl["notes"]
    assert "Orders over the same time: 11 against a normal of 22.5." in en["notes"]
    assert nl["title"] == "Winkelwagens en bestellingen sinds enige tijd ver onder normaal"
    fell.kind = "resolved"
    assert not any("dezelfde tijd" in note for note in channels.alert_message(fell, SHOP, "nl", {})["notes"])
