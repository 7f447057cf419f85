"""Alerts end to end on the real database: counters from really signed webhooks, evaluation with an
injected clock, the outbox, e-mail through a real SMTP server (aiosmtpd), Slack and signed webhooks
through `responses`, digests, crashes and concurrent runs."""
import base64
import hashlib
import hmac
import json
import threading
from collections import Counter
from datetime import date, timedelta, timezone
from decimal import Decimal

import pytest
import responses
from sqlalchemy import func, select

from plugin import counters, report
from plugin.alerts import digest, evaluate, outbox
from plugin.alerts.evaluate import run_once
from plugin.alerts.manage import add_channel, update_channel
from plugin.alerts.models import AlertChannel, AlertEvent, AlertNotification, AlertRule
from plugin.alerts.rules import DEFAULT_RULES
from plugin.kpi.contributions import CounterKey, hour_counter
from plugin.shops import find_shop
from tests.alerts_support import (AMS, TODAY, add_hours_rules, at, free_port, only_rule, parts, send_dropping_day,
                                  send_normal_weeks, send_order, smtp_server_fixture)  # noqa: F401
from tests.helpers import SHOP

SLACK = "https://hooks.slack.com/services/T000/B000/XXXX"
HOOK = "https://merchant.example/kompas-alerts"
SECRET = "hook-secret-0123456789"


def channels(db, shop_id):
    with db.transaction() as s:
        ids = [add_channel(s, shop_id, data).id for data in (
            {"kind": "email", "target": "eigenaar@winkel.example", "language": "nl"},
            {"kind": "email", "target": "owner@shop.example", "language": "en"},
            {"kind": "slack", "target": SLACK},
            {"kind": "webhook", "target": HOOK, "secret": SECRET})]
    return ids


def events(db):
    with db.reading() as s:
        return [(e.rule_key, e.kind) for e in s.scalars(select(AlertEvent).order_by(AlertEvent.id))]


def test_a_new_shop_gets_the_default_rules(db, shopify_shop):
    with db.reading() as s:
        rules = list(s.scalars(select(AlertRule).where(AlertRule.shop_id == shopify_shop.id)))
    assert sorted(r.key for r in rules) == sorted(k for k, _ in DEFAULT_RULES)
    assert all(r.enabled and r.status == "ok" for r in rules)
    assert {r.kpi for r in rules} >= {"orders", "net_sales", "checkout_conversion", "return_rate", "refunds",
                                      "cart_abandonment_rate"}


def test_a_drop_fires_once_on_every_channel_names_its_cause_and_resolves(app, db, send, shopify_shop, smtp_server):
    mailbox, smtp = smtp_server
    config = {**app.config, **smtp}
    send_normal_weeks(send)
    send_dropping_day(send)
    only_rule(db, "orders_drop_today")
    channels(db, shopify_shop.id)
    with responses.RequestsMock() as mocked:
        mocked.post(SLACK, body="ok")
        mocked.post(HOOK, json={"ok": True})
        assert run_once(db, config, at(11))["events"] == []
        assert run_once(db, config, at(14))["events"] == []          # pending: below normal for less than an hour
        with db.reading() as s:
            rule = s.scalar(select(AlertRule).where(AlertRule.key == "orders_drop_today"))
            assert rule.status == "pending" and rule.figures["value"] == 12 and rule.figures["normal"] == 40
        result = run_once(db, config, at(15))
        assert result["events"] == [(SHOP, "orders_drop_today", "firing")] and result["sent"] == 4
        # a second run, and a later one, send nothing again
        assert run_once(db, config, at(15))["sent"] == 0
        assert run_once(db, config, at(15, 30))["sent"] == 0
        assert len(mocked.calls) == 2 and len(mailbox.messages) == 2

        slack = json.loads(mocked.calls[0].request.body)
        assert "Bestellingen" in slack["text"] and "onder normaal" in slack["text"]
        hook = mocked.calls[1].request
        expected = base64.b64encode(hmac.new(SECRET.encode(), hook.body, hashlib.sha256).digest()).decode()
        assert hook.headers["X-Kompas-Hmac-Sha256"] == expected
        wrong = base64.b64encode(hmac.new(b"another secret", hook.body, hashlib.sha256).digest()).decode()
        assert hook.headers["X-Kompas-Hmac-Sha256"] != wrong
        body = json.loads(hook.body)
        assert (body["kind"], body["rule"], body["value"], body["normal"], body["change"]) == (
            "firing", "orders_drop_today", 12, 40, -70)
        assert body["contributor"]["name"] == "nieuwsbrief" and hook.headers["X-Kompas-Delivery"] == body["id"]

        (nl,) = mailbox.to("eigenaar@winkel.example")
        text, html = parts(nl)
        assert nl["Subject"] == "Bestellingen 70% onder normaal – demo.myshopify.com"
        assert "Vandaag tot nu: 12 (normaal 40, -70,0%)" in text
        assert "bron nieuwsbrief, 5 tegen normaal 20" in text
        assert "https://kompas.example/panel/?shop=demo.myshopify.com&alert=" in text
        assert "Vandaag tot nu: 12 (normaal 40, -70,0%)" in html and "<table" in html and "10:00" in html
        assert "09:00" not in text   # the chart starts at the first hour with orders
        (en,) = mailbox.to("owner@shop.example")
        text, html = parts(en)
        assert en["Subject"] == "Orders 70% below normal – demo.myshopify.com"
        assert "Today so far: 12 (normal 40, -70.0%)" in text and "source nieuwsbrief" in text
        assert "By hour, against normal (grey)" in html and "Open Kompas" in html

        # the shop recovers: thirty orders between 15:00 and 16:00
        for i in range(30):
            send_order(send, at(15, 1 + 2 * i), "google")
        result = run_once(db, config, at(16))
        assert result["events"] == [(SHOP, "orders_drop_today", "resolved")] and result["sent"] == 4
        recovered = mailbox.to("eigenaar@winkel.example")[-1]
        assert recovered["Subject"] == "Hersteld: Bestellingen weer normaal – demo.myshopify.com"
        assert mailbox.to("owner@shop.example")[-1]["Subject"] == "Recovered: Orders back to normal – demo.myshopify.com"
        assert json.loads(mocked.calls[-1].request.body)["kind"] == "resolved"
    assert events(db) == [("orders_drop_today", "firing"), ("orders_drop_today", "resolved")]


def test_one_drop_seen_by_several_rules_is_told_once_and_recovers_once(app, db, send, shopify_shop, smtp_server):
    """Orders and net sales so far today both fall: two rules fire, the merchant hears of it once
    (the first rule), and hears of the recovery once, when the last of them has recovered."""
    mailbox, smtp = smtp_server
    config = {**app.config, **smtp}
    send_normal_weeks(send)
    send_dropping_day(send)
    with db.transaction() as s:
        for rule in s.scalars(select(AlertRule)):
            rule.enabled = rule.key in ("orders_drop_today", "net_sales_drop_today")
    with db.transaction() as s:
        add_channel(s, shopify_shop.id, {"kind": "email", "target": "eigenaar@winkel.example", "language": "nl"})
    for hour in (11, 14):
        run_once(db, config, at(hour))
    assert run_once(db, config, at(15))["events"] == [(SHOP, "orders_drop_today", "firing")]
    with db.reading() as s:
        status = dict(s.execute(select(AlertRule.key, AlertRule.status).where(AlertRule.enabled.is_(True))).all())
    assert status == {"orders_drop_today": "firing", "net_sales_drop_today": "firing"}   # both see it
    assert run_once(db, config, at(15, 30))["events"] == []
    for i in range(30):   # the shop recovers
        send_order(send, at(15, 1 + 2 * i), "google")
    run_once(db, config, at(16))
    assert events(db) == [("orders_drop_today", "firing"), ("orders_drop_today", "resolved")]
    assert [m["Subject"].split(":")[0] for m in mailbox.to("eigenaar@winkel.example")] == [
        "Bestellingen 70% onder normaal – demo.myshopify.com", "Hersteld"]


def test_repeat_interval_and_mute_through_the_evaluator(app, db, send, shopify_shop, smtp_server):
    mailbox, smtp = smtp_server
    config = {**app.config, **smtp}
    send_normal_weeks(send)
    send_dropping_day(send)
    only_rule(db, "orders_drop_today")
    with db.transaction() as s:
        add_channel(s, shopify_shop.id, {"kind": "email", "target": "eigenaar@winkel.example"})
        rule = s.scalar(select(AlertRule).where(AlertRule.key == "orders_drop_today"))
        rule.repeat_minutes, rule.for_minutes = 90, 0
        rule.muted_until = at(15).astimezone(timezone.utc)
    run_once(db, config, at(14))
    assert events(db) == [] and mailbox.messages == []                       # firing, but muted until 15:00
    run_once(db, config, at(15))
    assert events(db) == [("orders_drop_today", "firing")]
    run_once(db, config, at(16))
    assert len(events(db)) == 1                                              # 60 min < 90: no repeat yet
    run_once(db, config, at(16, 30))
    assert events(db)[-1] == ("orders_drop_today", "repeat")
    assert mailbox.messages[-1]["Subject"].startswith("Nog steeds: Bestellingen")


def _notification(db, shop_id, channel_kind="slack", target=SLACK):
    """One firing event with one outbox row, written as the evaluator writes them."""
    with db.transaction() as s:
        shop = find_shop(s, SHOP)
        channel = add_channel(s, shop_id, {"kind": channel_kind, "target": target})
        figures = evaluate.detect.Figures(kpi="orders", value=3, normal=30, change=-90, p_value=1e-9, volume=30,
                                          weeks=4, breach=True, reason="breach", window_start=at(0))
        spec = evaluate.detect.RuleSpec(kpi="orders", kind="drop")
        event = evaluate.record_event(s, shop, None, "firing", figures, at(14), {}, AMS, None, spec)
        evaluate.enqueue(s, event, [channel], at(14))
        return s.scalar(select(AlertNotification.id).where(AlertNotification.event_id == event.id))


def _row(db, notification_id):
    with db.reading() as s:
        return s.get(AlertNotification, notification_id)


def test_a_failing_channel_is_retried_with_backoff_and_its_failure_kept(app, db, shopify_shop):
    nid = _notification(db, shopify_shop.id)
    with responses.RequestsMock() as mocked:
        mocked.post(SLACK, status=500, body="invalid_token")
        assert outbox.deliver_due(db, app.config, at(14)).failed == 1
        row = _row(db, nid)
        assert (row.status, row.attempts) == ("pending", 1) and "500" in row.last_error
        # a minute after the attempt (the run's clock moves on with real time while it sends)
        assert timedelta(0) <= row.next_attempt_at.replace(tzinfo=timezone.utc) - at(14, 1) < timedelta(seconds=5)
        assert outbox.deliver_due(db, app.config, at(14, 0) + timedelta(seconds=30)).failed == 0   # not yet due
        assert len(mocked.calls) == 1
        outbox.deliver_due(db, app.config, at(14, 1) + timedelta(seconds=5))
        row = _row(db, nid)
        assert row.attempts == 2                                                         # 1, then 5 minutes
        assert timedelta(seconds=5) <= row.next_attempt_at.replace(tzinfo=timezone.utc) - at(14, 6) < timedelta(seconds=10)
        mocked.replace(responses.POST, SLACK, body="ok")
        assert outbox.deliver_due(db, app.config, at(14, 6)).sent == 0                  # not yet: 5 minutes after
        assert outbox.deliver_due(db, app.config, at(14, 6) + timedelta(seconds=10)).sent == 1
    row = _row(db, nid)
    assert (row.status, row.attempts, row.last_error) == ("sent", 3, None)


def test_a_channel_that_keeps_failing_is_given_up_and_reported(app, db, shopify_shop):
    nid = _notification(db, shopify_shop.id)
    now = at(14)
    with responses.RequestsMock() as mocked:
        mocked.post(SLACK, status=404, body="no_service")
        for _ in range(outbox.MAX_ATTEMPTS):
            outbox.deliver_due(db, app.config, now)
            now = _row(db, nid).next_attempt_at.replace(tzinfo=timezone.utc)
        assert len(mocked.calls) == outbox.MAX_ATTEMPTS
    row = _row(db, nid)
    assert row.status == "failed" and "404" in row.last_error
    assert outbox.deliver_due(db, app.config, now + timedelta(days=30)).failed == 0


def _hourly_orders(db, shop_id, today_per_hour, weeks=4):
    """Adds 40 orders an hour from 10 to 13h on the `weeks` Wednesdays before TODAY, and today
    `today_per_hour` orders in those hours (a dict)."""
    cells = Counter()
    for week in range(weeks + 1):
        day = TODAY - timedelta(days=7 * week)
        for hour in (10, 11, 12, 13):
            n = today_per_hour.get(hour, 0) if week == 0 else 40
            cells[CounterKey("orders", day)] += n
            cells[CounterKey(hour_counter(hour, "orders"), day)] += n
    with db.transaction() as s:
        counters.add(s, shop_id, cells)


def test_the_cusum_rule_finds_when_the_drop_began_and_tells_it_from_then(app, db, send, shopify_shop, smtp_server):
    """orders_drop_cusum over the stored hourly counters: normal is 10 orders an hour from 10:00 to
    14:00 (the four Wednesdays before); today 10 at 10:00, then one at 11:30 and one at 12:30. At
    13:00 the stretch from 11:00 scores 2 ln ½ + ½ × 20 = 8.6, / (1 + 0.005 × 20) = 7.8 ≥ 5: pending,
    firing 30 minutes later, told as orders since 11:00 against their normal (10 + 10 + half of 10)."""
    mailbox, smtp = smtp_server
    config = {**app.config, **smtp}
    send_normal_weeks(send)
    send_dropping_day(send)
    only_rule(db, "orders_drop_cusum")
    with db.transaction() as s:
        add_channel(s, shopify_shop.id, {"kind": "email", "target": "eigenaar@winkel.example", "language": "nl"})
    assert run_once(db, config, at(12))["events"] == []    # 1 order in 11:00 against 10: not yet beyond chance
    assert run_once(db, config, at(13))["events"] == []    # a breach, pending
    with db.reading() as s:
        rule = s.scalar(select(AlertRule).where(AlertRule.key == "orders_drop_cusum"))
        assert rule.status == "pending" and (rule.figures["value"], rule.figures["normal"]) == (2, 20)
    assert run_once(db, config, at(13, 30))["events"] == [(SHOP, "orders_drop_cusum", "firing")]
    (mail,) = mailbox.to("eigenaar@winkel.example")
    text, _ = parts(mail)
    assert "Sinds 25 mrt 2026, 11:00:00: 2 (normaal 25, -92,0%)" in text, text
    # the cause over that stretch, not over the whole week: no order from the newsletter since 11:00
    assert "bron nieuwsbrief, 0 tegen normaal 12,5" in text, text


def test_a_channel_that_comes_back_tells_the_alert_before_its_recovery(app, db, shopify_shop):
    """Slack is down when a drop fires at 14:00, and the firing is retried with backoff. Orders
    recover (late webhooks) by 14:10, with Slack back: the recovery waits for the alert it
    recovers from, so Slack ends with "recovered", not with "orders down"."""
    _hourly_orders(db, shopify_shop.id, {10: 40})
    add_hours_rules(db, shopify_shop.id, ["orders_drop_day"])
    only_rule(db, "orders_drop_day")
    with db.transaction() as s:
        add_channel(s, shopify_shop.id, {"kind": "slack", "target": SLACK})
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.post(SLACK, status=500, body="service_unavailable")
        for minute in (0, 1, 6):   # the firing and its first retries: all fail
            run_once(db, app.config, at(14, minute))
        mocked.replace(responses.POST, SLACK, body="ok")
        _hourly_orders(db, shopify_shop.id, {11: 40, 12: 40, 13: 40}, weeks=0)
        for minute in (10, 15, 21, 30):
            run_once(db, app.config, at(14, minute))
        told = [json.loads(c.request.body)["text"].splitlines()[0] for c in mocked.calls
                if c.response is not None and c.response.status_code == 200]
    assert events(db) == [("orders_drop_day", "firing"), ("orders_drop_day", "resolved")]
    assert len(told) == 2 and "onder normaal" in told[0] and told[1].startswith("*Hersteld"), told


def test_a_notification_claimed_late_in_a_long_run_is_not_sent_twice(app, db, shopify_shop):
    """Two schedulers share the outbox (`kompas serve`'s and cron's `kompas alerts run`). A run
    that starts at 14:00 and spends 12 minutes on a dead webhook claims the next row at 14:12, with
    a lease until 14:22 (not 14:10): a second run at 14:12 leaves it alone."""
    dead = _notification(db, shopify_shop.id, "webhook", "https://dead.example/hook")
    slack = _notification(db, shopify_shop.id)
    clock = [at(14)]
    sent = Counter()

    def second_run(notification, *_):
        sent[notification.id] += 1

    def first_run(notification, *_):
        if notification.id == dead:
            clock[0] = at(14, 12)   # twelve minutes of timeouts
            raise TimeoutError("timed out")
        outbox.deliver_due(db, app.config, at(14, 12), send=second_run)   # starts while this one sends
        sent[notification.id] += 1

    outbox.deliver_due(db, app.config, at(14), send=first_run, clock=lambda: clock[0])
    assert sent == {slack: 1}
    assert _row(db, slack).status == "sent" and _row(db, dead).status == "pending"


def test_the_biggest_contributor_is_the_source_that_fell_in_the_windows_own_hours(app, db, send, shopify_shop,
                                                                                  smtp_server):
    """Normal Wednesdays: google sells 10 an hour from 10 to 14h, the newsletter 10 an hour from 19
    to 22h. Today google sells 10 at 10h and then nothing: at 14:05 orders so far are 75 % below
    normal, all of it google's. Compared hour by hour with the same hours of earlier weeks, google
    is named, not the newsletter, whose evening has not come yet today."""
    mailbox, smtp = smtp_server
    for week in range(1, 5):
        day = TODAY - timedelta(days=7 * week)
        for hour, source in ((10, "google"), (11, "google"), (12, "google"), (13, "google"),
                             (19, "nieuwsbrief"), (20, "nieuwsbrief"), (21, "nieuwsbrief")):
            for i in range(10):
                send_order(send, at(hour, 3 + 5 * i, day), source)
    for i in range(10):
        send_order(send, at(10, 3 + 5 * i), "google")
    only_rule(db, "orders_drop_today")
    with db.transaction() as s:
        s.scalar(select(AlertRule).where(AlertRule.key == "orders_drop_today")).for_minutes = 0
        add_channel(s, shopify_shop.id, {"kind": "email", "target": "eigenaar@winkel.example"})
    assert run_once(db, {**app.config, **smtp}, at(14, 5))["events"] == [(SHOP, "orders_drop_today", "firing")]
    with db.reading() as s:
        contributor = s.scalar(select(AlertEvent)).details["contributor"]
    assert contributor == {"by": "source", "name": "google", "observed": 10, "normal": 40.0, "money": False}
    assert "bron google, 10 tegen normaal 40" in parts(mailbox.messages[-1])[0]


def test_a_dead_channels_waiting_alerts_never_crowd_out_other_channels(app, db, shopify_shop):
    """Alerts waiting behind an earlier unsent alert of their (dead) channel are not what a run
    tries: with 250 of them waiting, another shop's alert to a healthy channel still goes out at
    once, and the dead channel's first alert keeps its backoff."""
    from plugin.shops import add_shop

    t0 = at(14)
    with db.transaction() as s:
        other = add_shop(s, platform="shopify", domain="ander.myshopify.com", timezone_name="Europe/Amsterdam",
                         currency="EUR")
        dead = add_channel(s, shopify_shop.id, {"kind": "webhook", "target": "https://dead.example/hook"})
        healthy = add_channel(s, other.id, {"kind": "slack", "target": SLACK})
        for i, (shop_id, channel) in enumerate([(shopify_shop.id, dead)] * 250 + [(other.id, healthy)]):
            event = AlertEvent(shop_id=shop_id, rule_id=None, rule_key="orders_drop_day", incident=i, kind="firing",
                               at=t0 - timedelta(hours=250 - i), kpi="orders", details={})
            s.add(event)
            s.flush()
            s.add(AlertNotification(shop_id=shop_id, channel_id=channel.id, event_id=event.id, kind="firing",
                                    dedupe_key=f"event:{event.id}:channel:{channel.id}:firing", status="pending",
                                    attempts=0, next_attempt_at=event.at, created_at=event.at))
        healthy_id, dead_id = healthy.id, dead.id
    tried = []

    def send(notification, channel, *_):
        tried.append(channel.id)
        if channel.id != healthy_id:
            raise TimeoutError("timed out")

    outbox.deliver_due(db, app.config, t0, send=send)
    assert tried == [dead_id, healthy_id]   # the dead channel's first alert, then the other shop's
    with db.reading() as s:
        waiting = s.scalar(select(func.count()).select_from(AlertNotification).where(
            AlertNotification.status == "pending", AlertNotification.channel_id != healthy_id))
    assert waiting == 250


class Crash(BaseException):
    """The process dies: not an Exception, so nothing in the sender catches it."""


def test_a_crash_between_sending_and_recording_repeats_once_and_loses_nothing(app, db, shopify_shop):
    nid = _notification(db, shopify_shop.id)
    sent = []

    def send_then_crash(notification, channel, event, shop, config):
        sent.append(notification.id)
        raise Crash()

    with pytest.raises(Crash):
        outbox.deliver_due(db, app.config, at(14), send=send_then_crash)
    assert sent == [nid] and _row(db, nid).status == "sending"
    record = lambda *args: sent.append(args[0].id)  # noqa: E731
    assert outbox.deliver_due(db, app.config, at(14, 5), send=record).sent == 0    # the lease holds: no second copy
    assert outbox.deliver_due(db, app.config, at(14, 10) + timedelta(seconds=5), send=record).sent == 1   # lease over: sent again, once
    assert outbox.deliver_due(db, app.config, at(15), send=record).sent == 0
    assert sent == [nid, nid] and _row(db, nid).status == "sent"


def test_a_crash_before_sending_still_sends_later(app, db, shopify_shop):
    nid = _notification(db, shopify_shop.id)
    assert outbox.claim(db, nid, at(14)) == 1          # claimed, then the process died before sending
    sent = []
    assert outbox.deliver_due(db, app.config, at(14, 10), send=lambda n, *_: sent.append(n.id)).sent == 1
    assert sent == [nid]


def test_two_concurrent_senders_never_send_twice(app, db, shopify_shop):
    ids = [_notification(db, shopify_shop.id, "webhook", f"https://merchant.example/hook/{i}") for i in range(6)]
    sent: Counter = Counter()
    lock = threading.Lock()
    start = threading.Barrier(2)

    def slow(notification, *_):
        with lock:
            sent[notification.id] += 1

    def runner():
        start.wait()
        outbox.deliver_due(db, app.config, at(14), send=slow)

    threads = [threading.Thread(target=runner) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sent == Counter({i: 1 for i in ids})


def _counters_of_a_drop(db, shop_id):
    """Hourly counters as the applier writes them: 40 orders 10-14h on four Wednesdays, 5 today."""
    with db.transaction() as s:
        cells = Counter()
        for week in range(0, 5):
            day = TODAY - timedelta(days=7 * week)
            for hour in (10, 11, 12, 13):
                n = 40 if week else (40 if hour == 10 else 0)
                cells[CounterKey("orders", day)] += n
                cells[CounterKey(hour_counter(hour, "orders"), day)] += n
        counters.add(s, shop_id, cells)


def test_two_concurrent_evaluations_record_one_alert(app, db, shopify_shop):
    _counters_of_a_drop(db, shopify_shop.id)
    with db.transaction() as s:
        add_channel(s, shopify_shop.id, {"kind": "webhook", "target": HOOK, "secret": SECRET})
        for rule in s.scalars(select(AlertRule)):
            rule.for_minutes = 0
    start = threading.Barrier(2)
    results = []

    def runner():
        start.wait()
        results.append(evaluate.evaluate_all(db, at(14)))

    threads = [threading.Thread(target=runner) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    fired = [e for r in results for e in r.events]
    assert len(fired) == len(set(fired)) >= 1
    with db.reading() as s:
        assert s.scalar(select(func.count()).select_from(AlertEvent)) == len(fired)
        assert s.scalar(select(func.count()).select_from(AlertNotification)) == len(fired)


def test_daily_and_weekly_digests_go_once_to_the_addresses_that_asked(app, db, send, shopify_shop, smtp_server):
    mailbox, smtp = smtp_server
    config = {**app.config, **smtp}
    monday = date(2026, 3, 30)
    for day, n in ((date(2026, 3, 29), 3), (date(2026, 3, 28), 1), (date(2026, 3, 24), 2)):
        for i in range(n):
            send_order(send, at(12, i, day), "google", price="50.00")
    with db.transaction() as s:
        add_channel(s, shopify_shop.id, {"kind": "email", "target": "dag@winkel.example", "digest_daily": True})
        add_channel(s, shopify_shop.id, {"kind": "email", "target": "week@shop.example", "language": "en",
                                         "digest_weekly": True})
        add_channel(s, shopify_shop.id, {"kind": "email", "target": "geen@winkel.example"})
    assert digest.schedule(db, at(6, 59, monday)) == 0               # before 07:00 shop-local
    result = run_once(db, config, at(7, 0, monday))
    assert (result["digests"], result["sent"]) == (2, 2)
    assert run_once(db, config, at(9, 0, monday))["digests"] == 0      # once per period and address
    (daily,) = mailbox.to("dag@winkel.example")
    assert daily["Subject"] == "Kompas dagoverzicht 29 mrt 2026 – demo.myshopify.com"
    text, html = parts(daily)
    assert "Netto-omzet" in text and "€\xa0150,00" in text and "€\xa050,00" in text and "+200,0%" in text
    assert "<table" in html and "€\xa0150,00" in html
    (weekly,) = mailbox.to("week@shop.example")
    assert weekly["Subject"] == "Kompas weekly digest 23 Mar – 29 Mar 2026 – demo.myshopify.com"
    with db.reading() as s:
        week = report.build(s, find_shop(s, SHOP), date(2026, 3, 23), date(2026, 3, 29))["kpis"]
    assert week["orders"] == 6 and "€300.00" in parts(weekly)[0]
    assert mailbox.to("geen@winkel.example") == []


def test_a_digest_shows_the_reports_figures_and_changes_as_the_panel_rounds_them(app, db, send, shopify_shop,
                                                                                 smtp_server):
    """The daily digest's checkout conversion is the report's (purchases / checkouts, rounded once):
    1 of 32 checkouts = 3.125 % → 3.13 %, where 100 − the rounded abandonment (96.88) gave 3.12.
    Its change is rounded half-up as the panel's tiles are: net sales 801.00 against 800.00 is
    +0.125 % → "+0,13%" (one decimal, half-even, gave "+0,1%")."""
    from plugin.demo import checkout_payload, order_payload

    mailbox, smtp = smtp_server
    config = {**app.config, **smtp}
    sunday, saturday = date(2026, 3, 29), date(2026, 3, 28)
    for i in range(32):
        assert send("shopify", "checkouts/create", checkout_payload(
            f"co-{i}", None, created=at(10, i, sunday), updated=at(10, i, sunday), zone=AMS)).status_code == 200
    for n, (day, price, token) in enumerate([(saturday, "800.00", None), (sunday, "801.00", "co-0")]):
        send("shopify", "orders/create", order_payload(
            7100 + n, created=at(12, 0, day), updated=at(12, 0, day), zone=AMS,
            lines=[("Jas", Decimal(price), 1)], checkout_token=token))
    with db.transaction() as s:
        add_channel(s, shopify_shop.id, {"kind": "email", "target": "dag@winkel.example", "digest_daily": True})
    run_once(db, config, at(7, 0, date(2026, 3, 30)))
    with db.reading() as s:
        day = report.build(s, find_shop(s, SHOP), sunday, sunday)["kpis"]
    assert day["checkout_conversion"] == "3.13"
    (daily,) = mailbox.to("dag@winkel.example")
    text, _ = parts(daily)
    conversion = next(line for line in text.splitlines() if line.startswith("Checkout-conversie"))
    assert "3,13%" in conversion, conversion
    net = next(line for line in text.splitlines() if line.startswith("Netto-omzet"))
    assert net.rstrip().endswith("+0,13%"), net


def test_a_digest_says_how_to_stop_it_and_its_link_switches_only_that_digest_off(app, db, send, shopify_shop,
                                                                                  smtp_server, client):
    """A digest ends with an unsubscribe link and carries it as List-Unsubscribe with one-click
    POST (RFC 8058). Opening the link only asks; the POST (the page's button, or a mail client's
    one click) switches that digest off for that address, and its alerts and other digest stay."""
    mailbox, smtp = smtp_server
    config = {**app.config, **smtp}
    monday = date(2026, 3, 30)
    send_order(send, at(12, 0, date(2026, 3, 29)), "google")
    with db.transaction() as s:
        channel = add_channel(s, shopify_shop.id, {"kind": "email", "target": "dag@winkel.example",
                                                   "digest_daily": True, "digest_weekly": True})
        channel_id, key = channel.id, channel.unsubscribe_key
    run_once(db, config, at(7, 0, monday))
    daily, weekly = sorted(mailbox.to("dag@winkel.example"), key=lambda m: "week" in m["Subject"])
    link = f"{config['PUBLIC_URL']}/panel/alerts/unsubscribe/{key}?period=daily"
    assert daily["List-Unsubscribe"] == f"<{link}>"
    assert daily["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text, html = parts(daily)
    assert ("Je krijgt het dagoverzicht van Kompas omdat het voor dag@winkel.example is aangezet. "
            f"Niet meer ontvangen: {link}") in text
    assert 'href="' + link.replace("&", "&amp;") + '"' in html and ">Afmelden</a>" in html
    assert weekly["List-Unsubscribe"] == f"<{link.replace('daily', 'weekly')}>"

    path = link.removeprefix(config["PUBLIC_URL"])
    page = client.get(path)
    assert page.status_code == 200 and "Wil je het dagoverzicht van" in page.get_data(as_text=True)
    with db.reading() as s:
        assert s.get(AlertChannel, channel_id).digest_daily   # a link scanner opening it changes nothing
    done = client.post(path, data={"List-Unsubscribe": "One-Click"})   # the mail client's one click
    assert done.status_code == 200 and "gaat niet meer naar dag@winkel.example" in done.get_data(as_text=True)
    with db.reading() as s:
        row = s.get(AlertChannel, channel_id)
        assert (row.digest_daily, row.digest_weekly, row.alerts, row.enabled) == (False, True, True, True)
    forged = key[:-1] + ("x" if key[-1] != "x" else "y")
    assert client.post(f"/panel/alerts/unsubscribe/{forged}?period=daily").status_code == 404
    assert client.get(f"/panel/alerts/unsubscribe/{key}?period=monthly").status_code == 404
    run_once(db, config, at(7, 0, date(2026, 3, 31)))   # Tuesday: no daily digest for this address any more
    assert len(mailbox.to("dag@winkel.example")) == 2
    # the channel goes to another address: the old address's link no longer reaches it
    with db.transaction() as s:
        update_channel(s.get(AlertChannel, channel_id), {"target": "nieuw@winkel.example", "digest_daily": True})
    assert client.post(path).status_code == 404
    with db.reading() as s:
        row = s.get(AlertChannel, channel_id)
        assert row.digest_daily and row.unsubscribe_key not in (None, key)


def test_a_test_notification_uses_real_figures(app, db, send, shopify_shop, smtp_server):
    mailbox, smtp = smtp_server
    send_order(send, at(9), "google")
    with db.transaction() as s:
        channel = add_channel(s, shopify_shop.id, {"kind": "email", "target": "eigenaar@winkel.example"})
        ids = evaluate.create_test_event(s, find_shop(s, SHOP), at(10), [channel.id])
    assert [outbox.deliver_one(db, i, {**app.config, **smtp}, at(10)) for i in ids] == ["sent"]
    (message,) = mailbox.messages
    assert message["Subject"] == "Testmelding van Kompas – demo.myshopify.com"
    text = parts(message)[0]
    assert "Vandaag tot nu: 1\r\n" in text and "normaal" not in text.split("\r\n")[2]   # no normal yet: no history


def test_shops_from_before_alerts_get_the_defaults_on_the_first_run(app, db, shopify_shop):
    with db.transaction() as s:
        for rule in s.scalars(select(AlertRule)):
            s.delete(rule)
    assert evaluate.ensure_default_rules(db) == 1
    assert evaluate.ensure_default_rules(db) == 0
    with db.reading() as s:
        assert s.scalar(select(func.count()).select_from(AlertRule)) == len(DEFAULT_RULES)


def test_hour_counters_have_their_own_table_and_verify_covers_them(db, send, shopify_shop):
    from plugin import ingest
    from plugin.models import HourCounter, SourceCounter

    send_order(send, at(10, 5), "google")
    with db.reading() as s:
        hours = {(r.day, r.name): r.value for r in s.scalars(select(HourCounter))}
        assert hours[(TODAY, "hour:10|orders")] == 1 and hours[(TODAY, "hour:10|gross_sales")] == 30_000_000
        assert not any(r.name.startswith("hour:") for r in s.scalars(select(SourceCounter)))
        assert ingest.differences(s, ingest.ShopContext.of(find_shop(s, SHOP))) == {}
    with db.transaction() as s:
        s.execute(HourCounter.__table__.update().values(value=5))
    with db.reading() as s:
        assert ingest.differences(s, ingest.ShopContext.of(find_shop(s, SHOP)))   # kompas verify sees it


def test_an_uninstalled_shop_hears_nothing_more(app, db, send, shopify_shop):
    """app/uninstalled stops the shop's alerts (issue 4); its figures stay."""
    _counters_of_a_drop(db, shopify_shop.id)
    with db.transaction() as s:
        add_channel(s, shopify_shop.id, {"kind": "webhook", "target": HOOK, "secret": SECRET})
        for rule in s.scalars(select(AlertRule)):
            rule.for_minutes = 0
    assert evaluate.evaluate_all(db, at(14)).events  # installed: the drop fires
    assert outbox.due(db, at(14))
    uninstalled = send("shopify", "app/uninstalled", {"id": 1, "name": "Demo"})
    assert uninstalled.status_code == 200
    assert outbox.due(db, at(14)) == []                          # nothing queued goes out
    assert evaluate.evaluate_all(db, at(15)).events == []         # and nothing new is evaluated


def test_a_window_of_four_weeks_is_judged_against_its_whole_four_weeks_before(app, db, shopify_shop):
    """A merchant's rule over the last 28 days needs the 28 days of each of the four weeks before
    them, 56 days back: read only as far as the default rules need (36 days), the older weeks were
    partly empty, their median too low, and a perfectly steady shop fired as "up 44 %"."""
    with db.transaction() as s:
        counts = Counter()
        for back in range(71):   # 10 orders at 12:00 every day for ten weeks, nothing ever changes
            day = TODAY - timedelta(days=back)
            counts[CounterKey("orders", day)] += 10
            counts[CounterKey(hour_counter(12, "orders"), day)] += 10
        counters.add(s, shopify_shop.id, counts)
        for rule in s.scalars(select(AlertRule)):
            rule.enabled = False
        rule = AlertRule(shop_id=shopify_shop.id, key="month_rise", enabled=True, status="ok", owed_resolved=False,
                         incident=0, kpi="orders", kind="rise", window="hours", window_hours=24 * 28,
                         change_pct=30, min_volume=10, for_minutes=0, repeat_minutes=0, direction="below")
        s.add(rule)
    outcome = evaluate.evaluate_all(db, at(13))
    with db.reading() as s:
        figures = s.scalar(select(AlertRule).where(AlertRule.key == "month_rise")).figures
    assert outcome.events == [] and (figures["value"], figures["normal"]) == (280, 280)


def test_a_channel_switched_off_gets_nothing_more_not_even_a_retry(app, db, shopify_shop):
    """Slack fails at 14:00 and the merchant switches that channel off: the alert waiting for its
    retry is cancelled (it was posted on for a day, 7 more attempts), and is no failure to show."""
    nid = _notification(db, shopify_shop.id)
    with responses.RequestsMock() as mocked:
        mocked.post(SLACK, status=500, body="invalid_token")
        outbox.deliver_due(db, app.config, at(14))
        with db.transaction() as s:
            update_channel(s.get(AlertChannel, _row(db, nid).channel_id), {"enabled": False})
        assert outbox.deliver_due(db, app.config, at(16)) == outbox.Sent(0, 0)
        assert len(mocked.calls) == 1
    row = _row(db, nid)
    assert (row.status, row.attempts) == ("cancelled", 1) and row.last_error == "cancelled: enabled switched off"


def test_an_address_that_unsubscribed_gets_no_digest_that_was_waiting(app, db, send, shopify_shop, smtp_server,
                                                                      client):
    """The mail server is down at 07:00, so the daily digest waits for its retry; meanwhile the
    address clicks the unsubscribe link of yesterday's digest. The waiting one is not sent (RFC 8058:
    one click and the mail stops); the weekly digest, still wanted, is."""
    mailbox, smtp = smtp_server
    send_order(send, at(12, 0, date(2026, 3, 29)), "google")
    with db.transaction() as s:
        channel = add_channel(s, shopify_shop.id, {"kind": "email", "target": "dag@winkel.example",
                                                   "digest_daily": True, "digest_weekly": True})
        key = channel.unsubscribe_key
    monday = date(2026, 3, 30)
    down = {**app.config, **smtp, "SMTP_PORT": free_port()}   # nothing listens there
    assert run_once(db, down, at(7, 0, monday))["failed"] == 2
    assert client.post(f"/panel/alerts/unsubscribe/{key}?period=daily").status_code == 200
    run_once(db, {**app.config, **smtp}, at(8, 0, monday))
    (weekly,) = mailbox.to("dag@winkel.example")
    assert "week" in weekly["Subject"]
    with db.reading() as s:
        kinds = dict(s.execute(select(AlertNotification.kind, AlertNotification.status)).all())
    assert kinds == {"digest_daily": "cancelled", "digest_weekly": "sent"}


def test_a_test_notification_does_not_wait_behind_an_alert_that_failed(app, db, shopify_shop):
    """The alert failed at a wrong Slack address; the merchant corrects it and sends a test: it goes
    out now (it used to wait for the failed alert's next retry and report nothing), and the alert,
    still in its channel's order, goes out at its retry to the corrected address."""
    nid = _notification(db, shopify_shop.id, target="https://hooks.slack.com/services/wrong")
    with responses.RequestsMock() as mocked:
        mocked.post("https://hooks.slack.com/services/wrong", status=404, body="no_service")
        mocked.post(SLACK, body="ok")
        outbox.deliver_due(db, app.config, at(14))
        with db.transaction() as s:
            channel_id = _row(db, nid).channel_id
            update_channel(s.get(AlertChannel, channel_id), {"target": SLACK})
            ids = evaluate.create_test_event(s, find_shop(s, SHOP), at(14, 0, TODAY) + timedelta(seconds=20),
                                             [channel_id])
        assert outbox.deliver_one(db, ids[0], app.config, at(14) + timedelta(seconds=20)) == "sent"
        assert _row(db, nid).status == "pending"
        outbox.deliver_due(db, app.config, at(14, 2))
        assert _row(db, nid).status == "sent"
        texts = [json.loads(c.request.body)["text"] for c in mocked.calls]
        assert [c.request.url for c in mocked.calls] == ["https://hooks.slack.com/services/wrong", SLACK, SLACK]
        assert "Test" in texts[1] and "Test" not in texts[2]


def test_a_rule_switched_off_while_firing_starts_afresh_when_switched_on(app, db, send, shopify_shop, smtp_server):
    """Switched off, a rule is no longer watched: its firing is closed without a word, and switched on
    again while the drop lasts it tells the merchant again, as a new incident (it stayed "firing"
    and went on with the old incident, telling nothing)."""
    from plugin.alerts.rules import update_rule

    mailbox, smtp = smtp_server
    config = {**app.config, **smtp}
    send_normal_weeks(send)
    send_dropping_day(send)
    only_rule(db, "orders_drop_today")
    with db.transaction() as s:
        add_channel(s, shopify_shop.id, {"kind": "email", "target": "eigenaar@winkel.example"})
    run_once(db, config, at(13, 30))
    run_once(db, config, at(14, 35))
    assert events(db) == [("orders_drop_today", "firing")]
    with db.transaction() as s:
        rule = s.scalar(select(AlertRule).where(AlertRule.key == "orders_drop_today"))
        update_rule(rule, {"enabled": False})
        assert (rule.status, rule.since, rule.owed_resolved, rule.incident) == ("ok", None, False, 1)
    with db.transaction() as s:
        update_rule(s.scalar(select(AlertRule).where(AlertRule.key == "orders_drop_today")), {"enabled": True})
    run_once(db, config, at(15, 0))
    run_once(db, config, at(16, 5))
    assert events(db) == [("orders_drop_today", "firing"), ("orders_drop_today", "firing")]
    with db.reading() as s:
        assert s.scalar(select(AlertRule.incident).where(AlertRule.key == "orders_drop_today")) == 2


def test_a_row_written_after_its_channel_was_switched_off_is_not_sent(app, db, shopify_shop):
    """On PostgreSQL an evaluation that read the channels before a switch-off committed can write
    its row after it, where the switch-off's cancelling did not see it: the sender checks again."""
    with db.transaction() as s:
        channel = add_channel(s, shopify_shop.id, {"kind": "slack", "target": SLACK})
        update_channel(channel, {"enabled": False})
        channel_id = channel.id
    nid = _notification(db, shopify_shop.id)   # a second channel, on, for contrast
    with db.transaction() as s:
        shop = find_shop(s, SHOP)
        figures = evaluate.detect.Figures(kpi="orders", value=3, normal=30, change=-90, p_value=1e-9, volume=30,
                                          weeks=4, breach=True, reason="breach", window_start=at(0))
        event = evaluate.record_event(s, shop, None, "firing", figures, at(14), {}, AMS, None,
                                      evaluate.detect.RuleSpec(kpi="orders", kind="drop"), incident=9)
        evaluate.enqueue(s, event, [s.get(AlertChannel, channel_id)], at(14))
        late = s.scalar(select(AlertNotification.id).where(AlertNotification.event_id == event.id))
    with responses.RequestsMock() as mocked:
        mocked.post(SLACK, body="ok")
        assert outbox.deliver_due(db, app.config, at(14, 1)) == outbox.Sent(1, 0)
        assert len(mocked.calls) == 1
    assert _row(db, nid).status == "sent"
    late_row = _row(db, late)
    assert (late_row.status, late_row.last_error) == ("cancelled", "cancelled: enabled switched off")


def test_a_rule_switched_off_has_its_waiting_alerts_cancelled(app, db, send, shopify_shop):
    """Slack fails on the firing of a rule the merchant then switches off: the alert is not posted
    at its retry (a "down" for a rule switched off, and never its recovery)."""
    from plugin.alerts.rules import update_rule

    send_normal_weeks(send)
    send_dropping_day(send)
    only_rule(db, "orders_drop_today")
    with db.transaction() as s:
        add_channel(s, shopify_shop.id, {"kind": "slack", "target": SLACK})
    with responses.RequestsMock() as mocked:
        mocked.post(SLACK, status=500, body="invalid_token")
        run_once(db, app.config, at(13, 30))
        run_once(db, app.config, at(14, 35))
        assert len(mocked.calls) == 1 and events(db) == [("orders_drop_today", "firing")]
        with db.transaction() as s:
            update_rule(s.scalar(select(AlertRule).where(AlertRule.key == "orders_drop_today")), {"enabled": False})
        run_once(db, app.config, at(16))
        assert len(mocked.calls) == 1
    with db.reading() as s:
        (row,) = s.scalars(select(AlertNotification))
        assert (row.status, row.last_error) == ("cancelled", "cancelled: rule switched off")


def test_a_rule_switched_off_in_the_panel_during_an_evaluation_waits_for_it(app, make_app, db, send, shopify_shop,
                                                                            monkeypatch):
    """The evaluator locks the rules it assesses; the panel locks the rule it changes. A rule the
    merchant switches off while an evaluation moves it from ok to firing waits for that evaluation
    and then resets what it wrote: it ends off, ok, its alert cancelled. Without the panel's lock it
    read the rule at ok, its reset wrote nothing back, and the rule stayed off and firing. The
    evaluation pauses after its lock until the panel's request is seen waiting in pg_locks (or has
    finished: the defect). PostgreSQL only: SQLite has one writer at a time."""
    import time

    from sqlalchemy import text

    from plugin.alerts import detect
    from plugin.alerts.rules import update_rule
    from tests.helpers import PANEL_API_KEY, panel_bearer

    if db.dialect != "postgresql":
        pytest.skip("PostgreSQL only: SQLite has one writer at a time")
    send_normal_weeks(send)
    send_dropping_day(send)
    only_rule(db, "orders_drop_today")
    with db.transaction() as s:
        update_rule(s.scalar(select(AlertRule).where(AlertRule.key == "orders_drop_today")), {"for_minutes": 0})
        add_channel(s, shopify_shop.id, {"kind": "slack", "target": SLACK})
        rule_id = s.scalar(select(AlertRule.id).where(AlertRule.key == "orders_drop_today"))
    panel = make_app(SHOPIFY_API_KEY=PANEL_API_KEY).test_client()
    answers, threads, done = [], [], threading.Event()
    real_step_rules = detect.step_rules

    def switch_off() -> None:
        answers.append(panel.post(f"/panel/alerts/rules/{rule_id}", headers=panel_bearer(), json={"enabled": False}))
        done.set()

    def step_rules_while_the_merchant_switches_it_off(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        threads.append(threading.Thread(target=switch_off))
        threads[0].start()
        end = time.monotonic() + 30
        while not done.is_set() and time.monotonic() < end:
            with db.reading() as session:
                if session.scalar(text("SELECT count(*) FROM pg_locks WHERE NOT granted")):
                    break
            time.sleep(0.01)
        return real_step_rules(*args, **kwargs)

    monkeypatch.setattr(detect, "step_rules", step_rules_while_the_merchant_switches_it_off)
    assert evaluate.evaluate_all(db, at(14, 35)).events == [(SHOP, "orders_drop_today", "firing")]
    threads[0].join(30)
    assert answers[0].status_code == 200, answers[0].get_json()
    with db.reading() as s:
        rule = s.get(AlertRule, rule_id)
        assert (rule.enabled, rule.status, rule.since) == (False, "ok", None)
        assert [n.status for n in s.scalars(select(AlertNotification))] == ["cancelled"]
