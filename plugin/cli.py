"""The `kompas` command (section 7 of kpi-definitions.md is its contract).

Every error is one line on stderr and a non-zero exit (click's ClickException).
"""
from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
from typing import Any

import click
from sqlalchemy.exc import ArgumentError, OperationalError

from . import applier, create_app, ingest, report
from .alerts import cli as alerts_cli
from .shops import ShopError, add_shop, find_shop
from .woocommerce.cli import woocommerce as woocommerce_commands


def _app():  # noqa: ANN202
    """The app for one command; its database connections are closed when the command ends."""
    try:
        app = create_app()
    except (ValueError, ArgumentError) as exc:   # ArgumentError: a database URL SQLAlchemy cannot read
        raise click.ClickException(f"cannot start Kompas: {exc}") from exc
    context = click.get_current_context(silent=True)
    if context is not None:
        context.call_on_close(app.extensions["kompas.close"])
    return app


def _db(app) -> Any:  # noqa: ANN001
    return app.extensions["kompas.db"]


class _Commands(click.Group):
    """Kompas's commands: a database that cannot be reached is a one-line error, not a traceback."""

    def invoke(self, ctx: click.Context) -> Any:  # noqa: ANN401
        try:
            return super().invoke(ctx)
        except OperationalError as exc:
            reason = " ".join(str(exc.orig or exc).split())   # psycopg's message runs over lines
            raise click.ClickException(f"cannot use the database: {reason}") from exc


@click.group(cls=_Commands)
def main() -> None:
    """Kompas: KPI counters for Shopify and WooCommerce shops."""


# --- database ----------------------------------------------------------------------------------

@main.group()
def db() -> None:
    """The database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Bring KOMPAS_DATABASE_URL's database to the newest schema."""
    from .migrate import upgrade

    app = _app()
    upgrade(app.config["DATABASE_URL"])
    click.echo("database is at the newest schema")


# --- shops -------------------------------------------------------------------------------------

@main.group()
def shop() -> None:
    """Shops."""


@shop.command("add")
@click.option("--platform", type=click.Choice(["shopify", "woocommerce"]), required=True)
@click.option("--domain", required=True, help="*.myshopify.com domain, or the WooCommerce site URL")
@click.option("--timezone", "timezone_name", required=True, help="IANA zone, e.g. Europe/Amsterdam")
@click.option("--currency", required=True, help="ISO 4217 code, e.g. EUR")
@click.option("--webhook-secret", default=None, help="WooCommerce: the secret of the shop's webhooks")
@click.option("--name", default=None)
def shop_add(platform: str, domain: str, timezone_name: str, currency: str, webhook_secret: str | None,
             name: str | None) -> None:
    """Register a shop without an install (self-hosting, tests, demos)."""
    app = _app()
    try:
        with _db(app).transaction() as session:
            created = add_shop(session, platform=platform, domain=domain, timezone_name=timezone_name,
                               currency=currency, webhook_secret=webhook_secret, name=name)
            key = created.domain
    except ShopError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"shop {key} added")


# --- deliveries --------------------------------------------------------------------------------

@main.command()
@click.option("--timeout", type=click.FloatRange(min=0), default=None, help="give up after this many seconds")
def drain(timeout: float | None) -> None:
    """Apply every received delivery; returns when none is left unapplied."""
    if timeout is not None and not math.isfinite(timeout):   # FloatRange lets nan and inf through
        raise click.BadParameter("a number of seconds", param_hint="--timeout")
    app = _app()
    try:
        done = applier.drain(_db(app), timeout=timeout)
    except TimeoutError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"applied {done} deliveries; none pending", err=True)


@main.command()
@click.option("--shop", "shop_key", default=None, help="only this shop's deliveries")
@click.option("--all", "everything", is_flag=True, help="every delivery, not only the failed ones")
@click.option("--delivery", "delivery_ids", type=click.IntRange(1, 2 ** 63 - 1), multiple=True, help="only these delivery ids")
def replay(shop_key: str | None, everything: bool, delivery_ids: tuple[int, ...]) -> None:
    """Apply stored deliveries again (failed ones by default); state versions make it safe."""
    app = _app()
    db_ = _db(app)
    shop_id = _shop_id(db_, shop_key) if shop_key else None
    statuses = (applier.FAILED, applier.PROCESSED, applier.IGNORED) if everything else (applier.FAILED,)
    queued = applier.requeue(db_, shop_id=shop_id, statuses=statuses, delivery_ids=list(delivery_ids))
    applier.drain(db_, shop_id=shop_id)
    click.echo(f"replayed {queued} deliveries")


@main.command()
def worker() -> None:
    """Apply deliveries as they arrive, and run backfills and scheduled jobs (started by `kompas serve`)."""
    from . import jobs

    app = _app()
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    # Acknowledging deliveries fast matters more than applying them at once: under a burst the
    # receivers get the CPU, and the worker catches up when it is quiet (`kompas drain` waits).
    os.nice(10)
    jobs.start(app, stop=lambda: bool(stopping))
    applier.run_worker(_db(app), stop=lambda: bool(stopping))


@main.command()
@click.option("--host", default="127.0.0.1")
@click.option("--port", default=8000, type=int)
@click.option("--workers", default=2, type=int, help="gunicorn worker processes")
@click.option("--threads", default=8, type=int, help="threads per worker process")
@click.option("--no-worker", is_flag=True, help="do not start the delivery applier nor the alert scheduler")
def serve(host: str, port: int, workers: int, threads: int, no_worker: bool) -> None:
    """Serve the app with gunicorn, plus a worker that applies deliveries and the alert scheduler."""
    _app()  # fail early on bad settings
    # --reuse-port: every worker listens on its own socket and the kernel spreads connections
    # across them. With one shared socket, whichever worker wakes first accepts a whole burst of
    # new connections (seen: 12 of 16 on one worker), and that worker's GIL becomes the ceiling.
    gunicorn = [sys.executable, "-m", "gunicorn", "--bind", f"{host}:{port}", "--workers", str(workers),
                "--threads", str(threads), "--worker-class", "gthread",
                "--reuse-port", "--graceful-timeout", "10", "plugin.wsgi:app"]
    children = [subprocess.Popen(gunicorn)]
    if not no_worker:
        children.append(subprocess.Popen([sys.executable, "-m", "plugin.cli", "worker"]))
        children.append(subprocess.Popen([sys.executable, "-m", "plugin.cli", "alerts", "scheduler"]))

    def stop(*_: Any) -> None:
        for child in children:
            if child.poll() is None:
                child.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        code = children[0].wait()
    finally:
        stop()
        for child in children:
            child.wait()
    sys.exit(code)


# --- figures -----------------------------------------------------------------------------------

def _shop(app, key: str):  # noqa: ANN001, ANN202
    """The shop named on the command line, or a one-line error."""
    with _db(app).reading() as session:
        try:
            return find_shop(session, key)
        except ShopError as exc:
            raise click.ClickException(str(exc)) from exc


def _shop_id(db_, key: str) -> int:  # noqa: ANN001
    with db_.reading() as session:
        try:
            return find_shop(session, key).id
        except ShopError as exc:
            raise click.ClickException(str(exc)) from exc


def _shop_context(session, key: str) -> ingest.ShopContext:  # noqa: ANN001
    try:
        return ingest.ShopContext.of(find_shop(session, key))
    except ShopError as exc:
        raise click.ClickException(str(exc)) from exc


@main.command("report")
@click.option("--shop", "shop_key", required=True)
@click.option("--from", "start", required=True, help="first shop-local date, YYYY-MM-DD")
@click.option("--to", "end", required=True, help="last shop-local date, YYYY-MM-DD (included)")
@click.option("--json", "as_json", is_flag=True, help="print the report object as JSON")
def report_cmd(shop_key: str, start: str, end: str, as_json: bool) -> None:
    """The KPI report of a shop for a date range (section 7)."""
    app = _app()
    try:
        first, last = report.parse_day(start, "--from"), report.parse_day(end, "--to")
        with _db(app).reading() as session:
            result = report.build(session, find_shop(session, shop_key), first, last)
    except (ShopError, report.ReportError) as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    click.echo(f"{result['shop']}  {result['from']} … {result['to']}  ({result['currency']})")
    for key, value in result["kpis"].items():
        click.echo(f"  {key:28} {'no data' if value is None else value}")


@main.command()
@click.option("--shop", "shop_key", required=True)
def verify(shop_key: str) -> None:
    """Recompute every counter from the stored states; exit 1 on any difference."""
    app = _app()
    with _db(app).reading() as session:
        diff = ingest.differences(session, _shop_context(session, shop_key))
    if diff:
        for key, (running, expected) in sorted(diff.items(), key=lambda kv: tuple(map(str, kv[0])))[:50]:
            where = f"{key[0]} {key[1]}" + (f" gap {key[2]}" if len(key) > 2 else "")
            click.echo(f"{where}: running {running}, recomputed {expected}", err=True)
        raise click.ClickException(f"{len(diff)} counter(s) differ from the stored states")
    click.echo("counters match the stored states")


@main.command()
@click.option("--shop", "shop_key", required=True)
def rebuild(shop_key: str) -> None:
    """Rewrite the shop's counters from its stored entity states."""
    app = _app()
    with _db(app).transaction() as session:
        ingest.rebuild(session, _shop_context(session, shop_key))
    click.echo("counters rebuilt from the stored states")


# --- Shopify -----------------------------------------------------------------------------------

@main.group()
def shopify() -> None:
    """The Shopify app's configuration."""


@shopify.command("toml")
@click.option("--client-id", envvar="KOMPAS_SHOPIFY_API_KEY", required=True, help="the app's client id")
@click.option("--url", "application_url", envvar="KOMPAS_PUBLIC_URL", required=True,
              help="Kompas' public https URL")
@click.option("--output", "-o", type=click.Path(dir_okay=False), default=None,
              help="write here (e.g. shopify.app.toml) instead of printing")
def shopify_toml(client_id: str, application_url: str, output: str | None) -> None:
    """Write shopify.app.toml from manifest.json (deploy it with `shopify app deploy`)."""
    from .shopify.install import manifest
    from .shopify.toml import render

    from urllib.parse import urlsplit

    if not application_url.startswith("https://") or not urlsplit(application_url).hostname:
        raise click.ClickException("the application URL must be https://HOST (Shopify requires https)")
    text = render(manifest(), client_id=client_id, application_url=application_url)
    if output:
        try:
            with open(output, "w") as out:
                out.write(text)
        except OSError as exc:
            raise click.ClickException(f"cannot write {output}: {exc.strerror}") from exc
        click.echo(f"wrote {output}")
    else:
        click.echo(text, nl=False)


# --- history -----------------------------------------------------------------------------------

@main.command()
@click.option("--shop", "shop_key", required=True)
@click.option("--restart", is_flag=True, help="start over instead of resuming an unfinished backfill")
@click.option("--status", "status_only", is_flag=True, help="only show the progress of the latest backfill")
def backfill(shop_key: str, restart: bool, status_only: bool) -> None:
    """Import the shop's order history (resumes an interrupted backfill), with a progress bar."""
    from . import backfill as backfills

    app = _app()
    shop = _shop(app, shop_key)
    with _db(app).reading() as session:
        latest = backfills.current(session, shop.id)
    if status_only:
        click.echo(_progress_line(latest) if latest else "no backfill yet")
        return
    from .jobs import source_for

    if shop.platform == "shopify":
        from .credentials import SHOPIFY_OFFLINE, credential_kinds

        with _db(app).reading() as session:
            if SHOPIFY_OFFLINE not in credential_kinds(session, shop.id):
                raise click.ClickException(f"{shop.domain} has no Shopify access token: the merchant must open "
                                           "Kompas in Shopify admin first (that installs it)")
    try:
        source_name, source = source_for(app, shop, backfills.BACKFILL)
    except Exception as exc:
        raise click.ClickException(f"cannot read {shop.domain}'s history: {exc}") from exc
    with click.progressbar(length=max(1, (latest.total or 0) if latest else 0), label="orders",
                           show_pos=True, show_eta=True, file=sys.stderr) as bar:
        def on_page(progress) -> None:  # noqa: ANN001
            bar.length = max(progress.total or progress.done, progress.done, 1)
            bar.update(progress.done - bar.pos)
        try:
            final = backfills.run(_db(app), shop.id, source_name, source,
                                  restart=restart, on_page=on_page)
        except Exception as exc:
            raise click.ClickException(f"backfill stopped: {exc} (run it again to resume)") from exc
    click.echo(_progress_line(final))


@main.command()
@click.option("--shop", "shop_key", required=True)
def reconcile(shop_key: str) -> None:
    """Fetch the orders changed since the last pass and apply what Kompas missed (the worker does
    this daily); prints the number of corrections."""
    from . import backfill as backfills
    from .jobs import source_for

    app = _app()
    shop = _shop(app, shop_key)
    if shop.platform != "shopify":
        raise click.ClickException("reconciliation is for Shopify shops (WooCommerce shops resync)")
    source_name, source = source_for(app, shop, backfills.RECONCILE)
    try:
        final = backfills.run(_db(app), shop.id, source_name, source, kind=backfills.RECONCILE)
    except Exception as exc:
        raise click.ClickException(f"reconciliation stopped: {exc}") from exc
    click.echo(f"checked {final.done} orders changed since the last pass; {final.changed} corrections")


def _progress_line(progress) -> str:  # noqa: ANN001
    line = f"{progress.status}: {progress.done}"
    if progress.total:
        line += f" of {progress.total} orders ({progress.percent:.1f} %)"
    else:
        line += " orders"
    if progress.eta_seconds and progress.status == "running":
        line += f", about {int(progress.eta_seconds // 60)} min {int(progress.eta_seconds % 60)} s left"
    if progress.note:
        line += f"; {progress.note}"
    if progress.error:
        line += f"; error: {progress.error}"
    return line


@main.command()
@click.option("--domain", default="demo.myshopify.com")
@click.option("--days", default=90, type=click.IntRange(1, 3660))
@click.option("--seed", default=7, type=int)
def demo(domain: str, days: int, seed: int) -> None:
    """Create a demo Shopify shop with DAYS days of orders, sent as signed webhooks."""
    from .demo import load_demo

    app = _app()
    if not app.config["SHOPIFY_API_SECRETS"]:
        raise click.ClickException("set KOMPAS_SHOPIFY_API_SECRET to sign the demo webhooks")
    sent = load_demo(app, domain=domain, days=days, seed=seed)
    applier.drain(_db(app))
    click.echo(f"demo shop {domain}: {sent} webhooks sent through the receiver")


main.add_command(woocommerce_commands)
main.add_command(alerts_cli.alerts)


if __name__ == "__main__":
    main()
