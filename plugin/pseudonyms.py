"""Customers redacted by customers/redact: their pseudonyms, and what Kompas remembers of them.

A redacted customer's orders are linked to a pseudonym instead of their key (the Shopify id, or a
keyed hash of the e-mail address), in the entity states and in the stored delivery bodies, so
that every figure stays (plugin.shopify.lifecycle). An order payload triggered before the
redaction can still arrive after it (Shopify retries for hours) and name the customer again: it
must join the pseudonym, not become a second customer. So the shop keeps, per redacted key, a
keyed hash of it (`redaction_digest`: nothing leads back to the person), and the applier puts
every incoming order of such a key under its pseudonym and scrubs its stored body
(`Redactions`).
"""
from __future__ import annotations

import dataclasses
import hashlib
import hmac
from typing import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from .kpi.entities import OrderState, State
from .models import RedactedCustomer

PSEUDONYM_PREFIX = "redacted-"
# Top-level fields of order and checkout bodies that can name a person.
PERSONAL_FIELDS = ("email", "contact_email", "phone", "billing_address", "shipping_address", "client_details",
                   "browser_ip", "note", "note_attributes", "customer_locale")


class Pseudonyms:
    """One pseudonym per customer key, so that the orders of one key stay together and two keys
    (an id and a guest e-mail) stay two customers, as they were counted. Derived with the shop's
    secret key (HMAC), so a redaction delivered twice (Shopify retries) gives the same pseudonyms,
    and a key that already is a pseudonym is kept."""

    def __init__(self, secret: str) -> None:
        self.secret = secret.encode()

    def id_for(self, key: str | None) -> str:
        if key and key.startswith("c:" + PSEUDONYM_PREFIX):
            return key[2:]
        digest = hmac.new(self.secret, f"redacted:{key}".encode(), hashlib.sha256).hexdigest()
        return PSEUDONYM_PREFIX + digest[:16]

    def key_for(self, key: str | None) -> str:
        return "c:" + self.id_for(key)


def redaction_digest(secret: str, key: str) -> str:
    """What the shop keeps of a redacted customer key: its HMAC with the shop's secret key."""
    return hmac.new(secret.encode(), f"redacted-key:{key}".encode(), hashlib.sha256).hexdigest()


def scrub_body(body: dict, key: str | None, pseudonyms: Pseudonyms) -> dict:
    """An order or checkout body without its personal fields, its customer replaced by the
    pseudonym of `key` (the key the order is counted under)."""
    for field in PERSONAL_FIELDS:
        body.pop(field, None)
    body["customer"] = {"id": pseudonyms.id_for(key)} if key else None
    return body


def remember_redacted(session: Session, shop_id: int, secret: str, keys: Iterable[str]) -> None:
    """Keep the digests of redacted customer keys (idempotent; the caller holds the shop's lock)."""
    digests = {redaction_digest(secret, key) for key in keys if key}
    if not digests:
        return
    have = set(session.scalars(select(RedactedCustomer.digest).where(
        RedactedCustomer.shop_id == shop_id, RedactedCustomer.digest.in_(list(digests)))))
    session.add_all(RedactedCustomer(shop_id=shop_id, digest=digest) for digest in sorted(digests - have))
    session.flush()


def order_name(order_id: str) -> str:
    """How a redacted order is remembered (beside its customer's keys): an order the redaction
    named can come back under a key the request did not name (a guest order's earlier address)."""
    return f"o:{order_id}"


def names_of(state: State) -> set[str]:
    """What a state is looked up by among the redacted: an order's customer key and the order."""
    if isinstance(state, OrderState):
        return {order_name(state.order_id)} | ({state.customer_key} if state.customer_key else set())
    return set()


def has_redactions(session: Session, shop_id: int) -> bool:
    """Whether the shop ever had a customer redacted: most never do, and then applying skips the
    lookup (and its hashing) altogether."""
    return session.scalar(select(RedactedCustomer.shop_id).where(RedactedCustomer.shop_id == shop_id).limit(1)) \
        is not None


class Redactions:
    """The redacted among a batch's names (customer keys, `order_name`s), looked up once."""

    def __init__(self, session: Session, shop_id: int, secret: str, names: Iterable[str | None]) -> None:
        self.pseudonyms = Pseudonyms(secret)
        wanted = {redaction_digest(secret, name): name for name in set(names)
                  if name and not name.startswith("c:" + PSEUDONYM_PREFIX)}
        self.redacted: set[str] = set()
        if wanted:
            found = session.scalars(select(RedactedCustomer.digest).where(
                RedactedCustomer.shop_id == shop_id, RedactedCustomer.digest.in_(list(wanted))))
            self.redacted = {wanted[digest] for digest in found}

    def __bool__(self) -> bool:
        return bool(self.redacted)

    def covers(self, state: State) -> bool:
        return bool(names_of(state) & self.redacted)

    def apply(self, states: list[State]) -> list[State]:
        """`states` with every order of a redacted customer or a redacted order under its pseudonym."""
        return [dataclasses.replace(s, customer_key=self.pseudonyms.key_for(s.customer_key))
                if isinstance(s, OrderState) and s.customer_key and self.covers(s) else s for s in states]
