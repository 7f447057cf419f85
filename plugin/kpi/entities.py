"""Normalized entity states (section 1 of kpi-definitions.md) and the rule that picks the newer one.

Platform adapters turn payloads into these frozen dataclasses; everything after that is platform-free.
Instants are integers (microseconds since the epoch, UTC) so that they compare as instants and
serialize exactly; money is `Decimal` in the shop's currency.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Iterable, Union

ZERO = Decimal(0)
# Version of a Shopify orders/delete tombstone: "orders/delete is final" (section 8), so no later
# payload of that order can ever be newer.
FINAL_VERSION = 2**62


@dataclass(frozen=True)
class OrderState:
    """The latest known state of one order.

    `counted` says whether the order counts at all (not a test order, not an excluded status);
    `booked_at` is the instant whose shop-local day books it. `cancelled_at` is the instant whose day
    books the cancellation, and `cancel_reverses_sale` is true for an order cancelled without any
    captured payment, whose sale is then reversed on that day (section 2).
    """

    order_id: str
    version: int
    deleted: bool = False
    counted: bool = False
    booked_at: int | None = None
    gross_sales: Decimal = ZERO
    discounts: Decimal = ZERO
    shipping: Decimal = ZERO
    taxes: Decimal = ZERO
    items_sold: int = 0
    customer_key: str | None = None
    cart_token: str | None = None
    checkout_token: str | None = None
    cancelled_at: int | None = None
    cancel_reverses_sale: bool = False
    source: str | None = None
    # The ids of the refunds this state's payload lists (WooCommerce `refunds[]`); None when the
    # platform does not list them with the order (Shopify: refunds are never deleted there)
    refund_ids: tuple[str, ...] | None = None
    # False when the payload could not tell the cart and checkout tokens (a GraphQL read: Admin API
    # 2026-04 has no Order.cartToken): they are then taken from a state of the order that knows
    # them (an order's tokens never change), whichever arrives first (`reconcile`)
    links_known: bool = True
    # False when the payload no longer tells whose order it is: WooCommerce anonymized it (an
    # erasure request or the store's retention cleanup sets customer_id 0 and the address
    # "deleted@site.invalid"). The order stays its customer's (section 3 keys an order by who placed
    # it): the key is taken from a state of the order that knows it, whichever arrives first
    # (`reconcile`); an order Kompas never saw before its anonymization has no customer
    customer_known: bool = True
    # Set when the customer was taken from another state (`customer_known` was False, or this is a
    # deletion, which tells no customer): the version of the state that told it. Of all the states
    # of an order that tell a customer, the newest one's is kept, whatever arrives first.
    customer_version: int | None = None
    # WooCommerce: the order's status, and whether the merchant excluded that status (section 1:
    # "orders in statuses the merchant excluded never count"); set from the shop's setting when
    # the state is applied (plugin.ingest.apply_states), rewritten when the setting changes
    status: str | None = None
    excluded: bool = False
    # brought by a restore (WooCommerce order.restored): of one instant (times are whole seconds),
    # a restore undoes a trash, and a trash deletes any other state (`reconcile`)
    restored: bool = False
    # A deletion that carries no time of its own (a WooCommerce trash delivered without the Kompas
    # plugin: its body is only {"id"}, built when Action Scheduler runs it, possibly after the trash
    # was undone); `version` is then when Kompas received it, and the deletion is placed right after
    # the order's state that Kompas knows when it is applied (`placed_after`)
    timeless: bool = False
    # read from the store's REST API (a WooCommerce backfill or resync), not delivered: a timeless
    # deletion cannot be placed after it (`placed_after`)
    read_from_store: bool = False
    # when the delivery that brought this state arrived (epoch micros, Kompas's clock; WooCommerce
    # deliveries): a timeless deletion that arrived before it, replayed, changes nothing
    arrived_at: int | None = None
    # a timeless deletion placed right after the state of this version (`placed_after`): a guess,
    # which a read of the store showing the order there at that version or later overrules
    placed_after_version: int | None = None

    kind = "order"

    @property
    def key(self) -> str:
        return self.order_id

    @property
    def counts(self) -> bool:
        return self.counted and not self.excluded and not self.deleted and self.booked_at is not None

    def still_lists(self, refund: "RefundState") -> bool:
        """Whether `refund` still stands by this order state: a refund the merchant deleted is
        missing from the order payloads modified after its booking instant (the Kompas WordPress
        plugin modifies the order when a refund is deleted, which sends order.updated; WooCommerce
        itself leaves the order's time as it was). A payload no later than the refund's booking
        instant may predate it, so it says nothing."""
        return self.refund_ids is None or refund.refund_id in self.refund_ids or self.version <= refund.booked_at


def standing_refunds(order: OrderState, refunds: Iterable["RefundState"]) -> list["RefundState"]:
    """The refunds of `order` that count: those its latest known state has not dropped."""
    return [refund for refund in refunds if order.still_lists(refund)]


@dataclass(frozen=True)
class RefundState:
    """The latest known state of one refund, booked on its own day.

    `detail` is 0 for a WooCommerce refund known only by its total (from an order's `refunds[]`)
    and 1 once its details are known; details always replace a summary.
    """

    refund_id: str
    order_id: str
    version: int
    booked_at: int
    returns: Decimal = ZERO
    refunded_shipping: Decimal = ZERO
    refunded_taxes: Decimal = ZERO
    refunds: Decimal = ZERO
    items_returned: int = 0
    detail: int = 1
    # (product, returned goods value as a decimal string, items) per refunded line, for the
    # returns-by-product breakdown; empty when the platform did not say (a summary refund)
    products: tuple[tuple[str, str, int], ...] = ()

    kind = "refund"

    @property
    def key(self) -> str:
        return self.refund_id


@dataclass(frozen=True)
class ReturnState:
    """A return's status changes that the KPIs count: when it was requested and when approved."""

    return_id: str
    order_id: str | None
    requested_at: int | None = None
    approved_at: int | None = None

    kind = "return"

    @property
    def key(self) -> str:
        return self.return_id


@dataclass(frozen=True)
class CartState:
    """A cart (`kind` "cart") or checkout (`kind` "checkout"), counted once per token on its creation day."""

    cart_kind: str
    token: str
    version: int
    created_at: int

    @property
    def kind(self) -> str:  # type: ignore[override]
        return self.cart_kind

    @property
    def key(self) -> str:
        return self.token


State = Union[OrderState, RefundState, ReturnState, CartState]


def _min_opt(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


def placed_after(stored: State | None, incoming: State) -> State:
    """`incoming` as `reconcile` is to see it: a timeless order deletion (OrderState.timeless) gets
    the version right after the order's state Kompas knows, the same as a deletion it knows (a
    repeat is a duplicate), or keeps its arrival time when Kompas knows the order not yet.

    Deliveries of one WooCommerce store come in the order the store queued them, so the state
    known when the trash arrives is the one before the trash: a restore that undid the trash
    (order.restored, delivered after it, modified after that state) wins, as section 8 asks
    ("order.deleted is undone by order.restored"). Versioned by its arrival instead, the trash
    looked newer than the restore that undid it, and the order was lost. The price: for these
    deletions the result depends on the order of arrival (a restore delivered before the trash
    it undid loses to it), where every other state depends only on the set of states seen.

    After a state read from the store (`read_from_store`: a resync or backfill, outside the
    delivery queue) nothing tells whether the trash came before that read (undone before it, its
    delivery built late) or after it; it is placed at that state's version, so it changes nothing,
    and the next resync, which reads trashed orders with their own times, applies a trash that
    stands. Placed after the read, a trash undone before it deleted the order for good.

    A state that arrived after the trash (`arrived_at`; the trash's `version` is its arrival)
    is never followed by it: `kompas replay --all` applies every delivery again, in order, on top
    of the states, and the trash, placed after the restore that undid it, deleted the order."""
    if not (isinstance(incoming, OrderState) and incoming.deleted and incoming.timeless):
        return incoming
    if not isinstance(stored, OrderState):
        return dataclasses.replace(incoming, timeless=False)
    later = stored.arrived_at is not None and stored.arrived_at > incoming.version
    if stored.deleted or stored.read_from_store or later:
        return stored   # changes nothing
    return dataclasses.replace(incoming, version=stored.version + 1, timeless=False,
                               placed_after_version=stored.version)


def reconcile(stored: State | None, incoming: State) -> State | None:
    """The state to keep after `incoming` arrives, or None when nothing changes.

    The contract that makes counters independent of delivery order and duplicates: the result
    depends only on the set of states seen, never on their order.
    - Orders and carts: the higher `version` (updated_at) wins; an equal version is the same state,
      except, for WooCommerce orders (times in whole seconds), a restore over a trash over any other
      state of the same second (`_same_instant_rank`), and two payloads of one instant listing
      different refunds: the one listing fewer wins (a deleted refund's id never comes back), so
      that the result does not depend on which came first.
    - Refunds: (detail, version) decides; for two summaries the booking instant is the earliest
      seen (section 8: "the earliest date_modified_gmt among the order payloads that list it").
    - Returns: each status change keeps its earliest time; the state is the union of what was seen.
    - An order state that cannot tell its cart and checkout tokens (`links_known` False) takes them
      from the other state when that one knows them, whichever is newer or came first; the customer
      is that of the newest state that tells one (an anonymized WooCommerce order and a deletion
      tell none: `customer_known`, `customer_version`); one without a status takes that of the
      same instant's other state.
    """
    if stored is None:
        return incoming
    if isinstance(incoming, ReturnState) and isinstance(stored, ReturnState):
        merged = dataclasses.replace(
            stored,
            order_id=stored.order_id or incoming.order_id,
            requested_at=_min_opt(stored.requested_at, incoming.requested_at),
            approved_at=_min_opt(stored.approved_at, incoming.approved_at),
        )
        return None if merged == stored else merged
    if isinstance(incoming, RefundState) and isinstance(stored, RefundState):
        if incoming.detail == 0 and stored.detail == 0:
            newer = incoming if incoming.version > stored.version else stored
            merged = dataclasses.replace(newer, booked_at=min(stored.booked_at, incoming.booked_at))
            return None if merged == stored else merged
        if (incoming.detail, incoming.version) > (stored.detail, stored.version):
            return incoming
        return None
    orders = isinstance(incoming, OrderState) and isinstance(stored, OrderState)
    if orders:
        incoming = _with_links_of(incoming, stored)  # type: ignore[arg-type]
    if orders and _overrules_placed_deletion(stored, incoming):  # type: ignore[arg-type]
        return incoming
    if incoming.version > stored.version:  # type: ignore[union-attr]
        return incoming
    same_instant = orders and incoming.version == stored.version  # type: ignore[union-attr]
    outranks = _same_instant_rank(incoming) - _same_instant_rank(stored) if same_instant else 0  # type: ignore[arg-type]
    if outranks > 0:
        return incoming
    if (same_instant and not outranks
            and incoming.refund_ids is not None and stored.refund_ids is not None  # type: ignore[union-attr]
            and (len(incoming.refund_ids), incoming.refund_ids) < (len(stored.refund_ids), stored.refund_ids)):  # type: ignore[union-attr]
        return incoming
    if orders:   # the stored state stays, with the links only the incoming one knows
        merged = _with_links_of(stored, incoming)  # type: ignore[arg-type]
        if incoming.read_from_store and same_instant and not outranks and not merged.read_from_store:  # type: ignore[union-attr]
            # a read of the store saw this very state: a timeless trash after it waits for the
            # resync's trash listing (`placed_after`), which dates one that stands
            merged = dataclasses.replace(merged, read_from_store=True)
        return None if merged == stored else merged
    return None


def _same_instant_rank(state: OrderState) -> int:
    """Which of two order states of one instant stands: a restore (it undid the trash of its
    second), then a deletion (the trash of the second its order was placed or changed in), then
    any other state. WooCommerce's times are whole seconds, and without this the first to arrive
    would stand."""
    return 2 if state.restored and not state.deleted else 1 if state.deleted or state.status == "trash" else 0


def _overrules_placed_deletion(stored: OrderState, incoming: OrderState) -> bool:
    """A read of the store (a resync) that finds the order there, at the version a timeless trash
    was placed after or later, says that trash did not stand: a restore delivered before the
    trash it undid (the one arrival order `placed_after` gets wrong) is repaired by the next
    resync. A trash that stands shows up in the resync's trash listing instead. So does a restore
    that arrived after the trash, also when it is of the very second of the state the trash was
    placed after (WooCommerce's times are whole seconds: without this it looked older than the
    trash, placed a microsecond after that state)."""
    if not (stored.deleted and stored.placed_after_version is not None and not incoming.deleted
            and incoming.version >= stored.placed_after_version):
        return False
    restore_after_it = (incoming.restored and incoming.arrived_at is not None and stored.arrived_at is not None
                        and incoming.arrived_at > stored.arrived_at)
    return incoming.read_from_store or restore_after_it


def _with_links_of(state: OrderState, other: OrderState) -> OrderState:
    """`state`, with `other`'s cart and checkout tokens when only `other` knows them, its customer
    when only `other` knows it (an anonymized WooCommerce order), and, of the same instant, its
    status when only `other` has one (a state stored before statuses were kept)."""
    if not state.links_known and other.links_known:
        state = dataclasses.replace(state, cart_token=other.cart_token, checkout_token=other.checkout_token,
                                    links_known=True)
    mine, theirs = _customer_told(state), _customer_told(other)
    final = state.deleted and state.version == FINAL_VERSION   # a Shopify deletion: nothing comes back
    if theirs is not None and (mine is None or theirs > mine) and not final:
        state = dataclasses.replace(state, customer_key=other.customer_key, customer_known=True,
                                    customer_version=theirs[0])
    if state.status is None and other.status is not None and state.version == other.version:
        state = dataclasses.replace(state, status=other.status, excluded=other.excluded)
    return state


def _customer_told(state: OrderState) -> tuple[int, str] | None:
    """(version, key) of the newest state that told `state`'s customer: its own when its payload
    tells it, the one it took it from, or None when it knows none (an anonymized order, a
    deletion). The key orders two tellers of one instant, so that neither arrival order wins."""
    if not state.customer_known:
        return None
    if state.customer_version is not None:
        return state.customer_version, state.customer_key or ""
    return None if state.deleted else (state.version, state.customer_key or "")


# --- serialization for the entity tables -------------------------------------------------------

_TYPES: dict[str, type] = {"order": OrderState, "refund": RefundState, "return": ReturnState,
                           "cart": CartState, "checkout": CartState}
_DECIMAL_FIELDS = {"gross_sales", "discounts", "shipping", "taxes", "returns", "refunded_shipping",
                   "refunded_taxes", "refunds"}


def state_to_json(state: State) -> dict[str, Any]:
    """A JSON-ready dict of `state` (Decimals as strings), read back by `state_from_json`."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(state):
        value = getattr(state, f.name)
        out[f.name] = str(value) if isinstance(value, Decimal) else value
    return out


def state_from_json(kind: str, data: dict[str, Any]) -> State:
    cls = _TYPES[kind]
    kwargs = {k: (Decimal(v) if k in _DECIMAL_FIELDS else v) for k, v in data.items()}
    if "products" in kwargs:  # JSON gives lists; states compare as tuples
        kwargs["products"] = tuple(tuple(p) for p in kwargs["products"])
    if kwargs.get("refund_ids") is not None:
        kwargs["refund_ids"] = tuple(kwargs["refund_ids"])
    return cls(**kwargs)
