"""Bad input at the panel's and the CLI's entry points (found in a review, each failed before its
fix): a clear error with a sensible status or exit code, never a 500 or a traceback, and a
refused change leaves nothing of itself behind."""
import jwt
import pytest
from sqlalchemy import select

from plugin.alerts.models import AlertChannel, AlertEvent, AlertRule
from plugin.cli import main
from tests.helpers import SHOP, SHOPIFY_SECRET, PANEL_API_KEY as API_KEY, panel_bearer as bearer



@pytest.fixture
def panel(make_app, app):
    """The panel with TESTING off: an unhandled exception is a 500, as in production."""
    return make_app(SHOPIFY_API_KEY=API_KEY, TESTING=False).test_client()


def rule_of(db, key="orders_drop_today") -> AlertRule:  # noqa: ANN001
    with db.reading() as session:
        return session.scalar(select(AlertRule).where(AlertRule.key == key))


def one_line_error(result) -> bool:  # noqa: ANN001
    return result.exit_code == 1 and result.output.startswith("Error:") and len(result.output.strip().splitlines()) == 1


# --- the panel ---------------------------------------------------------------------------------

def test_a_refused_rule_change_changes_nothing(panel, db, shopify_shop):
    rule = rule_of(db)
    answer = panel.post(f"/panel/alerts/rules/{rule.id}", json={"enabled": False, "kind": "threshold"},
                        headers=bearer())
    assert answer.status_code == 400 and "threshold" in answer.get_json()["error"]
    after = rule_of(db)
    assert (after.enabled, after.kind, after.threshold) == (True, "drop", None)


def test_a_refused_channel_change_changes_nothing(panel, db, shopify_shop):
    channel = panel.post("/panel/alerts/channels", json={"kind": "email", "target": "a@b.nl"}, headers=bearer())
    assert channel.status_code == 201
    answer = panel.post(f"/panel/alerts/channels/{channel.get_json()['id']}", json={"enabled": False, "language": "fr"},
                        headers=bearer())
    assert answer.status_code == 400
    with db.reading() as session:
        assert session.get(AlertChannel, channel.get_json()["id"]).enabled is True


@pytest.mark.parametrize("kpi,value", [("orders", "12.5"), ("net_sales", "1e5000"), ("return_rate", "1e5000"),
                                       ("orders", "1e999999999"), ("orders", True)])
def test_a_target_that_cannot_be_shown_is_refused(panel, shopify_shop, kpi, value):
    answer = panel.put("/panel/targets", json={"kpi": kpi, "value": value}, headers=bearer())
    assert answer.status_code == 400, answer.get_json()
    assert panel.get("/panel/view.json?range=last7", headers=bearer()).status_code == 200


def test_a_target_is_kept_as_its_tile_shows_it(panel, shopify_shop):
    assert panel.put("/panel/targets", json={"kpi": "orders", "value": "250"}, headers=bearer()).status_code == 200
    assert panel.put("/panel/targets", json={"kpi": "net_sales", "value": "1234,5"}, headers=bearer()).status_code == 200
    tiles = {t["key"]: t for t in panel.get("/panel/view.json?range=last7&lang=nl", headers=bearer()).get_json()["tiles"]}
    assert (tiles["orders"]["target"], tiles["net_sales"]["target"]) == ("250", "1234.50")


@pytest.mark.parametrize("path", ["/panel/view.json", "/panel/alerts/state.json",
                                  "/api/kpis?from=2026-01-01&to=2026-01-02"])
def test_a_forged_token_with_a_broken_site_url_is_401(panel, shopify_shop, path):
    forged = jwt.encode({"aud": "kompas", "iss": "http://[::1", "dest": "http://[::1", "sub": "1", "exp": 1, "nbf": 1},
                        "anything-anything-anything-anything", algorithm="HS256")
    assert panel.get(path, headers={"Authorization": "Bearer " + forged}).status_code == 401


def test_a_shopify_token_with_a_broken_shop_url_is_401(panel, shopify_shop):
    forged = jwt.encode({"aud": API_KEY, "iss": "https://[x/admin", "dest": "https://[x", "sub": "1", "exp": 1,
                         "nbf": 1}, SHOPIFY_SECRET, algorithm="HS256")
    assert panel.get("/panel/view.json", headers={"Authorization": "Bearer " + forged}).status_code == 401


@pytest.mark.parametrize("value", ["10:99", "1:-5", "7:60", "24:00", "٣:00"])
def test_quiet_hours_refuse_an_impossible_time(panel, db, shopify_shop, value):
    rule = rule_of(db)
    answer = panel.post(f"/panel/alerts/rules/{rule.id}", json={"quiet_start": value}, headers=bearer())
    assert answer.status_code == 400, answer.get_json()
    assert rule_of(db).quiet_start is None


def test_quiet_hours_take_a_time_of_day(panel, db, shopify_shop):
    rule = rule_of(db)
    answer = panel.post(f"/panel/alerts/rules/{rule.id}", json={"quiet_start": "7:05", "quiet_end": "22"},
                        headers=bearer())
    assert answer.status_code == 200
    assert (rule_of(db).quiet_start, rule_of(db).quiet_end) == ("07:05", "22:00")


def test_a_channel_with_an_unparseable_url_is_400(panel, shopify_shop):
    answer = panel.post("/panel/alerts/channels", json={"kind": "webhook", "target": "http://[::1"}, headers=bearer())
    assert answer.status_code == 400 and "not a URL" in answer.get_json()["error"]


@pytest.mark.parametrize("path", [
    "/panel/view.json?range=custom&from=0001-01-01&to=0001-01-02",
    "/panel/view.json?range=custom&from=9999-12-30&to=9999-12-31",
    "/panel/export.csv?range=custom&from=9999-12-31&to=9999-12-31",
    "/api/kpis?from=0001-01-02&to=0001-01-03",
    "/api/kpis?from=0001-01-01&to=0001-01-02&compare=last_year",
    "/api/kpis?from=9999-12-31&to=9999-12-31",
    "/api/kpis?from=20260301&to=2026-03-02"])
def test_ranges_at_the_ends_of_the_calendar_or_not_written_yyyy_mm_dd_are_400(panel, shopify_shop, path):
    answer = panel.get(path, headers=bearer())
    assert answer.status_code == 400 and "YYYY-MM-DD" in answer.get_json()["error"]


def test_an_absurd_spend_is_400(panel, shopify_shop):
    assert panel.put("/panel/spend", json={"month": "2026-01", "amount": "1e30"}, headers=bearer()).status_code == 400


def test_a_month_with_a_trailing_newline_is_refused(panel, shopify_shop):
    assert panel.put("/panel/spend", json={"month": "2026-01\n", "amount": "100"}, headers=bearer()).status_code == 400


def test_a_refused_test_notification_leaves_no_test_alert_in_the_history(panel, db, shopify_shop):
    answer = panel.post("/panel/alerts/test", json={}, headers=bearer())
    assert answer.status_code == 400 and answer.get_json()["error"] == "no channel to send to"
    with db.reading() as session:
        assert list(session.scalars(select(AlertEvent))) == []


def test_a_new_rule_keeps_its_muted_until(panel, shopify_shop):
    answer = panel.post("/panel/alerts/rules", json={"kind": "drop", "muted_until": "2030-01-01T00:00:00+00:00"},
                        headers=bearer())
    assert answer.status_code == 201 and answer.get_json()["muted_until"].startswith("2030-01-01T00:00:00")


def test_a_boolean_is_not_a_percentage(panel, db, shopify_shop):
    rule = rule_of(db)
    assert panel.post(f"/panel/alerts/rules/{rule.id}", json={"change_pct": True}, headers=bearer()).status_code == 400
    assert rule_of(db).change_pct == rule.change_pct


# --- the CLI -----------------------------------------------------------------------------------

@pytest.mark.parametrize("zone", ["Europe", "America", "x" * 300])
def test_shop_add_with_a_bad_timezone_is_a_one_line_error(runner, app, zone):
    result = runner.invoke(main, ["shop", "add", "--platform", "shopify", "--domain", "x.myshopify.com",
                                  "--timezone", zone, "--currency", "EUR"])
    assert one_line_error(result), (result.output, result.exception)


def test_a_channel_with_an_unparseable_url_is_a_one_line_error(runner, app, shopify_shop):
    result = runner.invoke(main, ["alerts", "channel", "--shop", SHOP, "--slack", "https://[hooks.slack.com"])
    assert one_line_error(result), (result.output, result.exception)


@pytest.mark.parametrize("first,last", [("9999-12-31", "9999-12-31"), ("0001-01-01", "0001-01-02"),
                                        ("20260301", "2026-03-02")])
def test_report_dates_outside_the_calendar_or_not_yyyy_mm_dd_are_a_one_line_error(runner, app, shopify_shop,
                                                                                   first, last):
    result = runner.invoke(main, ["report", "--shop", SHOP, "--from", first, "--to", last, "--json"])
    assert one_line_error(result) and "YYYY-MM-DD" in result.output, (result.output, result.exception)


def test_alerts_run_fails_when_a_shop_could_not_be_evaluated(runner, app, shopify_shop, monkeypatch):
    from plugin.alerts import evaluate

    def broken(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise RuntimeError("the shop's counters cannot be read")

    monkeypatch.setattr(evaluate, "evaluate_shop", broken)
    result = runner.invoke(main, ["alerts", "run"])
    assert result.exit_code == 1 and "1 shop(s) could not be evaluated" in result.output


def test_alerts_run_refuses_an_instant_outside_the_calendar(runner, app, shopify_shop):
    result = runner.invoke(main, ["alerts", "run", "--now", "0001-01-01T00:00:00+00:00"])
    assert one_line_error(result), (result.output, result.exception)


@pytest.mark.parametrize("url", ["nonsense", "foo://x"])
def test_a_malformed_database_url_is_a_one_line_error(runner, monkeypatch, url):
    monkeypatch.setenv("KOMPAS_DATABASE_URL", url)
    result = runner.invoke(main, ["db", "upgrade"])
    assert one_line_error(result) and "cannot start Kompas" in result.output, (result.output, result.exception)


def test_an_unreachable_database_is_a_one_line_error(runner, monkeypatch):
    monkeypatch.setenv("KOMPAS_DATABASE_URL", "postgresql://postgres@127.0.0.1:1/nowhere")
    result = runner.invoke(main, ["report", "--shop", SHOP, "--from", "2026-03-01", "--to", "2026-03-01"])
    assert one_line_error(result) and "cannot use the database" in result.output, (result.output, result.exception)


def test_replay_of_an_out_of_range_delivery_id_is_a_usage_error(runner, app):
    result = runner.invoke(main, ["replay", "--delivery", str(2 ** 70)])
    assert result.exit_code == 2 and "--delivery" in result.output


@pytest.mark.parametrize("path,body,nl,en", [
    ("/panel/targets", {"kpi": "orders", "value": "veel"}, "“veel” is geen getal", "“veel” is not a number"),
    ("/panel/targets", {"kpi": "orders", "value": "12,5"}, "een heel getal", "a whole number"),
    ("/panel/spend", {"month": "januari", "amount": "100"}, "kies een maand", "choose a month")])
def test_a_refused_target_or_spend_is_explained_in_the_merchants_language(panel, shopify_shop, path, body, nl, en):
    dutch = panel.put(path + "?lang=nl", json=body, headers=bearer())
    english = panel.put(path + "?lang=en", json=body, headers=bearer())
    assert dutch.status_code == english.status_code == 400
    assert nl in dutch.get_json()["error_text"] and en in english.get_json()["error_text"]
    assert dutch.get_json()["error"] == english.get_json()["error"]   # the API's own message stays as it was


@pytest.mark.parametrize("path,body,nl,en", [
    ("/panel/alerts/channels", {"kind": "email", "target": "geen-adres"}, "“geen-adres” is geen e-mailadres",
     "“geen-adres” is not an e-mail address"),
    ("/panel/alerts/channels", {"kind": "slack", "target": "hooks.slack.com"}, "geen webadres", "not a web address"),
    ("/panel/alerts/channels", {"kind": "webhook", "target": "http://169.254.169.254/latest/meta-data/"},
     "geen openbaar adres", "not a public address"),
    ("/panel/alerts/test", {}, "geen kanaal", "no channel")])
def test_a_refused_channel_or_test_is_explained_in_the_merchants_language(panel, shopify_shop, path, body, nl, en):
    dutch = panel.post(path + "?lang=nl", json=body, headers=bearer()).get_json()
    english = panel.post(path + "?lang=en", json=body, headers=bearer()).get_json()
    assert nl in dutch["error_text"] and en in english["error_text"] and dutch["error"] == english["error"]


@pytest.mark.parametrize("change,nl", [({"for_minutes": "lang"}, "“lang” is geen geldige waarde voor Minuten aanhoudend"),
                                       ({"quiet_start": "25:00"}, "voor Stille uren"),
                                       ({"muted_until": "morgen"}, "voor Dempen tot"),
                                       ({"kind": "threshold"}, "een drempelregel heeft een drempel nodig")])
def test_a_refused_rule_change_is_explained_in_the_merchants_language(panel, db, shopify_shop, change, nl):
    rule = rule_of(db)
    answer = panel.post(f"/panel/alerts/rules/{rule.id}?lang=nl", json=change, headers=bearer())
    assert answer.status_code == 400 and nl in answer.get_json()["error_text"]


@pytest.mark.parametrize("args", [["drain", "--timeout", "nan"], ["drain", "--timeout", "-1"], ["demo", "--days", "-3"]])
def test_impossible_numbers_are_usage_errors(runner, app, args):
    result = runner.invoke(main, args)
    assert result.exit_code == 2, (result.output, result.exception)


def test_a_secret_for_a_channel_that_signs_nothing_is_refused(runner, app, shopify_shop):
    result = runner.invoke(main, ["alerts", "channel", "--shop", SHOP, "--email", "a@b.nl", "--secret", "x" * 20])
    assert one_line_error(result) and "--webhook" in result.output


@pytest.mark.parametrize("language,text", [("nl", "Kompas wordt geopend"), ("en", "Kompas is opening")])
def test_the_wordpress_bounce_page_speaks_the_merchants_language(panel, shopify_shop, language, text):
    token = jwt.encode({"aud": "kompas", "iss": "https://winkel.example", "dest": "https://winkel.example",
                        "sub": "1", "exp": 1, "nbf": 1}, "anything-anything-anything-anything", algorithm="HS256")
    page = panel.get(f"/panel/?id_token={token}&lang={language}")
    assert page.status_code == 401 and text in page.get_data(as_text=True)
    assert f'<html lang="{language}">' in page.get_data(as_text=True)


@pytest.mark.parametrize("language,text", [("nl", "Kompas heeft JavaScript nodig"), ("en", "Kompas needs JavaScript")])
def test_the_shopify_bounce_page_speaks_the_merchants_language(panel, shopify_shop, language, text):
    page = panel.get(f"/panel/?shop={SHOP}&lang={language}")
    assert text in page.get_data(as_text=True)


@pytest.mark.parametrize("language,typed,kept", [("nl", "1.000", "1000"), ("en", "1,000", "1000"), ("nl", "250", "250"),
                                                 ("en", "1.000", "1")])
def test_a_count_target_is_read_as_the_merchant_writes_numbers(panel, shopify_shop, language, typed, kept):
    """A Dutch merchant's "1.000" is a thousand orders, not one."""
    answer = panel.put(f"/panel/targets?lang={language}", json={"kpi": "orders", "value": typed}, headers=bearer())
    assert answer.status_code == 200
    tiles = panel.get("/panel/view.json?range=last7", headers=bearer()).get_json()["tiles"]
    assert next(t for t in tiles if t["key"] == "orders")["target"] == kept


@pytest.mark.parametrize("language,typed,kept", [("nl", "1.234,56", "1234.56"), ("nl", "1500.00", "1500.00"),
                                                 ("en", "1,234.56", "1234.56"), ("en", "12,5", "12.50")])
def test_a_money_target_is_read_as_the_merchant_writes_numbers(panel, shopify_shop, language, typed, kept):
    answer = panel.put(f"/panel/targets?lang={language}", json={"kpi": "net_sales", "value": typed}, headers=bearer())
    assert answer.status_code == 200
    tiles = panel.get("/panel/view.json?range=last7", headers=bearer()).get_json()["tiles"]
    assert next(t for t in tiles if t["key"] == "net_sales")["target"] == kept
