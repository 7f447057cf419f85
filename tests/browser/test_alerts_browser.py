"""The panel's alerts section in Debian's Chromium: rules, a channel and a rule added through the
forms, a rule switched off, a test e-mail that a real SMTP server receives, and no script error on the way."""
from decimal import Decimal

from sqlalchemy import select

from plugin.alerts.models import AlertChannel, AlertRule
from plugin.alerts.rules import DEFAULT_RULES
from plugin.panel.auth import mint_session_token
from tests.alerts_support import smtp_server_fixture  # noqa: F401
from tests.browser.test_panel_browser import CHROMIUM_ARGS, Server, chromium  # noqa: F401
from tests.helpers import SHOP, SHOPIFY_SECRET

API_KEY = "kompas-browser-test-client-id"
# the keys of the merchant's first, second and third rule: after the defaults
CUSTOM, SECOND, THIRD = (f"custom_{len(DEFAULT_RULES) + n}" for n in (1, 2, 3))


def test_alerts_section_manages_rules_and_channels_and_sends_a_test(chromium, make_app, app, db, shopify_shop,  # noqa: F811
                                                                    smtp_server):
    from playwright.sync_api import sync_playwright

    mailbox, smtp = smtp_server
    kompas = Server(make_app(SHOPIFY_API_KEY=API_KEY, **smtp))
    token = mint_session_token(SHOP, api_key=API_KEY, secret=SHOPIFY_SECRET, lifetime=300)
    errors = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 1400})
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.route("https://cdn.shopify.com/**", lambda route: route.fulfill(
                content_type="text/javascript", body=f'window.shopify = {{ idToken: async () => "{token}" }};'))
            page.goto(f"{kompas.url}/panel/?id_token={token}&lang=en")
            rows = page.locator("#alerts-rules tbody tr")
            rows.first.wait_for()
            assert rows.count() == len(DEFAULT_RULES)
            assert page.locator("#alerts-firing").inner_text() == "All normal: no alerts firing."

            page.fill("#alerts-channel-target", "owner@shop.example")
            page.select_option("#alerts-channel-language", "en")
            page.check("#alerts-channel-daily")
            page.click("#alerts-channel-form button[type=submit]")
            channel = page.locator("#alerts-channels li").filter(has_text="owner@shop.example")
            channel.wait_for()
            assert channel.locator('input[data-digest="daily"]').is_checked()
            channel.locator('input[data-digest="weekly"]').check()   # switched on for an address already there
            page.locator("#alerts-status").filter(has_text="Saved").wait_for()

            row = page.locator('#alerts-rules tr[data-rule="no_orders"]')
            row.locator('input[type="checkbox"]').uncheck()
            row.locator("button").click()
            page.locator("#alerts-status").filter(has_text="Saved").wait_for()

            # a merchant's own rule: net sales over the last 24 hours (the form's default window) below
            # 1,250.50, as an English-speaking merchant types it
            page.select_option("#alerts-rule-kpi", "net_sales")
            page.select_option("#alerts-rule-kind", "below")
            page.fill("#alerts-rule-value", "1,5")   # one and a half, or fifteen? refused, not guessed
            page.click("#alerts-rule-form button[type=submit]")
            page.locator("#alerts-status").filter(has_text="is not a number as written in English").wait_for()
            page.fill("#alerts-rule-value", "1,250.50")
            page.click("#alerts-rule-form button[type=submit]")
            added = page.locator(f'#alerts-rules tr[data-rule="{CUSTOM}"]')
            added.wait_for()
            assert "Custom rule: Net sales · Last 24 hours · below €1,250.50" in added.inner_text()
            assert added.locator("input").nth(1).input_value() == "1250.50"   # shown back as typed here
            assert rows.count() == len(DEFAULT_RULES) + 1
            # "below" over "today so far" would fire every night: refused with the reason
            page.select_option("#alerts-rule-window", "today")
            page.fill("#alerts-rule-value", "500")
            page.click("#alerts-rule-form button[type=submit]")
            page.locator("#alerts-status").filter(has_text="would fire every night").wait_for()

            page.click("#alerts-test")
            page.locator("#alerts-status").filter(has_text="Test notification sent").wait_for()
            page.locator("#alerts-events tbody tr").first.wait_for()
            assert "Test" in page.locator("#alerts-events tbody tr").first.inner_text()

            # in Dutch: the stored threshold is shown as Dutch writes it, "1.5" is refused, "2.500" is 2500
            page.goto(f"{kompas.url}/panel/?id_token={token}&lang=nl")
            mine = page.locator(f'#alerts-rules tr[data-rule="{CUSTOM}"]')
            mine.wait_for()
            assert mine.locator("input").nth(1).input_value() == "1250,50"
            page.select_option("#alerts-rule-kpi", "net_sales")
            page.select_option("#alerts-rule-kind", "above")
            page.fill("#alerts-rule-value", "1.5")
            page.click("#alerts-rule-form button[type=submit]")
            page.locator("#alerts-status").filter(has_text="zoals je het in het Nederlands schrijft").wait_for()
            page.fill("#alerts-rule-value", "2.500")
            page.click("#alerts-rule-form button[type=submit]")
            dutch = page.locator(f'#alerts-rules tr[data-rule="{SECOND}"]')
            dutch.wait_for()
            assert "Eigen regel: Netto-omzet · Laatste 24 uur · boven €\xa02.500,00" in dutch.inner_text()

            # a rule's minimum volume, as Dutch writes it, beside what it counts
            carts = page.locator('#alerts-rules tr[data-rule="carts_drop_cusum"]')
            assert carts.locator('input[name="min_volume"]').input_value() == "5000"
            assert "winkelwagens" in carts.inner_text()
            carts.locator('input[name="min_volume"]').fill("2.50")   # refused: not how Dutch writes a number
            carts.locator("button").click()
            page.locator("#alerts-status").filter(has_text="zoals je het in het Nederlands schrijft").wait_for()
            carts.locator('input[name="min_volume"]').fill("2.500")
            carts.locator("button").click()
            page.locator("#alerts-status").filter(has_text="Opgeslagen").wait_for()
            # in an admin 1,000 pixels wide the rules table scrolls by itself, the page does not
            page.set_viewport_size({"width": 1000, "height": 900})
            assert page.evaluate("document.documentElement.scrollWidth") <= 1000
            browser.close()
    finally:
        kompas.stop()
    assert errors == []
    with db.reading() as s:
        assert s.scalar(select(AlertRule.enabled).where(AlertRule.key == "no_orders")) is False
        custom = s.scalar(select(AlertRule).where(AlertRule.key == CUSTOM))
        assert (custom.kpi, custom.kind, custom.direction, Decimal(custom.threshold), custom.window,
                custom.window_hours) == ("net_sales", "threshold", "below", Decimal("1250.5"), "hours", 24)
        assert Decimal(s.scalar(select(AlertRule.threshold).where(AlertRule.key == SECOND))) == 2500
        assert s.scalar(select(AlertRule.min_volume).where(AlertRule.key == "carts_drop_cusum")) == 2500
        assert s.scalar(select(AlertRule).where(AlertRule.key == THIRD)) is None   # nothing refused was saved
        channel = s.scalar(select(AlertChannel))
        assert (channel.target, channel.language, channel.digest_daily, channel.digest_weekly) == (
            "owner@shop.example", "en", True, True)
    (message,) = mailbox.messages
    assert message["Subject"] == "Test notification from Kompas – demo.myshopify.com"
