"""What the merchant enters in the panel: targets per KPI and marketing spend per month."""
from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from .kpi.money import MoneyError, to_micros
from .models import KpiTarget, MarketingSpend

_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


class SettingError(ValueError):
    """A target or spend that cannot be stored as given."""


def _number(value: object, what: str) -> Decimal:
    try:
        number = Decimal(str(value).strip().replace(",", "."))
    except (InvalidOperation, ValueError) as exc:
        raise SettingError(f"{what} must be a number, got {value!r}") from exc
    if not number.is_finite() or number < 0:
        raise SettingError(f"{what} must be a number of zero or more, got {value!r}")
    return number


def set_target(session: Session, shop_id: int, kpi: str, value: object | None) -> None:
    """Store (or, with None, remove) the target of `kpi`."""
    text = None if value in (None, "") else f"{_number(value, 'a target'):f}"  # check before changing
    session.execute(delete(KpiTarget).where(KpiTarget.shop_id == shop_id, KpiTarget.kpi == kpi))
    if text is not None:
        session.add(KpiTarget(shop_id=shop_id, kpi=kpi, value=text))


def targets(session: Session, shop_id: int) -> dict[str, str]:
    return dict(session.execute(select(KpiTarget.kpi, KpiTarget.value).where(KpiTarget.shop_id == shop_id)).all())


def set_spend(session: Session, shop_id: int, month: str, amount: object | None) -> None:
    """Store (or, with None, remove) the marketing spend of `month` (YYYY-MM), in shop currency."""
    if not isinstance(month, str) or not _MONTH.match(month):
        raise SettingError(f"month must be YYYY-MM, got {month!r}")
    micros = None
    if amount not in (None, ""):  # check before changing anything
        try:
            micros = to_micros(_number(amount, "an amount"))
        except MoneyError as exc:
            raise SettingError(str(exc)) from exc
    session.execute(delete(MarketingSpend).where(MarketingSpend.shop_id == shop_id, MarketingSpend.month == month))
    if micros is not None:
        session.add(MarketingSpend(shop_id=shop_id, month=month, amount=micros))


def spend(session: Session, shop_id: int) -> dict[str, int]:
    """{"YYYY-MM": micros} of every month with spend entered."""
    return dict(session.execute(select(MarketingSpend.month, MarketingSpend.amount)
                                .where(MarketingSpend.shop_id == shop_id).order_by(MarketingSpend.month)).all())
