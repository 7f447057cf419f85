"""`kompas alerts …` against the test database, mail through a real SMTP server; and the scheduler
that `kompas serve` starts, over a real server process."""
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta

from sqlalchemy import select

from plugin import counters
from plugin.alerts import cli as alerts_cli
from plugin.alerts.models import AlertChannel, AlertEvent, AlertRule
from plugin.alerts.rules import DEFAULT_RULES
from plugin.cli import main
from plugin.kpi.contributions import CounterKey, hour_counter
from tests.alerts_support import TODAY, add_hours_rules, free_port, parts, smtp_server_fixture  # noqa: F401
from tests.helpers import SHOP, SHOPIFY_SECRET


def run(runner, *args):
    return runner.invoke(main, list(args))


def smtp_env(monkeypatch, smtp):
    monkeypatch.setenv("KOMPAS_SMTP_HOST", smtp["SMTP_HOST"])
    monkeypatch.setenv("KOMPAS_SMTP_PORT", str(smtp["SMTP_PORT"]))
    monkeypatch.setenv("KOMPAS_SMTP_FROM", smtp["SMTP_FROM"])
    monkeypatch.setenv("KOMPAS_PUBLIC_URL", "https://kompas.example")


def drop_counters(db, shop_id):
    """40 orders an hour from 10:00 to 14:00 on four Wednesdays; today only the 10:00 hour."""
    with db.transaction() as s:
        cells = Counter()
        for week in range(5):
            day = TODAY - timedelta(days=7 * week)
            for hour in (10, 11, 12, 13):
                n = 0 if week == 0 and hour > 10 else 40
                cells[CounterKey("orders", day)] += n
                cells[CounterKey(hour_counter(hour, "orders"), day)] += n
        counters.add(s, shop_id, cells)


def test_channel_run_rules_and_test(runner, app, db, shopify_shop, smtp_server, monkeypatch):
    mailbox, smtp = smtp_server
    smtp_env(monkeypatch, smtp)
    drop_counters(db, shopify_shop.id)
    add_hours_rules(db, shopify_shop.id)   # rules of a merchant's own: the last 12 and 24 hours
    r = run(runner, "alerts", "channel", "--shop", SHOP, "--email", "eigenaar@winkel.example", "--daily")
    assert r.exit_code == 0 and r.output.startswith("channel "), r.output
    for bad in (["--email", "nope"], ["--email", "a@b.example", "--slack", "https://hooks.slack.com/x"], []):
        assert run(runner, "alerts", "channel", "--shop", SHOP, *bad).exit_code != 0
    assert run(runner, "alerts", "channel", "--shop", "nope.myshopify.com", "--email", "a@b.example").exit_code != 0

    r = run(runner, "alerts", "run", "--now", "2026-03-25T14:00:00+01:00")
    assert r.exit_code == 0, r.output
    assert f"evaluated {len(DEFAULT_RULES) + 2} rules of 1 shops" in r.output and "orders_drop_today firing" not in r.output
    # no order since 11:00: the last-24-hours rule and the silence rule fire at once (no "for")
    assert f"{SHOP}: orders_drop_day firing" in r.output and f"{SHOP}: no_orders firing" in r.output, r.output
    silence, day = [m for m in mailbox.messages if "onder normaal" in m["Subject"]]   # in rule order: own rules last
    assert day["Subject"] == "Bestellingen 75% onder normaal – demo.myshopify.com"
    assert "Laatste 24 uur: 40 (normaal 160, -75,0%)" in parts(day)[0]
    assert "Sinds de laatste bestelling (25 mrt 2026, 11:00:00): 0 (normaal 120, -100,0%)" in parts(silence)[0]
    sent = len(mailbox.messages)
    r = run(runner, "alerts", "run", "--now", "2026-03-25T15:00:00+01:00")
    # the today rule (60 minutes first) and the half-day one (30) fire now too, but the merchant
    # heard of this drop at 14:00: one incident is told once
    assert r.output.endswith("0 alert events, 0 digests scheduled, 0 notifications sent, 0 failed\n"), r.output
    assert len(mailbox.messages) == sent
    rules = run(runner, "alerts", "rules", "--shop", SHOP).output.splitlines()
    assert all(any(key in line and "firing" in line for line in rules)
               for key in ("orders_drop_today", "orders_drop_half_day", "orders_drop_day")), rules
    assert run(runner, "alerts", "run", "--now", "2026-03-25T15:00:00").exit_code != 0   # no zone

    r = run(runner, "alerts", "rules", "--shop", SHOP)
    assert r.exit_code == 0 and len(r.output.splitlines()) == len(DEFAULT_RULES) + 2
    assert any("orders_drop_today" in line and "firing" in line for line in r.output.splitlines())

    r = run(runner, "alerts", "test", "--shop", SHOP)
    assert r.exit_code == 0 and "email eigenaar@winkel.example: sent" in r.output, r.output
    assert mailbox.messages[-1]["Subject"] == "Testmelding van Kompas – demo.myshopify.com"


def test_a_webhook_channel_as_the_readme_adds_it_tells_its_signing_secret(runner, app, db, shopify_shop):
    """The README's two webhook commands work; a made-up secret is printed, as the receiver needs it
    to check X-Kompas-Hmac-Sha256; a secret given is used as it is, and a short one is refused."""
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    commands = re.findall(r"^kompas alerts channel .*--webhook .*$", readme, re.MULTILINE)
    assert len(commands) == 2
    made_up = run(runner, *commands[0].split("#")[0].split()[1:])
    chosen = "0123456789abcdef0123456789abcdef"
    given = run(runner, *commands[1].split("--secret")[0].split()[1:], "--secret", chosen)
    short = run(runner, "alerts", "channel", "--shop", SHOP, "--webhook", "https://example.com/x", "--secret", "S3CRET")
    assert made_up.exit_code == 0 and given.exit_code == 0, (made_up.output, given.output)
    assert short.exit_code != 0 and "16 to 200 characters" in short.output
    with db.reading() as s:
        secrets = [c.secret for c in s.scalars(select(AlertChannel).where(AlertChannel.kind == "webhook")
                                               .order_by(AlertChannel.id))]
    assert secrets[1] == chosen and f"signing secret: {secrets[0]}" in made_up.output
    assert "signing secret" not in given.output


def test_test_without_channels_or_smtp_fails_with_one_line(runner, app, shopify_shop, monkeypatch):
    r = run(runner, "alerts", "test", "--shop", SHOP)
    assert r.exit_code != 0 and "no channel" in r.output
    monkeypatch.delenv("KOMPAS_SMTP_HOST", raising=False)
    run(runner, "alerts", "channel", "--shop", SHOP, "--email", "a@b.example")
    r = run(runner, "alerts", "test", "--shop", SHOP)
    assert r.exit_code != 0 and "no SMTP server configured" in r.output


def test_the_scheduler_evaluates_at_once_and_then_every_interval(app, monkeypatch):
    calls = []
    monkeypatch.setattr(alerts_cli.evaluate, "run_once", lambda db, config, now=None: calls.append(clock[0]))
    clock = [0.0]

    def sleep(seconds):
        clock[0] += max(seconds, 0.5)

    app.config["ALERTS_INTERVAL"] = 60
    alerts_cli.run_scheduler(app, stop=lambda: clock[0] >= 200, clock=lambda: clock[0], sleep=sleep)
    assert calls == [0.0, 60.0, 120.0, 180.0]


def test_kompas_serve_evaluates_alerts_by_itself(database_url, shopify_shop, db, tmp_path):
    port = free_port()
    env = dict(os.environ, KOMPAS_DATABASE_URL=database_url, KOMPAS_SHOPIFY_API_SECRET=SHOPIFY_SECRET,
               KOMPAS_INSTANCE_PATH=str(tmp_path), KOMPAS_ALERTS_INTERVAL="1")
    server = subprocess.Popen([sys.executable, "-m", "plugin.cli", "serve", "--port", str(port), "--workers", "1"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            with db.reading() as s:
                evaluated = s.scalars(select(AlertRule.evaluated_at)).all()
            if evaluated and all(evaluated):
                break
            assert time.monotonic() < deadline, "kompas serve did not evaluate the alert rules"
            time.sleep(0.2)
        with db.reading() as s:
            assert s.scalars(select(AlertEvent)).all() == []   # nothing to alert about in an empty shop
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
