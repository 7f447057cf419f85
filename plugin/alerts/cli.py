"""`kompas alerts …`: evaluate once (for cron), the scheduler `kompas serve` starts, test
notifications, and a look at a shop's rules and channels."""
from __future__ import annotations

import signal
import time
from datetime import datetime, timezone

import click
from sqlalchemy import select

from ..kpi.booking import FIRST_DAY, LAST_DAY
from ..shops import ShopError, find_shop
from . import evaluate, outbox
from .models import AlertChannel, AlertRule


def _app():  # noqa: ANN202
    from ..cli import _app as app

    return app()


def _now(value: str | None) -> datetime:
    if not value:
        return datetime.now(timezone.utc)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise click.ClickException(f"--now must be an ISO instant with a zone, got {value!r}") from exc
    if parsed.tzinfo is None:
        raise click.ClickException("--now needs a zone (e.g. 2026-03-02T14:00:00+01:00)")
    if not FIRST_DAY <= parsed.date() <= LAST_DAY:
        raise click.ClickException(f"--now must lie between {FIRST_DAY} and {LAST_DAY}, got {value!r}")
    try:
        return parsed.astimezone(timezone.utc)
    except OverflowError as exc:
        raise click.ClickException(f"--now is out of range: {value!r}") from exc


def _shop(session, key: str):  # noqa: ANN001, ANN202
    try:
        return find_shop(session, key)
    except ShopError as exc:
        raise click.ClickException(str(exc)) from exc


@click.group("alerts")
def alerts() -> None:
    """Alerts when KPIs drop: rules, evaluation, notifications."""


@alerts.command("run")
@click.option("--now", "now_text", default=None, help="evaluate as of this instant (ISO, with zone); default: now")
def run(now_text: str | None) -> None:
    """Evaluate every shop once, schedule due digests and send due notifications (for cron)."""
    app = _app()
    result = evaluate.run_once(app.extensions["kompas.db"], app.config, _now(now_text))
    for shop, rule, kind in result["events"]:
        click.echo(f"{shop}: {rule} {kind}")
    click.echo(f"evaluated {result['rules']} rules of {result['shops']} shops; {len(result['events'])} alert events, "
               f"{result['digests']} digests scheduled, {result['sent']} notifications sent, {result['failed']} failed")
    if result["failed_shops"]:   # cron must see it; failed notifications are retried by the next run
        raise click.ClickException(f"{result['failed_shops']} shop(s) could not be evaluated: see the log")


@alerts.command("scheduler")
def scheduler() -> None:
    """Evaluate every KOMPAS_ALERTS_INTERVAL seconds until stopped (started by `kompas serve`)."""
    app = _app()
    stopping: list[bool] = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    run_scheduler(app, stop=lambda: bool(stopping))


def run_scheduler(app, stop, clock=time.monotonic, sleep=time.sleep) -> None:  # noqa: ANN001
    """Run evaluations on a schedule until `stop()`: the first at once, then every interval."""
    import logging

    interval = float(app.config.get("ALERTS_INTERVAL") or 300)
    next_run = clock()
    while not stop():
        if clock() >= next_run:
            try:
                evaluate.run_once(app.extensions["kompas.db"], app.config)
            except Exception:  # noqa: BLE001 - a database hiccup must not end the scheduler
                logging.getLogger(__name__).exception("alerts.scheduler_failed")
            next_run = clock() + interval
        sleep(min(1.0, max(0.0, next_run - clock())))


@alerts.command("test")
@click.option("--shop", "shop_key", required=True)
@click.option("--channel", "channel_ids", type=click.IntRange(1, 2 ** 63 - 1), multiple=True,
              help="only these channel ids (default: all)")
def test(shop_key: str, channel_ids: tuple[int, ...]) -> None:
    """Send a test notification, with today's real figures, to the shop's channels now."""
    app = _app()
    db = app.extensions["kompas.db"]
    now = datetime.now(timezone.utc)
    with db.transaction() as session:
        ids = evaluate.create_test_event(session, _shop(session, shop_key), now, list(channel_ids) or None)
    if not ids:
        raise click.ClickException("the shop has no channel to send to (add one with `kompas alerts channel`)")
    failed = 0
    for notification_id in ids:
        status = outbox.deliver_one(db, notification_id, app.config, now)
        with db.reading() as session:
            row = session.get(outbox.AlertNotification, notification_id)
            channel = session.get(AlertChannel, row.channel_id)
        if status is None:   # another sender (a scheduler run) took it first: it goes out all the same
            click.echo(f"{channel.kind} {channel.target}: being sent by another run")
            continue
        click.echo(f"{channel.kind} {channel.target}: {status}" + (f" ({row.last_error})" if row.last_error else ""))
        failed += status in (outbox.PENDING, outbox.FAILED)
    if failed:
        raise click.ClickException(f"{failed} channel(s) failed; they are retried by `kompas alerts run`")


@alerts.command("rules")
@click.option("--shop", "shop_key", required=True)
def rules(shop_key: str) -> None:
    """The shop's rules with the state of their alerts."""
    app = _app()
    with app.extensions["kompas.db"].reading() as session:
        shop = _shop(session, shop_key)
        for rule in session.scalars(select(AlertRule).where(AlertRule.shop_id == shop.id).order_by(AlertRule.id)):
            figures = rule.figures or {}
            window = f"{rule.window}" + (f" {rule.window_hours}h" if rule.window == "hours" else "")
            click.echo(f"{rule.id:4} {rule.key:26} {'on ' if rule.enabled else 'off'} {rule.kind:9} {rule.kpi:22} "
                       f"{window:10} {rule.status:8} value {figures.get('value')} normal {figures.get('normal')}")


@alerts.command("channel")
@click.option("--shop", "shop_key", required=True)
@click.option("--email", default=None, help="an e-mail address")
@click.option("--slack", default=None, help="a Slack incoming webhook URL")
@click.option("--webhook", default=None, help="a URL that receives alerts as signed JSON")
@click.option("--secret", default=None, help="the webhook's HMAC secret")
@click.option("--language", type=click.Choice(["nl", "en"]), default="nl")
@click.option("--daily/--no-daily", default=False, help="e-mail: the daily digest too")
@click.option("--weekly/--no-weekly", default=False, help="e-mail: the weekly digest too")
def channel(shop_key: str, email: str | None, slack: str | None, webhook: str | None, secret: str | None,
            language: str, daily: bool, weekly: bool) -> None:
    """Add a channel that alerts go to."""
    from .manage import ChannelInputError, add_channel

    given = [(k, v) for k, v in (("email", email), ("slack", slack), ("webhook", webhook)) if v]
    if len(given) != 1:
        raise click.ClickException("give exactly one of --email, --slack, --webhook")
    if secret is not None and given[0][0] != "webhook":
        raise click.ClickException("--secret is the signing secret of a --webhook channel only")
    app = _app()
    try:
        with app.extensions["kompas.db"].transaction() as session:
            created = add_channel(session, _shop(session, shop_key).id, {
                "kind": given[0][0], "target": given[0][1], "secret": secret, "language": language,
                "digest_daily": daily, "digest_weekly": weekly})
            channel_id, signing_secret = created.id, created.secret
    except ChannelInputError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"channel {channel_id} added")
    if given[0][0] == "webhook" and secret is None:   # made up: the receiver needs it to check signatures
        click.echo(f"signing secret: {signing_secret}  (X-Kompas-Hmac-Sha256 = base64(HMAC-SHA256(secret, body)))")
