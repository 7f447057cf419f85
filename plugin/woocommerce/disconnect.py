"""Disconnecting a store: Kompas's webhooks and API key go on both sides; the shop's history and
counters stay in Kompas (a later connect picks them up again).

From wp-admin (the plugin's Disconnect button, or uninstalling it): the plugin POSTs a signed
request to /woocommerce/disconnect, Kompas deletes its webhooks with the key while it still
works and forgets the key and secrets, and the plugin then deletes the key from WooCommerce.
From Kompas (`kompas woocommerce disconnect`): Kompas deletes its webhooks, asks the plugin to
forget the connection and delete the key (DELETE /wp-json/wc-kompas/v1/connection), and forgets.
Deliveries signed with the old secret are refused (401) from then on.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone

from ..credentials import WOOCOMMERCE_REST, drop_credentials
from ..models import Shop, WooCommerceSite
from .auth import PANEL_CREDENTIAL
from .backfill import NotConnectedError, client_for
from .client import WooError
from .connect import CONNECTION_LOCK, PLUGIN_ROUTE, our_webhooks, urls

log = logging.getLogger(__name__)


@dataclass
class Disconnected:
    webhooks_deleted: list[int] = field(default_factory=list)
    plugin_told: bool = False
    problems: list[str] = field(default_factory=list)


def disconnect(app, shop: Shop, *, tell_plugin: bool) -> Disconnected:  # noqa: ANN001
    """Remove the store's side (webhooks; with `tell_plugin`, the plugin's connection and the
    API key) as far as the store answers, then Kompas's side in any case."""
    # one at a time with a connect or a resync's webhook repair of this store: a pass that read the
    # old secret must not put webhooks back after they were deleted here (resync.resync_shop)
    with app.extensions["kompas.db"].exclusive(CONNECTION_LOCK, shop.id):
        result = Disconnected()
        try:
            client = client_for(app, shop, attempts=2)
        except NotConnectedError as exc:
            result.problems.append(str(exc))
            client = None
        if client is not None:
            try:
                for hook in our_webhooks(client, urls(app).events):
                    client.delete(f"wc/v3/webhooks/{hook['id']}", force="true")
                    result.webhooks_deleted.append(hook["id"])
            except WooError as exc:
                result.problems.append(f"webhooks: {exc}")
            if tell_plugin:
                try:
                    client.delete(PLUGIN_ROUTE)
                    result.plugin_told = True
                except WooError as exc:
                    result.problems.append(f"plugin: {exc}")
        with app.extensions["kompas.db"].transaction() as session:
            drop_credentials(session, shop.id, WOOCOMMERCE_REST)
            drop_credentials(session, shop.id, PANEL_CREDENTIAL)
            row = session.get(WooCommerceSite, shop.id)
            if row is not None:
                session.delete(row)
            row_shop = session.get(Shop, shop.id)
            row_shop.webhook_secret, row_shop.uninstalled_at = None, datetime.now(timezone.utc)
    log.info("woocommerce.disconnected", extra={"shop": shop.domain, "webhooks": result.webhooks_deleted,
                                               "problems": result.problems})
    return result
