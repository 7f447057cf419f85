"""Orders as the GraphQL Admin API gives them, turned into the REST Order shape of webhooks.

Webhooks carry REST bodies; history comes from GraphQL. Rather than a second reading of orders
(which could disagree with the first), GraphQL nodes are rewritten into REST bodies and read by the
same adapter (webhooks.platforms.shopify), so a backfilled order and the same order by webhook
give the same entity state.

Field names: Admin GraphQL 2026-01/2026-04 (research notes and sources in the README's Shopify
section). Known gaps of 2026-04: `Order.cartToken`/`checkoutToken` arrive only in 2026-07, so a
backfilled order carries no cart link (history has no carts either); `landingPageUrl` and
`referrerUrl` are deprecated but still served, and give the traffic source.
"""
from __future__ import annotations

from typing import Any, Iterable

MONEY = "shopMoney { amount currencyCode }"

# Everything of an order except its refunds' details (a bulk query cannot fetch connections inside
# the `refunds` list: only their ids come inline).
ORDER_FIELDS = f"""
  id legacyResourceId name createdAt updatedAt processedAt cancelledAt test displayFinancialStatus
  email sourceName landingPageUrl referrerUrl
  customer {{ id }}
  totalDiscountsSet {{ {MONEY} }} totalShippingPriceSet {{ {MONEY} }} totalTaxSet {{ {MONEY} }}
  refunds {{ id }}
"""
LINE_ITEM_FIELDS = f"id title quantity isGiftCard originalUnitPriceSet {{ {MONEY} }}"
# Shopify refuses a query whose requested cost is above 1000; a connection costs about `first`
# times its node's objects (a node, a MoneyBag and its shopMoney are one each). So a refund with
# 25 line items (≈ 6 each), 5 shipping lines and 10 transactions costs ≈ 200: four per query.
# Longer lists are paged (REFUND_LINES_QUERY / ORDER_LINES_QUERY), never cut off.
PAGE_INFO = "pageInfo { hasNextPage endCursor }"
REFUND_LINE_FIELDS = f"""quantity restockType subtotalSet {{ {MONEY} }} totalTaxSet {{ {MONEY} }}
  lineItem {{ id title }}"""
REFUND_FIELDS = f"""
  id legacyResourceId createdAt processedAt
  refundLineItems(first: 25) {{ {PAGE_INFO} nodes {{ {REFUND_LINE_FIELDS} }} }}
  refundShippingLines(first: 5) {{ {PAGE_INFO} nodes {{ subtotalAmountSet {{ {MONEY} }} }} }}
  transactions(first: 10) {{ {PAGE_INFO} nodes {{ kind status processedAt amountSet {{ {MONEY} }} }} }}
"""

BULK_QUERY = f"""{{
  orders(sortKey: UPDATED_AT) {{ edges {{ node {{ {ORDER_FIELDS}
    lineItems {{ edges {{ node {{ {LINE_ITEM_FIELDS} }} }} }}
  }} }} }}
}}"""

REFUNDS_QUERY = f"""query ($ids: [ID!]!) {{ nodes(ids: $ids) {{ ... on Refund {{ {REFUND_FIELDS} }} }} }}"""
REFUND_LINES_QUERY = f"""query ($id: ID!, $after: String) {{ node(id: $id) {{ ... on Refund {{
  refundLineItems(first: 100, after: $after) {{ {PAGE_INFO} nodes {{ {REFUND_LINE_FIELDS} }} }} }} }} }}"""

# Reconciliation: which orders changed since a moment (cheap), then those orders one by one
# (≈ 250 for 80 line items), their refunds as above.
UPDATED_QUERY = """query ($cursor: String, $query: String!) {
  orders(first: 250, after: $cursor, query: $query, sortKey: UPDATED_AT) {
    pageInfo { hasNextPage endCursor }
    nodes { id legacyResourceId updatedAt }
  }
}"""
ORDER_QUERY = f"""query ($id: ID!) {{ node(id: $id) {{ ... on Order {{ {ORDER_FIELDS}
  lineItems(first: 80) {{ {PAGE_INFO} nodes {{ {LINE_ITEM_FIELDS} }} }}
}} }} }}"""
ORDER_LINES_QUERY = f"""query ($id: ID!, $after: String) {{ node(id: $id) {{ ... on Order {{
  lineItems(first: 100, after: $after) {{ {PAGE_INFO} nodes {{ {LINE_ITEM_FIELDS} }} }} }} }} }}"""


def legacy_id(gid: Any) -> str | None:
    """123 from "gid://shopify/Order/123" (REST bodies carry the number)."""
    if gid in (None, ""):
        return None
    return str(gid).rsplit("/", 1)[-1]


def _money(value: Any) -> dict[str, Any] | None:
    if not isinstance(value, dict) or not isinstance(value.get("shopMoney"), dict):
        return None
    money = value["shopMoney"]
    return {"shop_money": {"amount": money.get("amount"), "currency_code": money.get("currencyCode")}}


def _lower(value: Any) -> str | None:
    return value.lower() if isinstance(value, str) else None


def _nodes(connection: Any) -> list[dict]:
    if not isinstance(connection, dict):
        return []
    if isinstance(connection.get("nodes"), list):
        return connection["nodes"]
    return [e["node"] for e in connection.get("edges") or [] if isinstance(e, dict) and "node" in e]


def rest_refund(node: dict[str, Any], order_id: str) -> dict[str, Any]:
    """A GraphQL Refund (with its connections) as a REST refund."""
    return {
        "id": node.get("legacyResourceId") or legacy_id(node.get("id")),
        "admin_graphql_api_id": node.get("id"),
        "order_id": order_id,
        "created_at": node.get("createdAt"),
        "processed_at": node.get("processedAt"),
        "refund_line_items": [{
            "quantity": li.get("quantity"),
            "restock_type": _lower(li.get("restockType")),
            "subtotal_set": _money(li.get("subtotalSet")),
            "total_tax_set": _money(li.get("totalTaxSet")),
            "line_item": {"id": legacy_id((li.get("lineItem") or {}).get("id")),
                          "title": (li.get("lineItem") or {}).get("title")},
        } for li in _nodes(node.get("refundLineItems"))],
        "refund_shipping_lines": [{"subtotal_amount_set": _money(s.get("subtotalAmountSet"))}
                                  for s in _nodes(node.get("refundShippingLines"))],
        "transactions": [{"kind": _lower(t.get("kind")), "status": _lower(t.get("status")),
                          "processed_at": t.get("processedAt"), "amount_set": _money(t.get("amountSet"))}
                         for t in _nodes(node.get("transactions"))],
    }


def rest_order(node: dict[str, Any], line_items: Iterable[dict[str, Any]],
               refunds: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """A GraphQL Order, its line items and its refunds (GraphQL Refund nodes) as a REST Order body."""
    order_id = node.get("legacyResourceId") or legacy_id(node.get("id"))
    customer = node.get("customer") if isinstance(node.get("customer"), dict) else None
    return {
        "id": order_id,
        "admin_graphql_api_id": node.get("id"),
        "name": node.get("name"),
        "created_at": node.get("createdAt"),
        "updated_at": node.get("updatedAt"),
        "processed_at": node.get("processedAt"),
        "cancelled_at": node.get("cancelledAt"),
        "test": bool(node.get("test")),
        "financial_status": _lower(node.get("displayFinancialStatus")),
        "email": node.get("email"),
        "source_name": node.get("sourceName"),
        "landing_site": node.get("landingPageUrl"),
        "referring_site": node.get("referrerUrl"),
        "customer": {"id": legacy_id(customer.get("id"))} if customer and customer.get("id") else None,
        "total_discounts_set": _money(node.get("totalDiscountsSet")),
        "total_shipping_price_set": _money(node.get("totalShippingPriceSet")),
        "total_tax_set": _money(node.get("totalTaxSet")),
        "line_items": [{
            "id": legacy_id(li.get("id")), "title": li.get("title"), "quantity": li.get("quantity"),
            "gift_card": bool(li.get("isGiftCard")), "price_set": _money(li.get("originalUnitPriceSet")),
        } for li in line_items],
        "refunds": [rest_refund(r, order_id) for r in refunds],
    }


def refund_ids(node: dict[str, Any]) -> list[str]:
    return [r["id"] for r in node.get("refunds") or [] if isinstance(r, dict) and r.get("id")]
