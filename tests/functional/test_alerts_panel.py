"""The panel's alerts section through the test client: authentication, rules, channels, the test
notification through a real SMTP server, and failed deliveries."""
import json

import pytest
import responses
from sqlalchemy import select

from plugin.alerts.models import AlertChannel, AlertRule
from plugin.alerts.rules import DEFAULT_RULES
from plugin.panel.auth import mint_session_token
from plugin.shops import add_shop
from tests.alerts_support import smtp_server_fixture  # noqa: F401
from tests.helpers import SHOP, SHOPIFY_SECRET, PANEL_API_KEY as API_KEY, panel_bearer as bearer



@pytest.fixture
def panel(make_app, app, smtp_server):
    _, smtp = smtp_server
    return make_app(SHOPIFY_API_KEY=API_KEY, **smtp).test_client()


def rule_id(db, key, shop_id):
    with db.reading() as s:
        return s.scalar(select(AlertRule.id).where(AlertRule.key == key, AlertRule.shop_id == shop_id))


@pytest.mark.parametrize("method,path", [("GET", "/panel/alerts/state.json"), ("POST", "/panel/alerts/rules/1"),
                                         ("POST", "/panel/alerts/rules"), ("POST", "/panel/alerts/channels"),
                                         ("DELETE", "/panel/alerts/channels/1"), ("POST", "/panel/alerts/test")])
def test_every_alerts_endpoint_needs_a_session_token(panel, shopify_shop, method, path):
    for headers in ({}, {"Authorization": "Bearer nonsense"}):
        r = panel.open(path, method=method, json={}, headers=headers)
        assert r.status_code == 401 and r.headers["X-Shopify-Retry-Invalid-Session-Request"] == "1"


def test_the_panel_page_has_the_alerts_section(panel, shopify_shop):
    token = mint_session_token(SHOP, api_key=API_KEY, secret=SHOPIFY_SECRET)
    html = panel.get(f"/panel/?id_token={token}&lang=nl").get_data(as_text=True)
    assert 'id="alerts"' in html and "Meldingen" in html and "panel/alerts.js" in html
    script = panel.get("/panel/static/panel/alerts.js")
    assert script.status_code == 200 and "/panel/alerts" in script.get_data(as_text=True)
    script.close()


def test_state_lists_the_default_rules_in_the_merchants_language(panel, shopify_shop):
    body = panel.get("/panel/alerts/state.json?lang=en", headers=bearer()).get_json()
    assert [r["key"] for r in body["rules"]] == [k for k, _ in DEFAULT_RULES]
    titles = {r["key"]: r["title"] for r in body["rules"]}
    assert titles["no_orders"] == "No orders for much longer than usual"
    assert body["firing"] == [] and body["events"] == [] and body["channels"] == [] and body["failures"] == []
    nl = panel.get("/panel/alerts/state.json?lang=nl", headers=bearer()).get_json()
    assert nl["rules"][0]["status_text"] == "Normaal"


def test_changing_a_rule_checks_every_value(panel, db, shopify_shop):
    rid = rule_id(db, "orders_drop_today", shopify_shop.id)
    r = panel.post(f"/panel/alerts/rules/{rid}", headers=bearer(), json={
        "change_pct": "30", "for_minutes": 15, "repeat_minutes": 0, "quiet_start": "22:00", "quiet_end": "7:00",
        "muted_until": "2026-12-24T18:00:00+01:00", "enabled": False, "reference_hours": 6})
    assert r.status_code == 200, r.get_json()
    with db.reading() as s:
        rule = s.get(AlertRule, rid)
        assert (rule.change_pct, rule.for_minutes, rule.repeat_minutes, rule.quiet_start, rule.quiet_end, rule.enabled,
                rule.reference_hours) == (30.0, 15, 0, "22:00", "07:00", False, 6)
        assert rule.muted_until.replace(tzinfo=None).isoformat() == "2026-12-24T17:00:00"
    for bad in ({"change_pct": -5}, {"quiet_start": "25:00"}, {"kpi": "weather"}, {"enabled": "yes"},
                {"status": "ok"}, {"muted_until": "tomorrow"}, {"window": "silence", "kpi": "net_sales"},
                {"reference_hours": -1}, {"reference_hours": 24 * 28 + 1}, {"reference_hours": 1.5}):
        assert panel.post(f"/panel/alerts/rules/{rid}", headers=bearer(), json=bad).status_code == 400, bad


def test_a_rule_of_another_shop_is_not_found(panel, db, shopify_shop):
    with db.transaction() as s:
        other = add_shop(s, platform="shopify", domain="ander.myshopify.com", timezone_name="Europe/Amsterdam",
                         currency="EUR")
    rid = rule_id(db, "orders_drop_today", other.id)
    assert panel.post(f"/panel/alerts/rules/{rid}", headers=bearer(), json={"enabled": False}).status_code == 404


def test_a_threshold_rule_can_be_added(panel, db, shopify_shop):
    r = panel.post("/panel/alerts/rules?lang=nl", headers=bearer(), json={
        "kpi": "net_sales", "kind": "threshold", "window": "hours", "window_hours": 24, "threshold": "250",
        "direction": "below"})
    assert r.status_code == 201 and r.get_json()["threshold"] == "250"
    assert r.get_json()["title"] == "Eigen regel: Netto-omzet · Laatste 24 uur · onder €\xa0250,00"
    assert panel.post("/panel/alerts/rules", headers=bearer(), json={"kind": "threshold", "threshold": ""}).status_code == 400
    # at midnight "today so far" is 0, below any limit: such a rule would fire every night
    nightly = panel.post("/panel/alerts/rules?lang=nl", headers=bearer(), json={
        "kpi": "net_sales", "kind": "threshold", "window": "today", "threshold": "500", "direction": "below"})
    assert nightly.status_code == 400 and "gaat elke nacht af" in nightly.get_json()["error_text"]
    above = panel.post("/panel/alerts/rules", headers=bearer(), json={
        "kpi": "refunds", "kind": "threshold", "window": "today", "threshold": "200", "direction": "above"})
    assert above.status_code == 201   # "refunds today above 200" is fine: it only rises through the day
    impossible = panel.post("/panel/alerts/rules", headers=bearer(), json={
        "kpi": "orders", "kind": "drop", "window": "today", "change_pct": 150})
    assert impossible.status_code == 400


def test_a_drop_rule_can_be_added_and_says_what_it_watches(panel, db, shopify_shop):
    """The panel's add-rule form offers the KPIs a rule can watch; a drop against normal gets the
    defaults' minimum volume unless it says its own, so that two orders never fire it."""
    state = panel.get("/panel/alerts/state.json?lang=en", headers=bearer()).get_json()
    assert [k["key"] for k in state["kpis"]] == ["orders", "net_sales", "refunds", "checkout_conversion",
                                                 "cart_abandonment_rate", "return_rate", "carts"]
    assert (state["kpis"][2]["label"], state["kpis"][6]["label"]) == ("Refund amount", "Carts")
    r = panel.post("/panel/alerts/rules?lang=en", headers=bearer(), json={
        "kpi": "checkout_conversion", "kind": "drop", "window": "today", "change_pct": "25"})
    body = r.get_json()
    assert r.status_code == 201 and (body["min_volume"], body["change_pct"]) == (12, 25)
    assert body["title"] == "Custom rule: Checkout conversion · Today so far · -25.0%"
    r = panel.post("/panel/alerts/rules?lang=en", headers=bearer(), json={
        "kpi": "orders", "kind": "rise", "window": "hours", "window_hours": 1, "change_pct": 50, "min_volume": 40})
    assert r.get_json()["min_volume"] == 40 and r.get_json()["title"].endswith("· The last hour · +50.0%")


def test_each_rule_names_what_its_minimum_volume_counts(panel, db, shopify_shop):
    """Beside a rule's minimum volume the panel says what it counts, in the merchant's language."""
    state = panel.get("/panel/alerts/state.json?lang=nl", headers=bearer()).get_json()
    units = {rule["key"]: rule["volume_text"] for rule in state["rules"]}
    assert (units["orders_drop_today"], units["carts_drop_cusum"], units["checkout_conversion_drop"],
            units["cart_abandonment_rise"], units["return_rate_rise"], units["refunds_rise"]) == (
        "bestellingen", "winkelwagens", "afrekenpogingen", "winkelwagens", "verkochte artikelen", "bestellingen")
    english = panel.get("/panel/alerts/state.json?lang=en", headers=bearer()).get_json()
    assert {rule["key"]: rule["volume_text"] for rule in english["rules"]}["return_rate_rise"] == "items sold"


def test_channels_test_notification_and_failures(panel, db, shopify_shop, smtp_server):
    mailbox, _ = smtp_server
    r = panel.post("/panel/alerts/channels", headers=bearer(), json={
        "kind": "email", "target": "owner@shop.example", "language": "en", "digest_weekly": True})
    assert r.status_code == 201
    email_id = r.get_json()["id"]
    slack = panel.post("/panel/alerts/channels", headers=bearer(), json={
        "kind": "slack", "target": "https://hooks.slack.com/services/T/B/X"}).get_json()
    hook = panel.post("/panel/alerts/channels", headers=bearer(), json={
        "kind": "webhook", "target": "https://merchant.example/hook"}).get_json()
    assert len(hook["secret"]) == 48   # generated, shown to the merchant to verify signatures with
    for bad in ({"kind": "email", "target": "not an address"}, {"kind": "sms", "target": "+31"},
                {"kind": "slack", "target": "hooks.slack.com"}, {"kind": "slack", "target": "https://x.example",
                                                                 "digest_daily": True}):
        assert panel.post("/panel/alerts/channels", headers=bearer(), json=bad).status_code == 400, bad
    assert panel.delete(f"/panel/alerts/channels/{hook['id']}", headers=bearer()).status_code == 200

    with responses.RequestsMock() as mocked:
        mocked.post("https://hooks.slack.com/services/T/B/X", status=403, body="invalid_token")
        r = panel.post("/panel/alerts/test", headers=bearer(), json={})
    results = {x["channel"]: x for x in r.get_json()["results"]}
    assert results[email_id]["status"] == "sent"
    assert results[slack["id"]]["status"] == "pending" and "403" in results[slack["id"]]["error"]
    (message,) = mailbox.messages
    assert message["To"] == "owner@shop.example" and message["Subject"].startswith("Test notification from Kompas")
    state = panel.get("/panel/alerts/state.json?lang=en", headers=bearer()).get_json()
    assert [e["kind"] for e in state["events"]] == ["test"]
    (failure,) = state["failures"]
    assert failure["channel"] == "https://hooks.slack.com/services/T/B/X" and failure["attempts"] == 1
    assert "403" in failure["error"] and failure["status"] == "pending"
    with db.reading() as s:
        assert s.scalar(select(AlertChannel.digest_weekly).where(AlertChannel.id == email_id)) is True


def test_a_test_notification_another_run_is_sending_is_reported_as_such(panel, db, shopify_shop, monkeypatch):
    """A scheduler run may claim the fresh test notification before the panel does (both take due
    rows): the panel then says it is on its way, in the merchant's language, not an empty status."""
    from plugin.alerts import outbox

    panel.post("/panel/alerts/channels", headers=bearer(), json={"kind": "slack",
                                                                 "target": "https://hooks.slack.com/services/T/B/X"})
    real_claim = outbox.claim

    def scheduler_first(db_, notification_id, now):   # the other run's claim, for real, then ours
        real_claim(db_, notification_id, now)
        return real_claim(db_, notification_id, now)

    monkeypatch.setattr(outbox, "claim", scheduler_first)
    r = panel.post("/panel/alerts/test?lang=nl", headers=bearer(), json={})
    (result,) = r.get_json()["results"]
    assert result["status"] == "queued" and result["error"].startswith("De testmelding wordt al verstuurd")


@pytest.mark.parametrize("path, body", [
    ("/panel/alerts/rules", {"change_pct": "NaN", "threshold": 5}),
    ("/panel/alerts/rules", {"change_pct": "inf", "threshold": 5}),
    ("/panel/alerts/rules", {"min_volume": 1e400, "threshold": 5}),
    ("/panel/alerts/rules", {"threshold": "sNaN"}),
    ("/panel/alerts/rules", {"threshold": "1e999999"}),
    ("/panel/alerts/rules", {"for_minutes": 10 ** 30, "threshold": 5}),
    ("/panel/alerts/rules", {"repeat_minutes": 10 ** 20, "threshold": 5}),
    ("/panel/alerts/rules", {"for_minutes": 1.5, "threshold": 5}),
    ("/panel/alerts/rules/{rule}", {"muted_until": "9999-12-31T23:59:00-14:00"}),
    ("/panel/alerts/rules/{rule}", {"muted_until": "0001-01-01T00:00:00+14:00"}),
    ("/panel/alerts/rules/{rule}", "{"),
    ("/panel/alerts/rules/{rule}", {"window": "cusum", "kpi": "net_sales"}),   # a count's drop only
    ("/panel/alerts/rules/{rule}", {"window": "cusum", "kind": "rise"}),
    ("/panel/alerts/rules/{rule}", {"window": "cusum", "change_pct": 100}),
    ("/panel/alerts/test", {"channel": "abc"}),
    ("/panel/alerts/test", {"channel": [1]}),
    ("/panel/alerts/test", {"channel": 10 ** 30}),
    ("/panel/alerts/test", "["),
    ("/panel/alerts/channels", {"kind": "email", "target": 5}),
    ("/panel/alerts/channels", {"kind": "webhook", "target": "https://h.example/x", "secret": {"a": 1}}),
    ("/panel/alerts/channels", {"kind": "webhook", "target": "https://h.example/x", "secret": 123}),
    ("/panel/alerts/channels", "{"),
])
def test_bad_input_is_a_clear_400_and_changes_nothing(panel, db, shopify_shop, path, body):
    def snapshot():  # noqa: ANN202
        with db.reading() as s:
            return ([(r.id, r.change_pct, r.threshold, r.for_minutes, r.muted_until) for r in s.scalars(select(AlertRule))],
                    [c.id for c in s.scalars(select(AlertChannel))])

    path = path.format(rule=rule_id(db, "orders_drop_today", shopify_shop.id))
    before = snapshot()
    raw = body if isinstance(body, str) else json.dumps(body)
    answer = panel.post(path, data=raw, headers={**bearer(), "Content-Type": "application/json"})
    assert answer.status_code == 400, answer.get_data(as_text=True)
    assert answer.get_json()["error"]
    assert snapshot() == before


def test_an_id_beyond_any_database_integer_is_not_found(panel, shopify_shop):
    huge = 10 ** 25
    assert panel.post(f"/panel/alerts/rules/{huge}", json={}, headers=bearer()).status_code == 404
    assert panel.post(f"/panel/alerts/channels/{huge}", json={}, headers=bearer()).status_code == 404
