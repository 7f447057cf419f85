"""`kompas woocommerce …`: the resync by hand (the worker of `kompas serve` runs it every 15
minutes), and disconnect."""
from __future__ import annotations

from datetime import datetime, timezone

import click

from ..models import Shop
from . import resync as resyncs
from .disconnect import disconnect as disconnect_shop


def _app():  # noqa: ANN202
    from ..cli import _app as make

    return make()


def _woo_shop(app, key: str) -> Shop:  # noqa: ANN001
    from ..cli import _shop

    shop = _shop(app, key)
    if shop.platform != "woocommerce":
        raise click.ClickException(f"{shop.domain} is not a WooCommerce shop")
    return shop


@click.group("woocommerce")
def woocommerce() -> None:
    """Connected WooCommerce stores."""


@woocommerce.command()
@click.option("--shop", "shop_key", default=None, help="only this shop (default: every connected store)")
def resync(shop_key: str | None) -> None:
    """Apply orders modified since the last pass, and repair the webhooks (exit 1 if a store failed)."""
    app = _app()
    if shop_key:
        shop_ids = [_woo_shop(app, shop_key).id]
        if shop_ids[0] not in resyncs.connected_shops(app):
            raise click.ClickException(f"{shop_key} is not connected (connect it from the Kompas plugin)")
    else:
        shop_ids = resyncs.connected_shops(app)
    failed = 0
    for shop_id in shop_ids:
        outcome = resyncs.resync_shop(app, shop_id, datetime.now(timezone.utc))
        click.echo(outcome.line())
        failed += outcome.error is not None
    if failed:
        raise click.ClickException(f"{failed} store(s) could not be resynced")


@woocommerce.command()
@click.option("--shop", "shop_key", default=None, help="only this shop (default: every connected store)")
def status(shop_key: str | None) -> None:
    """Each connected store: its webhooks, the history import, the last resync and what it repaired."""
    from .. import backfill as runs
    from ..models import WooCommerceSite

    app = _app()
    shop_ids = [_woo_shop(app, shop_key).id] if shop_key else resyncs.connected_shops(app)
    with app.extensions["kompas.db"].reading() as session:
        for shop_id in shop_ids:
            shop, site = session.get(Shop, shop_id), session.get(WooCommerceSite, shop_id)
            if site is None:
                click.echo(f"{shop.domain}: not connected")
                continue
            history = runs.current(session, shop_id)
            click.echo(f"{shop.domain}: connected {site.connected_at:%Y-%m-%d %H:%M} UTC, key {site.key_id}")
            click.echo("  webhooks: " + (", ".join(f"{t} #{i}" for t, i in sorted(site.webhooks.items())) or "none"))
            click.echo(f"  history: {history.status}, {history.done} orders" if history else "  history: none yet")
            checked = f"{site.checked_at:%Y-%m-%d %H:%M} UTC" if site.checked_at else "never"
            click.echo(f"  last resync: {checked}" + (f" (failed: {site.last_error})" if site.last_error else ""))
            click.echo(f"  repaired so far: {site.missed_orders_total} missed deliveries, "
                       f"{site.repaired_webhooks_total} webhooks")


@woocommerce.command()
@click.option("--shop", "shop_key", required=True)
def disconnect(shop_key: str) -> None:
    """Remove Kompas's webhooks and API key from the store and forget its keys (figures stay)."""
    app = _app()
    result = disconnect_shop(app, _woo_shop(app, shop_key), tell_plugin=True)
    click.echo(f"disconnected; {len(result.webhooks_deleted)} webhooks deleted"
               + ("" if result.plugin_told else "; the plugin could not be told"))
    for problem in result.problems:
        click.echo(f"  {problem}", err=True)
