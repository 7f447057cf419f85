"""Alert test helpers: a real SMTP server (aiosmtpd) whose received mail the tests read, and a shop
history sent as really signed webhooks."""
from __future__ import annotations

import email
import email.policy
import socket
import threading
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from plugin.demo import order_payload

AMS = ZoneInfo("Europe/Amsterdam")
TODAY = date(2026, 3, 25)   # a Wednesday; the four Wednesdays before it are the normal
HOURS = (10, 11, 12, 13)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Mailbox:
    """What the SMTP server received, as parsed messages."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes: list = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, ANN201, N802 (aiosmtpd's hook name)
        with self._lock:
            self.envelopes.append(envelope)
            self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[email.message.EmailMessage]:
        return [m for m in self.messages if m["To"] == address]


@pytest.fixture(name="smtp_server")
def smtp_server_fixture():
    """A real SMTP server on a free local port: (mailbox, config entries for the app)."""
    from aiosmtpd.controller import Controller

    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield mailbox, {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": port, "SMTP_FROM": "Kompas <alerts@kompas.example>",
                        "SMTP_STARTTLS": False, "PUBLIC_URL": "https://kompas.example"}
    finally:
        controller.stop()


def parts(message: email.message.EmailMessage) -> tuple[str, str]:
    """(plain text, HTML) of a received alert e-mail."""
    return message.get_body(("plain",)).get_content(), message.get_body(("html",)).get_content()


_ids = iter(range(1, 10**9))


def send_order(send, at: datetime, source: str, price: str = "30.00") -> None:  # noqa: ANN001
    n = next(_ids) + 1000
    response = send("shopify", "orders/create", order_payload(
        n, created=at, updated=at, zone=AMS, lines=[("Sjaal", Decimal(price), 1)],
        landing_site=f"/?utm_source={source}"))
    assert response.status_code == 200, response.get_data(as_text=True)


def send_normal_weeks(send, per_hour: int = 10) -> None:  # noqa: ANN001
    """Four Wednesdays before TODAY with `per_hour` orders an hour from 10:00 to 14:00, half of them
    from utm_source=google and half from utm_source=nieuwsbrief."""
    for week in range(1, 5):
        day = TODAY - timedelta(days=7 * week)
        for hour in HOURS:
            for i in range(per_hour):
                at = datetime(day.year, day.month, day.day, hour, 3 + 5 * i, tzinfo=AMS)
                send_order(send, at, "google" if i % 2 == 0 else "nieuwsbrief")


def send_dropping_day(send) -> None:  # noqa: ANN001
    """TODAY: a normal 10:00 hour, then only two orders (both from google) until 14:00."""
    for i in range(10):
        send_order(send, datetime(2026, 3, 25, 10, 3 + 5 * i, tzinfo=AMS), "google" if i % 2 == 0 else "nieuwsbrief")
    send_order(send, datetime(2026, 3, 25, 11, 30, tzinfo=AMS), "google")
    send_order(send, datetime(2026, 3, 25, 12, 30, tzinfo=AMS), "google")


def at(hour: int, minute: int = 0, day: date = TODAY) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=AMS)


def only_rule(db, key: str) -> None:  # noqa: ANN001
    """Switch off every alert rule but `key`: for a test of one rule's notifications (a drop like
    the one in send_dropping_day also fires the last-24-hours rule)."""
    from sqlalchemy import select

    from plugin.alerts.models import AlertRule

    with db.transaction() as s:
        for rule in s.scalars(select(AlertRule)):
            rule.enabled = rule.key == key


# the last-half-day and last-24-hours rules the defaults had before orders_drop_cusum: the tests of
# notifications that need a rule firing at once add them as a merchant's own rules
HOURS_RULES = {
    "orders_drop_half_day": dict(kpi="orders", kind="drop", window="hours", window_hours=12, change_pct=35,
                                 min_volume=8, for_minutes=30, repeat_minutes=24 * 60),
    "orders_drop_day": dict(kpi="orders", kind="drop", window="hours", window_hours=24, change_pct=35,
                            min_volume=12, for_minutes=0, repeat_minutes=24 * 60),
}


def add_hours_rules(db, shop_id: int, keys=tuple(HOURS_RULES)) -> None:  # noqa: ANN001
    """Add the HOURS_RULES `keys` to the shop's alert rules."""
    from plugin.alerts.detect import RuleSpec
    from plugin.alerts.models import AlertRule
    from plugin.alerts.rules import _apply_spec

    with db.transaction() as s:
        for key in keys:
            rule = AlertRule(shop_id=shop_id, key=key, enabled=True, status="ok", owed_resolved=False, incident=0)
            _apply_spec(rule, RuleSpec(**HOURS_RULES[key]))
            s.add(rule)
