"""What the merchant enters in the panel: targets per KPI and marketing spend per month."""
from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from babel.numbers import NumberFormatError, parse_decimal

from .i18n import LANGUAGES
from .kpi.money import MoneyError, to_micros
from .refusals import Refusal
from .models import KpiTarget, MarketingSpend, Shop

_MONTH = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])", re.ASCII)   # fullmatch: "2026-01\n" is no month
MAX_NUMBER = Decimal(10) ** 12   # targets and spend: sane and within a BIGINT of micros
MAX_TEXT = 40                    # characters of a number as typed


class SettingError(Refusal):
    """A target or spend that cannot be stored as given (texts: plugin.i18n "setting.*")."""


def _number(value: object, what: str, language: str = "en") -> Decimal:
    """A number from 0 to MAX_NUMBER as the merchant typed it in the panel's `language`: in Dutch
    "1.000" is a thousand and "12,5" twelve and a half, in English "1,000" and "12.5"; what does
    not read so ("1500.00" in Dutch, "12,5" in English) is read with either mark as the decimal
    point. SettingError otherwise."""
    refused = SettingError(f"{what} must be a number from 0 to {MAX_NUMBER:,.0f}, got {value!r}", "setting.number",
                           value=str(value)[:MAX_TEXT])
    if isinstance(value, bool) or len(str(value)) > MAX_TEXT:
        raise refused
    try:
        number = parse_decimal(value.strip(), locale=LANGUAGES.get(language, "en_US"), strict=True)
    except (NumberFormatError, AttributeError, ValueError):   # AttributeError: a JSON number, not text
        try:
            number = Decimal(str(value).strip().replace(",", "."))
        except (InvalidOperation, ValueError) as exc:
            raise refused from exc
    if not number.is_finite() or not 0 <= number <= MAX_NUMBER:
        raise refused
    return number


def set_target(session: Session, shop_id: int, kpi: str, value: object | None, kind: str,
               language: str = "en") -> None:
    """Store (or, with None, remove) the target of `kpi`, a tile of `kind` (count, money, rate,
    ratio): a count's target is a whole number, the others are kept to two decimals."""
    text = None
    if value not in (None, ""):   # check before changing anything
        number = _number(value, "a target", language)
        if kind == "count":
            if number != number.to_integral_value():
                raise SettingError(f"a target of a count must be a whole number, got {value!r}", "setting.whole",
                                   value=str(value))
            text = str(int(number))
        else:
            text = f"{number.quantize(Decimal('0.01')):f}"
    session.execute(delete(KpiTarget).where(KpiTarget.shop_id == shop_id, KpiTarget.kpi == kpi))
    if text is not None:
        session.add(KpiTarget(shop_id=shop_id, kpi=kpi, value=text))


def targets(session: Session, shop_id: int) -> dict[str, str]:
    return dict(session.execute(select(KpiTarget.kpi, KpiTarget.value).where(KpiTarget.shop_id == shop_id)).all())


def set_spend(session: Session, shop_id: int, month: str, amount: object | None, language: str = "en") -> None:
    """Store (or, with None, remove) the marketing spend of `month` (YYYY-MM), in shop currency."""
    if not isinstance(month, str) or not _MONTH.fullmatch(month):
        raise SettingError(f"month must be YYYY-MM, got {month!r}", "setting.month", value=str(month)[:MAX_TEXT])
    micros = None
    if amount not in (None, ""):  # check before changing anything
        try:
            micros = to_micros(_number(amount, "an amount", language))
        except MoneyError as exc:
            raise SettingError(str(exc), "setting.number", value=str(amount)[:MAX_TEXT]) from exc
    session.execute(delete(MarketingSpend).where(MarketingSpend.shop_id == shop_id, MarketingSpend.month == month))
    if micros is not None:
        session.add(MarketingSpend(shop_id=shop_id, month=month, amount=micros))


def spend(session: Session, shop_id: int) -> dict[str, int]:
    """{"YYYY-MM": micros} of every month with spend entered."""
    return dict(session.execute(select(MarketingSpend.month, MarketingSpend.amount)
                                .where(MarketingSpend.shop_id == shop_id).order_by(MarketingSpend.month)).all())


RETENTION_DAYS = (1, 3650)   # W: a day to ten years


def set_retention_days(shop: Shop, days: object) -> None:
    """Set the shop's retention window W (section 3): a whole number of days, 1 to 3650."""
    text = str(days).strip() if isinstance(days, (int, str)) and not isinstance(days, bool) else ""
    if not re.fullmatch(r"[0-9]{1,4}", text, re.ASCII) or not RETENTION_DAYS[0] <= int(text) <= RETENTION_DAYS[1]:
        raise SettingError(f"retention window: a whole number of days from {RETENTION_DAYS[0]} to "
                           f"{RETENTION_DAYS[1]}, got {days!r}", "setting.retention", value=str(days)[:MAX_TEXT])
    shop.retention_days = int(text)


_STATUS = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}", re.ASCII)   # a WooCommerce status slug, without "wc-"
MAX_EXCLUDED = 30


def set_excluded_statuses(session: Session, shop: Shop, statuses: object) -> int:
    """Set the order statuses the merchant excluded (section 1: they never count), a list of status
    slugs ("wc-" prefixes dropped), and recount the shop's orders by it; returns how many orders
    changed. WooCommerce shops only."""
    from . import ingest

    if shop.platform != "woocommerce":
        raise SettingError("excluded statuses are a WooCommerce setting", "setting.statuses_platform")
    if not isinstance(statuses, list) or len(statuses) > MAX_EXCLUDED or not all(isinstance(x, str) for x in statuses):
        raise SettingError(f"statuses: a list of at most {MAX_EXCLUDED} status names", "setting.statuses",
                           value=str(statuses)[:MAX_TEXT])
    slugs = sorted({x.strip().lower().removeprefix("wc-") for x in statuses})
    bad = [x for x in slugs if not _STATUS.fullmatch(x)]
    if bad:
        raise SettingError(f"not a status name: {bad[0]!r}", "setting.statuses", value=bad[0][:MAX_TEXT])
    shop.excluded_statuses = ",".join(slugs)
    session.flush()
    return ingest.apply_exclusions(session, ingest.ShopContext.of(shop))
