"""Panel pieces that need no browser: formatting in both languages, ranges, session tokens."""
import time
from datetime import date, datetime, timezone

import jwt
import pytest

from plugin import i18n
from plugin.panel.auth import SessionTokenError, mint_session_token, verify_session_token
from plugin.panel.ranges import RangeError, buckets, comparison, resolve

KEY, SECRET = "client-id-123", "shpss_0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize("language, money, number, percent, day", [
    ("nl", "€\u00a01.234,56", "12.345", "6,67%", "1 mrt 2026"),
    ("en", "€1,234.56", "12,345", "6.67%", "Mar 1, 2026"),
])
def test_formatting_follows_the_language(language, money, number, percent, day):
    assert i18n.money("1234.56", "EUR", language) == money
    assert i18n.number(12345, language) == number
    assert i18n.percent("6.67", language) == percent
    assert i18n.day(date(2026, 3, 1), language) == day


@pytest.mark.parametrize("language, with_seconds, without", [
    ("nl", "10 nov 2026, 00:30:00", "10 nov 2026, 00:30"),
    ("en", "Nov 10, 2026, 12:30:00\u202fAM", "Nov 10, 2026, 12:30\u202fAM"),
])
def test_a_moment_is_told_in_the_shops_zone_with_or_without_seconds(language, with_seconds, without):
    at = datetime(2026, 11, 9, 23, 30, tzinfo=timezone.utc)   # the next day in Amsterdam
    assert i18n.moment(at, "Europe/Amsterdam", language) == with_seconds
    assert i18n.moment(at, "Europe/Amsterdam", language, seconds=False) == without


def test_money_in_currencies_without_cents_and_signed_changes():
    assert i18n.money("1200", "JPY", "nl") == "JP¥\u00a01.200"  # CLDR: a no-break space
    assert i18n.percent("12.5", "nl", signed=True) == "+12,5%"
    assert i18n.percent("-3.25", "en", signed=True) == "-3.25%"


def test_language_comes_from_the_admin_locale():
    assert i18n.language_of("nl-NL") == "nl" and i18n.language_of("nl_BE") == "nl"
    assert i18n.language_of("de") == "en" and i18n.language_of(None) == "en"


def test_every_text_exists_in_dutch_and_english():
    for key, texts in i18n.STRINGS.items():
        assert set(texts) == {"nl", "en"} and all(texts.values()), key


@pytest.mark.parametrize("preset, first, last", [
    ("today", "2026-03-15", "2026-03-15"), ("yesterday", "2026-03-14", "2026-03-14"),
    ("last7", "2026-03-09", "2026-03-15"), ("last30", "2026-02-14", "2026-03-15"),
    ("this_month", "2026-03-01", "2026-03-15"), ("last_month", "2026-02-01", "2026-02-28"),
    ("this_year", "2026-01-01", "2026-03-15"),
])
def test_presets_in_the_shops_calendar(preset, first, last):
    assert resolve(preset, date(2026, 3, 15)) == (date.fromisoformat(first), date.fromisoformat(last))


def test_custom_ranges_and_comparisons():
    first, last = resolve("custom", date(2026, 3, 15), "2024-02-01", "2024-02-29")
    assert comparison(first, last, "previous") == (date(2024, 1, 3), date(2024, 1, 31))
    assert comparison(first, last, "last_year") == (date(2023, 2, 1), date(2023, 2, 28))
    for bad in (("2026-03-05", "2026-03-01"), ("2026-13-01", "2026-03-01"), ("", "")):
        with pytest.raises(RangeError):
            resolve("custom", date(2026, 3, 15), *bad)
    with pytest.raises(RangeError):
        resolve("forever", date(2026, 3, 15))


def token(**overrides):
    now = int(time.time())
    claims = {"iss": "https://demo.myshopify.com/admin", "dest": "https://demo.myshopify.com", "aud": KEY,
              "sub": "42", "exp": now + 60, "nbf": now, "iat": now, "jti": "j", "sid": "s"}
    secret = overrides.pop("secret", SECRET)
    claims.update(overrides)
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, secret, algorithm="HS256")


def test_a_valid_token_names_the_shop_from_dest():
    session = verify_session_token(token(), api_key=KEY, secrets=[SECRET])
    assert (session.shop, session.user) == ("demo.myshopify.com", "42")
    assert verify_session_token(mint_session_token("demo.myshopify.com", api_key=KEY, secret=SECRET),
                                api_key=KEY, secrets=["shpss_previous_secret_of_enough_length_0", SECRET]).shop == "demo.myshopify.com"


def test_nbf_a_few_seconds_ahead_is_accepted():
    assert verify_session_token(token(nbf=int(time.time()) + 5), api_key=KEY, secrets=[SECRET])


@pytest.mark.parametrize("bad", [
    token(exp=int(time.time()) - 30),                       # expired
    token(aud="another-app"),                               # wrong audience
    token(secret="shpss_another_secret_of_enough_length_000"),  # wrong signature
    token(iss="https://other.myshopify.com/admin"),         # another shop
    token(dest="https://evil.example.com"),                 # not a shop
    token(nbf=int(time.time()) + 120),                      # not yet valid
    token(dest=None),                                       # claim missing
    "not-a-jwt", "",
])
def test_invalid_tokens_are_refused(bad):
    with pytest.raises(SessionTokenError):
        verify_session_token(bad, api_key=KEY, secrets=[SECRET])


def test_chart_periods_are_days_iso_weeks_or_months_clipped_to_the_range():
    first, last = date(2026, 2, 26), date(2026, 3, 10)   # Thursday to Tuesday
    assert len(buckets(first, last, "day")) == 13
    assert buckets(first, last, "week") == [(date(2026, 2, 26), date(2026, 3, 1)), (date(2026, 3, 2), date(2026, 3, 8)),
                                            (date(2026, 3, 9), date(2026, 3, 10))]
    assert buckets(first, last, "month") == [(date(2026, 2, 26), date(2026, 2, 28)), (date(2026, 3, 1), date(2026, 3, 10))]
    with pytest.raises(RangeError):
        buckets(first, last, "hour")
