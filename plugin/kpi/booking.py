"""Instants and shop-local booking days.

A timestamp's day is the shop-local calendar date of the instant it names (section 8), so a day
can have 23 or 25 hours and a shop in Asia/Kathmandu (UTC+05:45) books 18:30 UTC on the next date.
"""
from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class InstantError(ValueError):
    """A timestamp in a payload could not be read."""


MIN_YEAR, MAX_YEAR = 1970, 2999


def parse_instant(value: object, *, naive_is_utc: bool = False) -> datetime:
    """Read an ISO-8601 timestamp as an aware datetime.

    Shopify sends offsets ("2021-12-31T19:00:00-05:00", "...000Z"). WooCommerce's `*_gmt` fields
    carry no offset and are UTC: pass `naive_is_utc=True` for them. Any other naive value is an error,
    because guessing a zone would book orders on the wrong day.
    """
    if not isinstance(value, str) or not value:
        raise InstantError(f"not a timestamp: {value!r}")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InstantError(f"not a timestamp: {value!r}") from exc
    if parsed.tzinfo is None:
        if not naive_is_utc:
            raise InstantError(f"timestamp without a zone: {value!r}")
        parsed = parsed.replace(tzinfo=timezone.utc)
    if not MIN_YEAR <= parsed.year <= MAX_YEAR:  # also keeps shop-local days inside what dates can hold
        raise InstantError(f"timestamp out of range ({MIN_YEAR}–{MAX_YEAR}): {value!r}")
    return parsed


def to_epoch_micros(instant: datetime) -> int:
    """Microseconds since 1970-01-01 UTC: the comparable form of an instant (never compare strings)."""
    delta = instant - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_epoch_micros(micros: int) -> datetime:
    return EPOCH + timedelta(microseconds=micros)


FIRST_DAY, LAST_DAY = date(1990, 1, 1), date(2999, 12, 31)   # the days a report or range may ask for
_ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)


def parse_iso_day(value: object) -> date:
    """A day written YYYY-MM-DD between FIRST_DAY and LAST_DAY; ValueError otherwise (Python's own
    parser also takes "20260301" and week dates, which the contract does not, and days at the
    ends of the calendar that the year-earlier and previous-period comparisons cannot step from)."""
    if not isinstance(value, str) or not _ISO_DAY.fullmatch(value):
        raise ValueError("not a date as YYYY-MM-DD")
    day = date.fromisoformat(value)
    if not FIRST_DAY <= day <= LAST_DAY:
        raise ValueError(f"not a day from {FIRST_DAY} to {LAST_DAY}")
    return day


def shop_zone(name: str) -> ZoneInfo:
    """The shop's IANA zone; raises ValueError for an unknown name."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:   # OSError: "Europe" is a directory
        raise ValueError(f"unknown time zone: {name!r}") from exc


def local_day(instant: datetime, zone: ZoneInfo) -> date:
    """The shop-local calendar date of `instant`."""
    return instant.astimezone(zone).date()
