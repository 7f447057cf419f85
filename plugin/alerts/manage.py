"""Adding and changing channels (the panel and `kompas alerts channel` share these checks)."""
from __future__ import annotations

import re
import secrets
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.orm import Session, object_session

from ..outbound import private_address
from ..refusals import Refusal
from . import outbox
from .models import AlertChannel

KINDS = ("email", "slack", "webhook")
_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")


class ChannelInputError(Refusal):
    """A channel setting is not valid (texts: plugin.alerts.texts)."""

    default_key = "alerts.refused.channel"


def _check_target(kind: str, target: Any) -> str:  # noqa: ANN401
    if not isinstance(target, str):
        raise ChannelInputError("target must be text: an e-mail address or a URL")
    target = target.strip()
    if len(target) > 500:
        raise ChannelInputError("target is too long", "alerts.refused.too_long")
    if kind == "email":
        if not _EMAIL.match(target):
            raise ChannelInputError(f"not an e-mail address: {target!r}", "alerts.refused.email", value=target)
        return target
    try:
        parts = urlsplit(target)
    except ValueError as exc:   # "https://[hooks…": not even a URL
        raise ChannelInputError(f"not a URL (https://…): {target!r}", "alerts.refused.url", value=target) from exc
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ChannelInputError(f"not a URL (https://…): {target!r}", "alerts.refused.url", value=target)
    # Kompas posts there from its own network: never to that network's own services (sending checks
    # again, at every connection: plugin.outbound)
    problem = private_address(parts.hostname)
    if problem:
        raise ChannelInputError(f"{target!r}: {problem}", "alerts.refused.private", value=target)
    return target


def add_channel(session: Session, shop_id: int, data: dict[str, Any]) -> AlertChannel:
    kind = data.get("kind")
    if kind not in KINDS:
        raise ChannelInputError(f"kind must be one of {', '.join(KINDS)}")
    channel = AlertChannel(shop_id=shop_id, kind=kind, target=_check_target(kind, data.get("target", "")),
                           language="nl", alerts=True, digest_daily=False, digest_weekly=False, enabled=True,
                           created_at=datetime.now(timezone.utc),
                           unsubscribe_key=secrets.token_urlsafe(24) if kind == "email" else None)
    if kind == "webhook":
        secret = data.get("secret")
        if secret is not None and (not isinstance(secret, str) or not 16 <= len(secret) <= 200):
            raise ChannelInputError("secret must be text of 16 to 200 characters")
        channel.secret = secret or secrets.token_hex(24)
    update_channel(channel, {k: v for k, v in data.items() if k not in ("kind", "target", "secret")})
    session.add(channel)
    session.flush()
    return channel


def update_channel(channel: AlertChannel, data: dict[str, Any]) -> None:
    """Apply the panel's (API's) or an unsubscribe link's changes to a channel, checking each (raises
    ChannelInputError). Switching the channel, its alerts or a digest off also cancels what of it
    was waiting to be sent (a retry of a failing channel, a digest held up by a mail server that
    was down): switched off means nothing more goes there."""
    switched_off = [name for name, value in data.items()
                    if name in outbox.SWITCHES and value is False and getattr(channel, name) is not False]
    _apply(channel, data)
    session = object_session(channel)
    if session is not None and channel.id is not None:
        for name in switched_off:
            outbox.cancel_unsent(session, channel.id, outbox.SWITCHES[name], f"cancelled: {name} switched off")


def _apply(channel: AlertChannel, data: dict[str, Any]) -> None:
    for name, value in data.items():
        if name == "language":
            if value not in ("nl", "en"):
                raise ChannelInputError("language must be nl or en")
            channel.language = value
        elif name in ("alerts", "digest_daily", "digest_weekly", "enabled"):
            if not isinstance(value, bool):
                raise ChannelInputError(f"{name} must be true or false")
            if name.startswith("digest_") and value and channel.kind != "email":
                raise ChannelInputError("digests go to e-mail addresses only", "alerts.refused.digest_email")
            setattr(channel, name, value)
        elif name == "target":
            target = _check_target(channel.kind, value)
            if channel.kind == "email" and target != channel.target:   # the old address's links stop working
                channel.unsubscribe_key = secrets.token_urlsafe(24)
            channel.target = target
        else:
            raise ChannelInputError(f"unknown channel setting {name!r}")
