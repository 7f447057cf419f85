"""The alert tables, on the same metadata as every other table (plugin.models imports this module).

- alert_rules: a rule's settings, and the state of its alert (ok / pending / firing) with the
  figures of its last assessment, so the panel shows what is firing without recomputing it;
- alert_channels: where notifications go (an e-mail address with its language and digest choices,
  a Slack incoming webhook, a generic webhook with its HMAC secret);
- alert_events: what happened (firing, repeat, resolved, test) with the figures at that moment:
  the panel's alert feed;
- alert_notifications: the outbox, one row per (event or digest, channel, kind) with a unique key,
  written in the transaction that records the event, before anything is sent.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..models import Base, UtcDateTime


class AlertRule(Base):
    __tablename__ = "alert_rules"
    __table_args__ = (UniqueConstraint("shop_id", "key", name="uq_alert_rules_shop_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(40))
    kpi: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(16))               # drop | rise | threshold
    window: Mapped[str] = mapped_column(String(16))             # today | hours | silence | cusum
    window_hours: Mapped[int] = mapped_column(Integer, default=3)
    change_pct: Mapped[float] = mapped_column(Float, default=40.0)
    threshold: Mapped[str | None] = mapped_column(String(40))   # decimal text
    direction: Mapped[str] = mapped_column(String(8), default="below")
    min_volume: Mapped[float] = mapped_column(Float, default=10.0)
    reference_hours: Mapped[int] = mapped_column(Integer, default=0, server_default="0")   # share test, see detect
    for_minutes: Mapped[int] = mapped_column(Integer, default=60)
    repeat_minutes: Mapped[int] = mapped_column(Integer, default=1440)
    quiet_start: Mapped[str | None] = mapped_column(String(5))  # "22:00", shop-local
    quiet_end: Mapped[str | None] = mapped_column(String(5))
    muted_until: Mapped[datetime | None] = mapped_column(UtcDateTime())
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # the alert's state (plugin.alerts.detect.AlertState) and its last assessment
    status: Mapped[str] = mapped_column(String(16), default="ok")
    since: Mapped[datetime | None] = mapped_column(UtcDateTime())
    fired_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    notified_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    owed_resolved: Mapped[bool] = mapped_column(Boolean, default=False)
    incident: Mapped[int] = mapped_column(Integer, default=0)
    evaluated_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    figures: Mapped[dict | None] = mapped_column(JSON)


class AlertChannel(Base):
    __tablename__ = "alert_channels"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))               # email | slack | webhook
    target: Mapped[str] = mapped_column(String(500))            # address or URL
    secret: Mapped[str | None] = mapped_column(String(200))     # webhook: the HMAC key
    language: Mapped[str] = mapped_column(String(2), default="nl")
    alerts: Mapped[bool] = mapped_column(Boolean, default=True)
    digest_daily: Mapped[bool] = mapped_column(Boolean, default=False)
    digest_weekly: Mapped[bool] = mapped_column(Boolean, default=False)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # e-mail: the key of its digests' unsubscribe link (/panel/alerts/unsubscribe/<key>), random per channel
    unsubscribe_key: Mapped[str | None] = mapped_column(String(64), unique=True)


class AlertEvent(Base):
    __tablename__ = "alert_events"
    __table_args__ = (UniqueConstraint("rule_id", "incident", "kind", "at", name="uq_alert_events_once"),
                      Index("ix_alert_events_shop_at", "shop_id", "at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    rule_id: Mapped[int | None] = mapped_column(ForeignKey("alert_rules.id", ondelete="CASCADE"))
    rule_key: Mapped[str] = mapped_column(String(40))
    incident: Mapped[int] = mapped_column(Integer, default=0)
    kind: Mapped[str] = mapped_column(String(16))               # firing | repeat | resolved | test
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    kpi: Mapped[str] = mapped_column(String(40))
    value: Mapped[float | None] = mapped_column(Float)
    normal: Mapped[float | None] = mapped_column(Float)
    change: Mapped[float | None] = mapped_column(Float)
    details: Mapped[dict] = mapped_column(JSON)                 # figures, chart series, biggest contributor


class AlertNotification(Base):
    """The outbox. `dedupe_key` is unique: one row per (event, channel, kind), or per (digest
    period, channel). status: pending → sending (claimed, with a lease until next_attempt_at)
    → sent | pending again with a later next_attempt_at (retry) | failed (gave up); or cancelled
    before it was sent (its channel, or what it carries, switched off: outbox.cancel_unsent)."""

    __tablename__ = "alert_notifications"
    __table_args__ = (Index("ix_alert_notifications_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), index=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("alert_channels.id", ondelete="CASCADE"))
    event_id: Mapped[int | None] = mapped_column(ForeignKey("alert_events.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))   # firing | repeat | resolved | test | digest_daily | digest_weekly
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    payload: Mapped[dict | None] = mapped_column(JSON)          # digests: their figures
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
