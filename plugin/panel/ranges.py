"""Date ranges of the panel, in the shop's own calendar (pure: `today` is an argument)."""
from __future__ import annotations

from datetime import date, timedelta

from ..kpi.booking import FIRST_DAY, LAST_DAY, parse_iso_day

GRAINS = ("day", "week", "month")
PRESETS = ("today", "yesterday", "last7", "last30", "last90", "this_month", "last_month", "this_year", "custom")
COMPARISONS = ("previous", "last_year")


class RangeError(ValueError):
    """A range that cannot be shown (unknown preset, bad or reversed dates)."""


def resolve(preset: str, today: date, start: str | None = None, end: str | None = None) -> tuple[date, date]:
    """(first, last) day of a preset, both included; "custom" takes `start` and `end` (YYYY-MM-DD)."""
    if preset == "today":
        return today, today
    if preset == "yesterday":
        return today - timedelta(days=1), today - timedelta(days=1)
    if preset in ("last7", "last30", "last90"):
        days = int(preset[4:])
        return today - timedelta(days=days - 1), today
    if preset == "this_month":
        return today.replace(day=1), today
    if preset == "last_month":
        last = today.replace(day=1) - timedelta(days=1)
        return last.replace(day=1), last
    if preset == "this_year":
        return today.replace(month=1, day=1), today
    if preset == "custom":
        try:
            first, last = parse_iso_day(start), parse_iso_day(end)
        except ValueError as exc:
            raise RangeError(f"from and to must be dates as YYYY-MM-DD from {FIRST_DAY} to {LAST_DAY}") from exc
        if last < first:
            raise RangeError("to is before from")
        return first, last
    raise RangeError(f"unknown range {preset!r}")


def _year_earlier(day: date) -> date:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year - 1, day=28)


def comparison(first: date, last: date, mode: str) -> tuple[date, date]:
    """The period to compare with: the equally long one just before, or the same days a year earlier."""
    if mode == "previous":
        length = (last - first).days + 1
        return first - timedelta(days=length), first - timedelta(days=1)
    if mode == "last_year":
        return _year_earlier(first), _year_earlier(last)
    raise RangeError(f"unknown comparison {mode!r}")


def compared_buckets(spans: list[tuple[date, date]], first: date, cfirst: date, mode: str) -> list[tuple[date, date]]:
    """The comparison's periods, one under each of the chart's `spans` of the range from `first`
    compared with the one from `cfirst`: each moved back as the whole range is (by its length, or
    a year), so that point i of the comparison is drawn under period i, however the comparison's
    own calendar weeks or months fall."""
    if mode == "last_year":
        return [(_year_earlier(a), _year_earlier(b)) for a, b in spans]
    offset = first - cfirst
    return [(a - offset, b - offset) for a, b in spans]


def buckets(first: date, last: date, grain: str) -> list[tuple[date, date]]:
    """The periods a chart of first..last shows: days, ISO weeks (Monday to Sunday) or calendar
    months, the first and last clipped to the range."""
    if grain not in GRAINS:
        raise RangeError(f"unknown grain {grain!r}")
    out = []
    start = first
    while start <= last:
        if grain == "day":
            end = start
        elif grain == "week":
            end = start + timedelta(days=6 - start.weekday())
        else:
            end = (start.replace(day=1) + timedelta(days=32)).replace(day=1) - timedelta(days=1)
        end = min(end, last)
        out.append((start, end))
        start = end + timedelta(days=1)
    return out
