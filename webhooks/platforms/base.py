"""What every inbound platform adapter provides, and the errors it raises."""
from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Mapping, Protocol
from urllib.parse import urlsplit

from plugin.kpi.entities import State


class MissingHeaderError(Exception):
    """A header the platform always sends is missing: the request is not a delivery we can read."""


class PayloadError(ValueError):
    """A verified delivery whose body does not have the shape its topic promises."""


@dataclass(frozen=True)
class DeliveryMeta:
    """What the headers of a delivery say."""

    topic: str
    shop_domain: str
    signature: str | None
    delivery_id: str | None
    dedupe_key: str | None  # unique per delivery where the platform guarantees it, else None
    triggered_at: str | None


@dataclass(frozen=True)
class Context:
    """What turning a payload into states needs beyond the payload itself."""

    received_at: datetime
    triggered_at: datetime | None
    customer_hash_key: str
    read_from_store: bool = False   # a backfill or resync reading the platform's API, not a delivery

    def customer_key(self, customer_id: Any, email: Any) -> str | None:
        """Section 3: the platform customer id; else an HMAC of the lower-cased e-mail with the
        shop's own key (no address is ever stored); else None (no customer)."""
        if customer_id not in (None, "", 0, "0"):
            return f"c:{customer_id}"
        if isinstance(email, str) and email.strip():
            digest = hmac.new(self.customer_hash_key.encode(), email.strip().lower().encode(),
                              hashlib.sha256).hexdigest()
            return f"e:{digest[:40]}"
        return None


TopicHandler = Callable[[Any, Context], list[State]]


def traffic_source(utm_source: Any, referrer: Any, platform_source: Any) -> str | None:
    """Section 4: the UTM source where present, else the referring site's domain, else the
    platform's own source. Lower-cased; None when nothing is known."""
    if isinstance(utm_source, str) and utm_source.strip():
        return utm_source.strip().lower()
    if isinstance(referrer, str) and referrer.strip():
        host = urlsplit(referrer.strip() if "//" in referrer else "//" + referrer.strip()).hostname
        if host:
            return host.removeprefix("www.")
    if platform_source not in (None, ""):
        return str(platform_source).strip().lower()
    return None


def quantity(value: Any) -> int:
    """A line quantity from a payload (ints, or digits in a string); PayloadError otherwise."""
    try:
        return int(value or 0)
    except (TypeError, ValueError) as exc:
        raise PayloadError(f"not a quantity: {value!r}") from exc


class PlatformAdapter(Protocol):
    name: str
    TOPICS: Mapping[str, TopicHandler]

    def read_headers(self, headers: Mapping[str, str]) -> DeliveryMeta: ...
    def shop_key(self, domain: str) -> str: ...
