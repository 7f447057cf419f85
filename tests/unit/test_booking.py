from datetime import date, datetime, timezone

import pytest

from plugin.kpi.booking import InstantError, local_day, parse_instant, shop_zone, to_epoch_micros


def day(text, zone, **kw):
    return local_day(parse_instant(text, **kw), shop_zone(zone))


def test_day_is_the_shop_local_date_of_the_instant():
    # 23:30 UTC is already the next day in Amsterdam (UTC+1 in winter)
    assert day("2026-01-15T23:30:00Z", "Europe/Amsterdam") == date(2026, 1, 16)
    assert day("2026-01-15T23:30:00Z", "America/New_York") == date(2026, 1, 15)


def test_kathmandu_books_on_a_quarter_hour_offset():
    assert day("2026-03-01T18:14:59Z", "Asia/Kathmandu") == date(2026, 3, 1)   # 23:59:59 local
    assert day("2026-03-01T18:15:00Z", "Asia/Kathmandu") == date(2026, 3, 2)   # 00:00 local


def test_daylight_saving_days_have_23_and_25_hours():
    zone = "Europe/Amsterdam"
    # 2026-03-29: clocks jump 02:00 → 03:00; the day runs from 23:00 UTC to 22:00 UTC
    assert day("2026-03-28T23:00:00Z", zone) == date(2026, 3, 29)
    assert day("2026-03-29T21:59:59Z", zone) == date(2026, 3, 29)
    assert day("2026-03-29T22:00:00Z", zone) == date(2026, 3, 30)
    # 2026-10-25: clocks go back 03:00 → 02:00; the day runs from 22:00 UTC to 23:00 UTC
    assert day("2026-10-24T22:00:00Z", zone) == date(2026, 10, 25)
    assert day("2026-10-25T22:59:59Z", zone) == date(2026, 10, 25)
    assert day("2026-10-25T23:00:00Z", zone) == date(2026, 10, 26)


def test_woocommerce_gmt_fields_are_utc_and_other_naive_times_are_refused():
    assert parse_instant("2026-01-01T00:30:00", naive_is_utc=True) == datetime(2026, 1, 1, 0, 30, tzinfo=timezone.utc)
    with pytest.raises(InstantError):
        parse_instant("2026-01-01T00:30:00")


@pytest.mark.parametrize("bad", [None, "", "yesterday", 1700000000])
def test_unreadable_timestamps_raise(bad):
    with pytest.raises(InstantError):
        parse_instant(bad)


def test_instants_compare_as_instants_not_strings():
    # the same instant written with two offsets; as strings the first would sort later
    a = to_epoch_micros(parse_instant("2026-05-01T10:00:00+02:00"))
    b = to_epoch_micros(parse_instant("2026-05-01T08:00:00Z"))
    assert a == b
    assert to_epoch_micros(parse_instant("2026-05-01T09:00:00-05:00")) > b


def test_unknown_zone_is_an_error():
    with pytest.raises(ValueError):
        shop_zone("Europe/Atlantis")


@pytest.mark.parametrize("value", ["9999-12-31T23:59:59", "0001-01-01T00:00:00", "1969-12-31T23:59:59"])
def test_instants_outside_what_kompas_books_are_refused(value):
    from plugin.kpi.booking import InstantError, parse_instant

    with pytest.raises(InstantError, match="out of range"):
        parse_instant(value, naive_is_utc=True)
